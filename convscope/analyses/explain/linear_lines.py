"""A Linear layer's weights and MACs (and the flatten that made its inputs), and the MACs of a
layer of several matrix products (LSTM, GRU, attention).

For LeNet-5's first Linear on a flattened 16x5x5 map::

    weights = 120 outputs × 400 inputs = 48,000, bias 120, parameters 48,120
    inputs 400 = flatten of [16, 5, 5] = 16·5·5
    MACs = 1 × 400 × 120 = 48,000
"""
from __future__ import annotations

from collections import Counter
from math import prod

from ...graph import Graph, Node
from ...rules import cost_of
from ..windows import ATTENTION_OPS, shape_before_views


def linear_lines(graph: Graph, node: Node, params: int) -> list[str]:
    a, b = (node.args[1], node.args[2]) if node.packet == "aten.addmm" else node.args[:2]
    inputs, outputs = b.shape[-2], b.shape[-1]
    count = inputs * outputs
    # addmm carries the bias; a Linear on a [N, L, C] input adds it in a separate op
    bias_count = node.args[0].shape[0] if node.packet == "aten.addmm" else max(0, params - count)
    lines = [f"weights = {outputs:,} outputs × {inputs:,} inputs = {count:,}, "
             + (f"bias {bias_count:,}, parameters {count + bias_count:,}" if bias_count
                else f"no bias, parameters {count:,}")]
    flat = flattened_shape(graph, a)
    if flat is not None and prod(flat[1:]) == inputs:  # not a Linear's own [N, L, C] reshape
        lines.append(f"inputs {inputs:,} = flatten of {list(flat[1:])} = "
                     f"{'·'.join(map(str, flat[1:]))}")
    lines.append(f"MACs = {a.shape[0]} × {inputs:,} × {outputs:,} = {cost_of(node).macs:,}")
    return lines


def flattened_shape(graph: Graph, ref) -> tuple[int, ...] | None:
    """The shape a Linear's input had before the views that flattened it."""
    return shape_before_views(graph.nodes, ref)


def products_lines(products: list[Node], params: int) -> list[str]:
    """A layer of several matrix products (LSTM, GRU, attention): their MACs, summed. A fused
    attention op is the two products it computes, Q K^T and P V."""
    pairs = [pair for n in products for pair in _operand_shapes(n)]
    sizes = Counter(f"{'×'.join(map(str, a))} @ {'×'.join(map(str, b))}" for a, b in pairs)
    listed = ", ".join(f"{count} × ({size})" for size, count in sizes.items())
    macs = sum(cost_of(n).macs for n in products)
    count = sum(2 if n.packet in ATTENTION_OPS else 1 for n in products)
    return [f"parameters = {params:,}",
            f"MACs = {count} matrix products{f' ({listed})' if listed else ''} = {macs:,}"]


def _operand_shapes(node: Node) -> list[tuple[tuple, tuple]]:
    """The (left, right) operand shapes of each matrix product ``node`` computes."""
    if node.packet in ATTENTION_OPS:  # keys and values shared by groups of query heads count
        q, k, v = (a.shape for a in node.args[:3])  # once per query head, as the rule does
        return [(q, (*q[:-2], k[-1], k[-2])), ((*q[:-1], k[-2]), (*q[:-2], *v[-2:]))]
    if len(node.args) >= 2 and hasattr(node.args[-1], "shape") and hasattr(node.args[-2],
                                                                           "shape"):
        return [(node.args[-2].shape, node.args[-1].shape)]
    return []
