"""The first convolution's filters, as small pictures: what the network looks for in raw pixels.

Each output channel's weights [I, kh, kw] are stretched to [0, 1] on their own, over all their
input channels together: (w - min) / (max - min), so mid-grey is the middle of that filter's range
(zero only when the weights are symmetric about it), as in Krizhevsky et al. 2012, figure 3.
With three input channels a filter is one colour tile (input channel i is colour i: RGB); with
any other number each input channel is its own grey tile, filter by filter (output channel o,
input channel i is tile o*I + i), so nothing is averaged away.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UsageError
from .mosaic import mosaic, stretch


def first_conv(model: nn.Module, why: str = "and so no filters to show"
               ) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` in module order (the order the model defines them) and its name;
    ``why`` ends the message when there is none."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise UsageError(f"{type(model).__name__} has no nn.Conv2d ({why}).")


def normalised_filters(weight: torch.Tensor) -> torch.Tensor:
    """weight [O, I, kh, kw] -> tiles [n, kh, kw, 3] in [0, 1]: n = O colour tiles when I == 3,
    else n = O*I grey ones (the grey repeated on three channels)."""
    weight = stretch(weight.detach().float().cpu(), (1, 2, 3))  # per output channel
    out, inputs, kh, kw = weight.shape
    if inputs == 3:
        return weight.permute(0, 2, 3, 1).contiguous()  # [O, kh, kw, RGB]
    grey = weight.reshape(out * inputs, kh, kw, 1)
    return grey.expand(-1, -1, -1, 3).contiguous()


def filter_grid(weight: torch.Tensor, gap: int = 1) -> torch.Tensor:
    """weight [O, I, kh, kw] -> one RGB picture [H, W, 3] of its tiles, white between them
    (layout in ``convscope.show.mosaic``)."""
    return mosaic(normalised_filters(weight), gap, fill=1.0)
