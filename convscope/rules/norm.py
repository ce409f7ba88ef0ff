"""Normalisation layers: other FLOPs per element, no MACs."""
from __future__ import annotations

from math import prod

from . import Cost, elementwise, rule


@rule("aten.native_batch_norm", "aten._native_batch_norm_legit",
      "aten._native_batch_norm_legit_no_training", "aten._batch_norm_with_update",
      "aten.batch_norm")
def batch_norm(node) -> Cost:
    training = any(a is True for a in node.args[5:6]) or node.packet == "aten._batch_norm_with_update"
    # eval: y = x * scale + shift (2 per element); training adds mean and variance (4 per element)
    return elementwise(node, per_element=4 if training else 2)


@rule("aten.native_layer_norm", "aten.native_group_norm", "aten._native_batch_norm_legit_functional")
def layer_norm(node) -> Cost:
    # mean, variance, normalise, affine: 4 per element
    return elementwise(node, per_element=4)


@rule("aten._weight_norm_interface")
def weight_norm(node) -> Cost:
    v, g = node.args[0], node.args[1]
    # w = v * (g / ||v||), one norm per slice along ``dim``: the norms read every element of v
    # (1 each, as aten.norm), g / norm is 1 per norm (g's [C_out, 1, 1, 1]), the rescale 1 per
    # element of w; the same as the norm, div and mul that weight_norm runs for other dims
    return Cost(flops=2 * prod(v.shape) + prod(g.shape))
