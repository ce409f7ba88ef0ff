"""The two MNIST CNNs of chapter 13, "Convolutional Neural Networks", of Howard & Gugger, "Deep
Learning for Coders with fastai and PyTorch", O'Reilly 2020. Default input 1x28x28, 3-vs-7 digits.

``broken_cnn`` is the chapter's first attempt: padded stride-1 convs keep the 28x28 size, so it
returns a 28x28 map of activations instead of one logit per image. ``simple_cnn`` fixes that with
stride-2 convs that halve the map until it is 1x1. Both are plain ``nn.Sequential`` models with
PyTorch's default initialisation, as in the book.
"""
from __future__ import annotations

import torch.nn as nn

from . import register_model

# Output channels of simple_cnn's stride-2 convs before the final class conv;
# 28 -> 14 -> 7 -> 4 -> 2, then the class conv takes 2 -> 1.
_SIMPLE_WIDTHS = (4, 8, 16, 32)
_BROKEN_WIDTH = 30


def _conv(ni: int, nf: int, ks: int = 3, act: bool = True) -> nn.Module:
    """The book's ``conv``: a stride-2 ``ks`` x ``ks`` conv, wrapped with a ReLU when ``act``."""
    layer = nn.Conv2d(ni, nf, stride=2, kernel_size=ks, padding=ks // 2)
    return nn.Sequential(layer, nn.ReLU()) if act else layer


@register_model(input_size=(1, 28, 28))
def simple_cnn(num_classes: int = 2, in_channels: int = 1) -> nn.Sequential:
    """Stride-2 CNN of Howard & Gugger 2020 (fastai book, ch. 13) for 1x28x28 input; 6,722 params.

    Five convs take 28x28 to 1x1; the last has ``num_classes`` channels and no ReLU, and the
    flatten gives logits of shape [batch, num_classes].
    """
    layers: list[nn.Module] = []
    for width in _SIMPLE_WIDTHS:
        layers.append(_conv(in_channels, width))
        in_channels = width
    layers += [_conv(in_channels, num_classes, act=False), nn.Flatten()]
    return nn.Sequential(*layers)


@register_model(input_size=(1, 28, 28))
def broken_cnn(in_channels: int = 1) -> nn.Sequential:
    """Stride-1 CNN of Howard & Gugger 2020 (fastai book, ch. 13) for 1x28x28 input; 571 params.

    "Broken" on purpose: it returns a [batch, 1, 28, 28] map, not one logit per image, so it
    takes no ``num_classes``.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, _BROKEN_WIDTH, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(_BROKEN_WIDTH, 1, kernel_size=3, padding=1),
    )
