"""Feature maps: what one layer outputs for one input, a channel per tile.

Each channel is stretched to [0, 1] on its own, (a - min) / (max - min), so a weak channel's
pattern is as visible as a strong one's; the colour bar of one tile is not comparable with the
next. Gaps between tiles are NaN, drawn blank.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import capture, evaluating, spatial
from .mosaic import mosaic, stretch


def feature_maps(model: nn.Module, layer: str, image: torch.Tensor) -> torch.Tensor:
    """The output [C_out, H', W'] of module ``layer`` for one ``image`` [C, H, W], in eval mode
    (the forward stops once the layer has run)."""
    with torch.no_grad(), evaluating(model):
        _, activation = capture(model, layer, image[None], whole=False)
    return spatial(activation, layer, "a feature map").detach()[0]


def feature_mosaic(maps: torch.Tensor, gap: int = 1) -> torch.Tensor:
    """maps [C, H', W'] -> one picture [H, W], each channel stretched to [0, 1], NaN gaps."""
    maps = stretch(maps.detach().float().cpu(), (1, 2))
    return mosaic(maps, gap, fill=float("nan"))
