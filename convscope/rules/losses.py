"""Losses: a formula per element of input and target, then the mean or sum; other FLOPs, no MACs.

A loss counts as the ops it is made of: its per-element formula is one elementwise op, 1 FLOP per
element as an activation is however many terms it has (BCE's two logs, Huber's two branches),
each weight it multiplies in is 1 more per element, and the mean or sum is 1 per element read,
as ``aten.mean`` (``reduction='none'`` has none). Worked example, ``F.mse_loss`` of two
[4, 5] tensors: (x - y)^2 is 20, the mean 20 more: 40 other FLOPs.
"""
from __future__ import annotations

from math import prod

from . import Cost, arg, rule

NONE, MEAN, SUM = 0, 1, 2  # at::Reduction, the schemas' ``int reduction=Mean``


def _per_element(node, reduction_at: int, weights: tuple[tuple[int, str], ...] = ()) -> Cost:
    reduced = arg(node, reduction_at, "reduction", MEAN) != NONE
    weighted = sum(arg(node, index, name) is not None for index, name in weights)
    # input [N, ...], the target the same shape: formula + weights + reduction, per element
    return Cost(flops=prod(node.args[0].shape) * (1 + weighted + reduced))


@rule("aten.mse_loss", "aten.smooth_l1_loss", "aten.huber_loss", "aten.soft_margin_loss")
def pointwise_loss(node) -> Cost:
    # (x - y)^2; |x - y| or its square by beta (delta); log(1 + exp(-y x))
    return _per_element(node, reduction_at=2)


@rule("aten.binary_cross_entropy")
def binary_cross_entropy(node) -> Cost:
    # -(y log x + (1 - y) log(1 - x)), times weight (given expanded to the input's shape)
    return _per_element(node, reduction_at=3, weights=((2, "weight"),))


@rule("aten.binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(node) -> Cost:
    # BCE of sigmoid(x), stable in one formula; pos_weight scales the positive term, weight all
    return _per_element(node, reduction_at=4, weights=((2, "weight"), (3, "pos_weight")))


@rule("aten.nll_loss_forward", "aten.nll_loss2d_forward")
def nll_loss(node) -> Cost:
    """F.nll_loss and F.cross_entropy (after its log_softmax): per target element the
    log-probability of its class is picked (free, as ``gather``) and negated (1), times its
    class weight (1), then summed (1); a weighted mean divides by the sum of the weights used
    (1 more each). target [N] for input [N, C], [N, H, W] for [N, C, H, W]: ``nll_loss2d``."""
    reduction = arg(node, 3, "reduction", MEAN)
    weighted = arg(node, 2, "weight") is not None
    per_target = 1 + weighted + (reduction != NONE) + (weighted and reduction == MEAN)
    return Cost(flops=prod(node.args[1].shape) * per_target)


@rule("aten.multi_margin_loss")
def multi_margin_loss(node) -> Cost:
    """nn.MultiMarginLoss, input [N, C], target [N]: every class's hinge with the target's
    score, max(0, margin - x[y] + x[c])^p (1 per element), times weight[y] (1 per element),
    their mean over classes (1 per element, as ``aten.mean``), then the batch's mean or sum (1
    per sample)."""
    x, target = node.args[0], node.args[1]
    weighted = arg(node, 4, "weight") is not None
    reduced = arg(node, 5, "reduction", MEAN) != NONE
    return Cost(flops=prod(x.shape) * (2 + weighted) + prod(target.shape) * reduced)
