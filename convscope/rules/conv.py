"""Convolutions: forward, transposed, any groups and dilation."""
from __future__ import annotations

from math import prod

from . import Cost, out_numel, rule


_WITH_TRANSPOSED = ("aten.convolution", "aten._convolution")


@rule("aten.convolution", "aten._convolution", "aten.conv2d", "aten.conv1d", "aten.conv3d")
def convolution(node) -> Cost:
    x, weight, bias = node.args[0], node.args[1], node.args[2]
    # only (_)convolution has ``transposed`` at 6; conv1d/2d/3d have ``groups`` there
    transposed = node.packet in _WITH_TRANSPOSED and len(node.args) > 6 and bool(node.args[6])
    # weight [C_out, C_in/groups, kH, kW] (transposed: [C_in, C_out/groups, kH, kW])
    per_position = prod(weight.shape[1:])
    if transposed:
        # every input position scatters into C_out/groups x kH x kW outputs
        macs = prod(x.shape) * per_position
    else:
        # out [N, C_out, H', W'] x (C_in/groups x kH x kW)
        macs = out_numel(node) * per_position
    return Cost(macs=macs, flops=out_numel(node) if bias is not None else 0)
