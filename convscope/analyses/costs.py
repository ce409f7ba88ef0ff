"""What every op costs, and the ops we could not count."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..graph import Graph
from ..rules import Cost, cost_of, find_rule


@dataclass(frozen=True)
class OpCosts:
    per_node: tuple[Cost, ...]  # Cost() for uncounted ops, see ``uncounted``
    uncounted: dict[str, int]  # op name -> how many times it ran without a rule

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.per_node)

    @property
    def other_flops(self) -> int:
        return sum(c.flops for c in self.per_node)


def count_ops(graph: Graph) -> OpCosts:
    costs, missing = [], Counter()
    for node in graph.nodes:
        cost = cost_of(node)
        if cost is None:
            missing[node.op] += 1
            cost = Cost()
        costs.append(cost)
    return OpCosts(tuple(costs), dict(missing))


def uncounted_among(graph: Graph, nodes) -> dict[str, int]:
    """Op name -> how many of these nodes (indices) ran without a cost rule: one row's share of
    ``OpCosts.uncounted``."""
    return dict(Counter(graph.nodes[i].op for i in nodes if find_rule(graph.nodes[i]) is None))


def allocates(node) -> bool:
    """Whether an op's outputs take new memory (views and in-place writes reuse their input's)."""
    return not (node.view or node.inplace)


def activation_bytes(graph: Graph) -> int:
    """Bytes of every tensor the forward allocates: the sum of op outputs, views excluded."""
    return sum(node.output_bytes for node in graph.nodes if allocates(node))
