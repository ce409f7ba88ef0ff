"""How deep a network is, counted as its papers count it: weight layers on the longest path.

"8 layers (AlexNet) -> 16-19 layers (VGG)", GoogLeNet "22 layers deep when counting only layers
with parameters", ResNet-50, MobileNet's 28: the number is the longest chain of weight layers
(convolutions and matrix products with a weight) from the input to an output. Layers side by
side (an inception module's branches, a residual shortcut) add one path's depth, not their sum.
A weight layer is a conv or matrix-product op one of whose operands does not depend on the
input (a parameter, or a weight computed from parameters as weight norm's): attention's
``Q K^T``, whose operands both come from the input, is no layer.
"""
from __future__ import annotations

from ..graph import Graph
from .windows import CONV_OPS, MATMUL_OPS

_WEIGHT_OPS = frozenset(CONV_OPS + MATMUL_OPS)


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
        if node.packet in _WEIGHT_OPS and len(incoming) < len(node.refs):
            chain += (node.index,)
        for slot in range(len(node.outputs)):
            chains[("node", node.index, slot)] = chain
        if node.inplace and node.refs:  # written into its first argument: that tensor now
            first = node.refs[0]
            chains[(first.kind, first.source, first.slot)] = chain
    ends = [chains.get((r.kind, r.source, r.slot), ()) for r in graph.outputs]
    return max(ends, key=len, default=())


def layer_names(graph: Graph, chain: tuple[int, ...]) -> tuple[str, ...]:
    """The name of the module whose call ran each weight layer of ``chain`` (the model's own
    forward is named by its class)."""
    names = []
    for index in chain:
        call = graph.nodes[index].call
        name = graph.calls[call].name if call is not None else ""
        names.append(name or graph.model_type)
    return tuple(names)
