"""The effective receptive field: how much each input pixel moves one unit of a layer.

Luo et al. 2016, "Understanding the Effective Receptive Field in Deep Convolutional Neural
Networks": for the middle unit u of the layer's output (summed over its channels) and inputs x,

    heat[i, j] = mean over inputs of  sum over input channels c of | d out[:, u] / d x[c, i, j] |

It is nonzero only inside the theoretical receptive field of u (``convscope.receptive_field``:
along each axis u*S - P ... u*S - P + r - 1), and in a trained or random network it fades from the
centre long before the edge of that box: the field a unit uses is much smaller than the one it
could. The inputs are ``samples`` draws of N(0, 1) (a standardised image's statistics) unless
given; the model's own weights are used, in eval mode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..analyses.field import Field
from ..errors import UsageError
from ..receptive_field import compute
from .layers import capture, evaluating, spatial


@dataclass(frozen=True)
class Erf:
    """``heat`` [H, W] (see the module docstring) for output unit ``unit`` (row, column) of
    ``layer``, and ``box`` (top, left, height, width): that unit's theoretical ``field``, clipped
    to the input."""

    heat: torch.Tensor
    box: tuple[int, int, int, int]
    layer: str
    unit: tuple[int, int]
    field: Field

    @property
    def inside(self) -> float:
        """The share of the heat that lies inside the box (1.0 when the theory holds)."""
        top, left, height, width = self.box
        heat = self.heat.double()
        total = float(heat.sum())
        return float(heat[top:top + height, left:left + width].sum()) / total if total else 1.0


def effective_field(model: nn.Module, layer: str, input_size: Sequence[int], samples: int = 8,
                    seed: int = 0, images: torch.Tensor | None = None) -> Erf:
    """The effective receptive field of the middle unit of ``layer`` for C x H x W inputs
    (``images`` [N, C, H, W] instead of ``samples`` random ones, when given)."""
    input_size = tuple(input_size)
    if len(input_size) != 3:
        raise UsageError(f"the effective receptive field needs an image input C x H x W, got "
                         f"{'x'.join(map(str, input_size))}.")
    if images is None:
        generator = torch.Generator().manual_seed(seed)
        images = torch.randn((samples, *input_size), generator=generator)
    x = images.detach().clone().requires_grad_(True)
    with evaluating(model), torch.enable_grad():
        _, out = capture(model, layer, x, whole=False)
        out = spatial(out, layer, "the effective receptive field")
        unit = tuple((n - 1) // 2 for n in out.shape[2:])  # the middle unit, as measure() takes
        # the samples are independent in eval mode: one backward gives every sample's gradient
        gradient = torch.autograd.grad(out[:, :, unit[0], unit[1]].sum(), x)[0]
    heat = gradient.abs().sum(dim=1).mean(dim=0)  # [H, W]
    field = compute(model, input_size, layer)
    return Erf(heat, field_box(field, unit, input_size[1:]), layer, unit, field)


def field_box(field: Field, unit: Sequence[int], size: Sequence[int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the input positions ``unit`` sees, clipped to ``size``.

    Along an axis (r, S, P): u*S - P ... u*S - P + r - 1. Three 3x3 convs with padding 1 on a
    15 x 15 input, middle unit 7: r 7, S 1, P 3, so rows 4..10: (4, 4, 7, 7).
    """
    if not field.known:
        raise UsageError("convscope cannot follow the receptive field of this layer (an op it "
                         "does not know), so there is no theoretical box to draw.")
    spans = []
    for axis, u, n in zip(field.axes, unit, size):
        if axis.whole:
            spans.append((0, n))
            continue
        first = u * axis.stride - axis.padding
        start = max(0, math.floor(first))
        stop = min(n, math.ceil(first + axis.size))  # one past the last position
        spans.append((start, stop - start))
    (top, height), (left, width) = spans
    return top, left, height, width
