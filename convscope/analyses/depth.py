"""How deep a network is, counted as its papers count it: weight layers on the longest path.

"8 layers (AlexNet) -> 16-19 layers (VGG)", GoogLeNet "22 layers deep when counting only layers
with parameters", ResNet-50, MobileNet's 28: the number is the longest chain of weight layers
(convolutions and matrix products with a weight) from the input to an output. Layers side by
side (an inception module's branches, a residual shortcut) add one path's depth, not their sum.
A weight layer is a conv or matrix-product op one of whose two factors does not depend on the
input (a parameter, or a weight computed from parameters as weight norm's): attention's
``Q K^T``, whose factors both come from the input, is no layer, even with a bias of its own
added (ALiBi's ``baddbmm``).
"""
from __future__ import annotations

from ..graph import Graph, Ref
from .windows import CONV_OPS, MATMUL_OPS

# where each op's two factors sit among its arguments: a bias added to the product (addmm's,
# baddbmm's first argument; conv's, linear's third) is no factor, an input-made one no weight
_FACTORS = {**{op: slice(0, 2) for op in CONV_OPS + MATMUL_OPS},
            "aten.addmm": slice(1, 3), "aten.baddbmm": slice(1, 3)}


def weight_layers(graph: Graph) -> tuple[int, ...]:
    """The node indices of the weight layers on the longest such chain from an input to an
    output, in order; its length is the network's depth."""
    chains: dict[tuple, tuple[int, ...]] = {
        ("input", i, 0): () for i in range(len(graph.inputs))}  # the tensors made from inputs
    for node in graph.nodes:
        incoming = [chains[key] for key in ((r.kind, r.source, r.slot) for r in node.refs)
                    if key in chains]
        if not incoming:  # made from parameters alone (a transposed weight): no path
            continue
        chain = max(incoming, key=len)
        if node.packet in _FACTORS and _has_weight(node.args[_FACTORS[node.packet]], chains):
            chain += (node.index,)
        for slot in range(len(node.outputs)):
            chains[("node", node.index, slot)] = chain
        if node.inplace and node.refs:  # written into its first argument: that tensor now
            first = node.refs[0]
            chains[(first.kind, first.source, first.slot)] = chain
    ends = [chains.get((r.kind, r.source, r.slot), ()) for r in graph.outputs]
    return max(ends, key=len, default=())


def _has_weight(factors, chains) -> bool:
    """One of a product's factors is a tensor no input reaches: a weight."""
    return any(type(f) is Ref and (f.kind, f.source, f.slot) not in chains for f in factors)


def layer_names(graph: Graph, chain: tuple[int, ...]) -> tuple[str, ...]:
    """The name of the module whose call ran each weight layer of ``chain`` (the model's own
    forward is named by its class)."""
    names = []
    for index in chain:
        call = graph.nodes[index].call
        name = graph.calls[call].name if call is not None else ""
        names.append(name or graph.model_type)
    return tuple(names)
