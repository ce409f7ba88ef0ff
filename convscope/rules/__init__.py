"""Per-op cost rules: one small pure function per aten op, in one registry.

Conventions, stated once:
- A MAC is one multiply-accumulate. MACs are counted for convolutions (any groups, dilation,
  transposed), matrix products (mm, addmm, bmm, baddbmm, attention) and Euclidean distances
  (cdist, pdist: each squared difference accumulated): the work a multiply-add unit does. Bias
  is not part of MACs.
- Everything else (bias adds, normalisation, pooling, activations, elementwise arithmetic,
  losses) is "other FLOPs", counted per output element with the small constant each rule
  states.
- FLOPs = 2 x MACs + other FLOPs (one MAC = two FLOPs: a multiply and an add).

A rule receives a ``graph.Node`` and returns a ``Cost``. Views, copies and tensor creation are
registered as free. An op with no rule is reported as uncounted by the analyses, never dropped.

Add a rule by copying its neighbour::

    @rule("aten.hardswish", "aten.hardswish_")
    def hardswish(node):
        return elementwise(node, per_element=1)
"""
from __future__ import annotations

from math import prod
from typing import Callable

from ..graph import Node, record


@record
class Cost:
    macs: int = 0
    flops: int = 0  # other FLOPs, not from MACs

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.macs + other.macs, self.flops + other.flops)


FREE = Cost()
_RULES: dict[str, Callable[[Node], Cost]] = {}


def rule(*ops: str):
    """Register a cost function for aten op packets (``"aten.add"`` covers every overload)."""

    def decorate(fn):
        for op in ops:
            if op in _RULES:
                raise ValueError(f"a cost rule for {op} is registered twice")
            _RULES[op] = fn
        return fn

    return decorate


def free(*ops: str) -> None:
    """Register ops that do no arithmetic (views, copies, tensor creation)."""
    rule(*ops)(lambda node: FREE)


def find_rule(node: Node) -> Callable[[Node], Cost] | None:
    return _RULES.get(node.op) or _RULES.get(node.packet)


def cost_of(node: Node) -> Cost | None:
    """The cost of one op, or None when convscope has no rule for it."""
    found = find_rule(node)
    return None if found is None else found(node)


def known_ops() -> list[str]:
    return sorted(_RULES)


def arg(node: Node, index: int, name: str, default=None):
    """An op's argument by schema position, or by name where the call gave it by keyword or
    left it to its default."""
    return node.args[index] if len(node.args) > index else node.kwargs.get(name, default)


def out_numel(node: Node) -> int:
    return prod(node.outputs[0].shape) if node.outputs else 0


def elementwise(node: Node, per_element: int = 1) -> Cost:
    return Cost(flops=per_element * out_numel(node))


from . import activations, conv, fused, losses, matmul, norm, pooling, tensors  # noqa: E402,F401
