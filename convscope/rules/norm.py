"""Normalisation layers: other FLOPs per element, no MACs."""
from __future__ import annotations

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
