"""Helpers for the picture tests: PNGs read back as pixels, small models with known fields."""
from __future__ import annotations

import numpy as np
from PIL import Image
from torch import nn

from convscope.show.draw import TITLE_PX
from tests.conftest import assert_same_model, snapshot


def read_png(path) -> np.ndarray:
    """[H, W, 4] uint8 RGBA pixels of a PNG file."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def block_centre(png: np.ndarray, row: int, column: int, scale: int, title: bool = True,
                 left: int = 0) -> np.ndarray:
    """RGB of the PNG pixel at the centre of picture pixel (row, column) (see draw.py)."""
    top = TITLE_PX if title else 0
    return png[top + row * scale + scale // 2, left + column * scale + scale // 2, :3]


def rgb255(colour) -> np.ndarray:
    """A float RGB(A) in [0, 1] as the uint8 RGB a PNG stores."""
    return np.round(np.asarray(colour[:3]) * 255).astype(np.uint8)


def conv_stack(*layers, positive: bool = False, relu: bool = False, channels: int = 1
               ) -> nn.Sequential:
    """Convs (kernel, stride, padding) in a row, 1 input channel and ``channels`` after,
    optionally with positive weights and with ReLUs.

    Positive weights, no bias and no ReLU make the stack linear with no cancellation: a unit's
    input gradient is nonzero exactly on its receptive field.
    """
    modules: list[nn.Module] = []
    for index, (kernel, stride, padding) in enumerate(layers):
        conv = nn.Conv2d(1 if index == 0 else channels, channels, kernel, stride=stride,
                         padding=padding, bias=not positive)
        if positive:
            nn.init.constant_(conv.weight, 1.0 / conv.weight[0].numel())
        modules += [conv, nn.ReLU()] if relu else [conv]
    return nn.Sequential(*modules)


def assert_untouched_by(model: nn.Module, compute) -> None:
    """``compute()`` leaves every weight, buffer, train/eval flag and requires_grad as it was,
    and accumulates no gradient."""
    before = snapshot(model)
    compute()
    assert_same_model(model, before)
    assert all(p.grad is None for p in model.parameters())
