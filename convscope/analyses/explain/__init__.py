"""The notes' arithmetic for every layer, with the layer's own numbers.

For a conv on a 3x64x64 input with 10 filters of 5x5 and stride 2 (seed 001)::

    output height = ⌊(64 + 2·0 − 1·(5−1) − 1) / 2⌋ + 1 = 30
    weights = 10 filters × 3 channels × 5 × 5 = 750, bias 10, parameters 760
    parameters = n_k(c·k²+1) = 10·(3·5²+1) = 760
    MACs = 30 × 30 positions × 10 filters × (3 × 5 × 5) weights each = 675,000

Every result printed is PyTorch's (the traced shapes) or our cost rules'; the formulas are the
explanation, and a formula that disagrees with PyTorch says so instead of hiding it.

A row is explained by its main op (a conv or pool, an adaptive pool, a matrix product, a batch
norm). The lines, in the order a row shows them: ``window_lines`` (output sizes, a pool's work,
and the notes on what a window never sees), ``conv_lines`` (a conv's weights and MACs),
``linear_lines`` (a Linear's, or a layer of several matrix products), ``norm_lines`` (a
normalisation's parameters and statistics), ``upsample_lines`` (an upsampling's sizes), then for
every row ``memory_line`` and, for a main op or an upsampling, ``receptive_field_line``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...graph import Graph, Node, Ref
from ..costs import allocates
from ..highlights import depth_line, separable_pairs, stacked_convs, where_things_sit
from ..receptive_field import ReceptiveFields, receptive_fields
from ..windows import ADAPTIVE_OPS, ATTENTION_OPS, MATMUL_OPS, window_of
from .linear_lines import flattened_shape, linear_lines, products_lines
from .memory_line import memory_line
from .norm_lines import norm_kind, norm_lines
from .receptive_field_line import receptive_field_line, upsample_steps, window_steps
from .upsample_lines import upsample_lines, upsample_of
from .window_lines import adaptive_line, adaptive_sizes_line, window_lines

__all__ = ["Explanation", "LayerExplanation", "explain", "explain_row", "flattened_shape"]


@dataclass(frozen=True)
class LayerExplanation:
    name: str
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    lines: tuple[str, ...]  # "output height = ⌊...⌋ + 1 = 30", "weights = ..."
    notes: tuple[str, ...]  # remainders, size-keeping padding, skipped rows
    params: int
    macs: int
    allocated_bytes: int  # new memory the layer's ops allocate (in-place and views: 0)


@dataclass(frozen=True)
class Explanation:
    model_name: str
    input_shapes: list
    layers: tuple[LayerExplanation, ...]
    separable: tuple[str, ...]  # depthwise + pointwise pairs against the standard conv
    stacks: tuple[str, ...]  # stacks of small convs against one conv of the same field
    where: tuple[str, ...]  # where the parameters and the activation memory sit
    depth: str = ""  # how many weight layers deep, and which (the whole model only)


def explain(report, layer: str | None = None) -> Explanation:
    """Derivations for every row of ``report``, or only for ``layer`` and the rows inside it."""
    graph = report.graph
    found = receptive_fields(graph)  # the fields `rf` and the summary's RF column show
    layers = tuple(explain_row(graph, row, found) for row in report.rows
                   if layer is None or row.name == layer or row.name.startswith(layer + "."))
    every = layers if layer is None else tuple(explain_row(graph, r, found) for r in report.rows)
    return Explanation(report.model_name, report.input_shapes, layers,
                       separable_pairs(graph, layer), stacked_convs(graph, layer),
                       where_things_sit(every, report.totals.params) if layer is None else (),
                       depth_line(report.weight_layers()) if layer is None else "")


def explain_row(graph: Graph, row, found: ReceptiveFields) -> LayerExplanation:
    nodes = [graph.nodes[i] for i in row.nodes]
    passed = _passed_through(graph, row) if not nodes else None
    main, first = _main(nodes), _first_input(nodes) or passed
    window = window_of(main) if main is not None else None
    upsample = upsample_of(nodes) if main is None else None
    if window is not None:
        lines, notes = window_lines(main, window, first, nodes)
    elif upsample is not None:
        lines, notes = upsample_lines(upsample), []
    else:
        lines, notes = _layer_lines(graph, row, nodes, main, first), []
    if row.shared:
        lines.append(_shared_line(graph, row))
    out_shape = row.output_shapes[0] if row.output_shapes else None
    allocated = sum(n.output_bytes for n in nodes if allocates(n))
    if out_shape is not None:
        lines.append(memory_line(row, nodes, out_shape, allocated, passed is not None))
    stepping = main or upsample
    steps = (window_steps(main, window) if window is not None else
             upsample_steps(upsample) if upsample is not None else None)
    field = receptive_field_line(found, stepping, steps) if stepping is not None else None
    if field:
        lines.append(field)
    return LayerExplanation(row.name, row.type, first.shape if first is not None else None,
                            out_shape, tuple(lines), tuple(notes), row.params, row.macs,
                            allocated)


# matrix products, a fused attention op counting as its two
PRODUCT_OPS = (*MATMUL_OPS, *ATTENTION_OPS)


def _main(nodes: list[Node]) -> Node | None:
    for node in nodes:
        if (window_of(node) or node.packet in ADAPTIVE_OPS or node.packet in PRODUCT_OPS
                or "batch_norm" in node.packet):
            return node
    return None


def _first_input(nodes: list[Node]):
    """The first tensor that flows into the row from outside it (an LSTM makes its own zero
    states first: they are not its input)."""
    inside = {node.index for node in nodes}
    for node in nodes:
        for ref in node.refs:
            if ref.kind == "input" or (ref.kind == "node" and ref.source not in inside):
                return ref
    return None


def _module_params(graph: Graph, row) -> int:
    """The parameters the row's module owns, counted or not on this row."""
    return sum(p.meta.numel for p in graph.params if p.module == graph.calls[row.calls[0]].name)


def _shared_line(graph: Graph, row) -> str:
    """A later call of a module: the summary counts its parameters once, at the first call."""
    call = graph.calls[row.calls[0]]
    return (f"shared: this is call {call.call_number + 1} of {row.name}, whose "
            f"{_module_params(graph, row):,} parameters were counted at its first call")


def _passed_through(graph: Graph, row) -> Ref | None:
    """The tensor a module call that ran no op returns, when it was made before the call: its
    input, handed on (an eval-mode Dropout, an Identity)."""
    if row.kind != "module" or not row.calls:
        return None
    call = graph.calls[row.calls[0]]
    out = call.output_refs[0] if call.output_refs else None
    made_before = out is not None and (out.kind == "input" or (
        out.kind == "node" and out.source < call.first_node))
    return out if made_before else None


def _layer_lines(graph: Graph, row, nodes: list[Node], main: Node | None, first) -> list[str]:
    """The lines of a row whose main op is no conv or pool (or that has no main op)."""
    if main is not None and main.packet in ADAPTIVE_OPS:
        return [adaptive_line(main)]
    if main is not None and main.packet in PRODUCT_OPS:
        products = [n for n in nodes if n.packet in PRODUCT_OPS]
        params = _module_params(graph, row) if row.shared else row.params
        return (linear_lines(graph, main, params)
                if len(products) == 1 and main.packet in MATMUL_OPS else
                products_lines(products, params))
    norm = main or next((n for n in nodes if norm_kind(n)), None)  # main: only a batch norm
    if norm is not None:
        return norm_lines(graph, row, norm)
    if row.type.startswith("Adaptive") and first is not None and row.output_shapes:
        return [adaptive_sizes_line(first.shape[2:], row.output_shapes[0][2:])]
    return [f"parameters = {row.params:,}"] if row.params else []
