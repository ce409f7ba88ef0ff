"""Per-op receptive-field rules: one small pure function per aten op packet, in one registry.

A rule receives the ``graph.Node`` and ``field(value)`` (the ``Field`` of a tensor argument, None
for anything else) and returns the field of the op's outputs: one ``Field`` for all of them, a
tuple with one per output, or None. Ops with no rule are handled by ``receptive_field``: assumed
elementwise when the shape is unchanged, else unknown; they are reported, never hidden.

Add a rule by copying its neighbour::

    @field_rule("aten.pixel_unshuffle")
    def pixel_unshuffle(node, field):
        r = node.args[1]
        return window_last(node, field, 2, lambda i: (r, r, 0, True))
"""
from __future__ import annotations

import re
from typing import Callable

from ...graph import Node
from ..field import Field, merge

_RULES: dict[str, Callable] = {}


def field_rule(*ops: str):
    """Register a field rule for aten op packets (``"aten.add"`` covers every overload)."""

    def decorate(fn):
        for op in ops:
            if op in _RULES:
                raise ValueError(f"a receptive-field rule for {op} is registered twice")
            _RULES[op] = fn
        return fn

    return decorate


def find_field_rule(node: Node) -> Callable | None:
    return _RULES.get(node.op) or _RULES.get(node.packet)


def dim_index(value: int, ndim: int) -> int:
    """A dim argument as a non-negative index: -1 -> ndim - 1."""
    return value + ndim if value < 0 else value


def arg(node: Node, index: int, name: str, default=None):
    return node.args[index] if len(node.args) > index else node.kwargs.get(name, default)


def ints(value, n: int) -> list[int] | None:
    """An int or a list of ints as n ints: ``3`` or ``[3]`` -> ``[3, 3]``; ``[]`` -> None."""
    if value is None or value == []:
        return None
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return value * n if len(value) == 1 else value


def spatial_count(node: Node) -> int:
    """1, 2 or 3 from the op name: ``max_pool2d`` -> 2."""
    found = re.search(r"(\d)d", node.packet)
    return int(found.group(1)) if found else 2


def window_last(node: Node, field, count: int, geometry) -> Field | None:
    """Apply ``geometry(i) -> (kernel, stride, padding, exact)`` to the input's last dims."""
    x = node.args[0]
    f = field(x)
    if f is None or not f.known:
        return f
    first = len(x.shape) - count
    return f.window({first + i: geometry(i) for i in range(count)})


def union_of_args(node: Node, field) -> tuple[Field | None, ...] | None:
    """The union of every tensor argument's field; outputs of another shape get None."""
    paths = [(f, r.shape) for r in node.refs if (f := field(r)) is not None]
    if not paths or not node.outputs:
        return None
    outputs = node.outputs
    out = outputs[0].shape
    merged = merge(paths, out)
    if len(outputs) == 1:
        return (merged,)
    return tuple(merged if m.shape == out else None for m in outputs)



from . import elementwise, layout, reductions, windows  # noqa: E402,F401
