"""The cs231n notes' VGG16 table (seed 002), one row per CONV, POOL and FC layer, computed from
the traced model::

    CONV3-64: [224x224x64]  memory:  224*224*64=3.2M   weights: (3*3*3)*64 = 1,728

``memory`` counts the values of the layer's output for one image, ``weights`` the layer's weights
without biases, as the notes do. The totals are the sums of the rows, each parameter counted once:
a layer called twice has a second row, marked shared, whose weights the first row counted.

The notes' own totals say "24M" values and "138M" parameters: their rows add up to 15.2M values,
and 138M includes the 13,416 biases the rows leave out (docs/explain.md has the arithmetic).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod

from .explain import flattened_shape
from .windows import ADAPTIVE_OPS, own_dims, window_of

NOTES_VGG16 = {"memory": 24_000_000, "memory_text": "24M (~93MB)", "params_text": "138M"}


@dataclass(frozen=True)
class TableRow:
    label: str  # INPUT, CONV3-64, POOL2, FC
    shape: tuple[int, ...]  # one image, channels last: H, W, C; L, C in 1-d; D, H, W, C in 3-d
    memory: int  # values in the output
    weights: int  # weights, biases excluded
    weight_factors: tuple  # ((3, 3, 3), 64) for a conv, (7, 7, 512, 4096) for an FC
    fc: bool = False
    shared: bool = False  # a later call of a layer: an earlier row counted its parameters
    reads: frozenset[str] = frozenset()  # the names of the parameters it reads (weight, bias)
    computed: bool = False  # its weight is no parameter (computed, or an input): not counted
    weight_name: str | None = None  # the parameter its weights are
    bias_sizes: tuple[tuple[str, int], ...] = ()  # (name, size) of each bias it reads


@dataclass(frozen=True)
class Table:
    rows: tuple[TableRow, ...]
    memory: int  # sum of the rows
    weights: int  # sum of the rows, shared rows and computed weights left out
    biases: int  # of the layers with a row
    params: int  # every parameter of the model
    itemsize: int
    remarks: tuple[str, ...]

    @property
    def other_params(self) -> int:
        """Parameters that are neither a row's weights nor a bias: normalisation, embeddings,
        the parameters a computed weight is made of (weight norm's g and v), ..."""
        return self.params - self.weights - self.biases


def _channels_last(shape) -> tuple[int, ...]:
    """One image's shape in the notes' order, channels last: [N, C, H, W] -> (H, W, C), a 1-d
    [N, C, L] -> (L, C), a 3-d [N, C, D, H, W] -> (D, H, W, C); a vector [N, C] -> (1, 1, C), as
    the notes write an FC's output."""
    if len(shape) <= 2:
        return 1, 1, shape[-1]
    return (*shape[2:], shape[1])


def _kernel_text(sizes) -> str:
    return str(sizes[0]) if len(set(sizes)) == 1 else "x".join(map(str, sizes))


def _parameter(graph, ref):
    """The parameter's Ref that ``ref`` is, or a view of (a Linear reads its weight transposed);
    None for a tensor computed from one, or no parameter at all."""
    while ref is not None and ref.kind == "node" and graph.nodes[ref.source].view:
        ref = graph.nodes[ref.source].args[0]
    return ref if ref is not None and ref.kind == "param" else None


def _parameter_name(graph, ref) -> str | None:
    param = _parameter(graph, ref)
    return None if param is None else param.source


def _added_bias(graph, node, outputs: int):
    """The bias added to the product ``node`` makes, as its own op: a Linear (or F.linear) on a
    non-contiguous input, x.transpose(1, 2) say, runs mm, a view back to [N, T, out], then
    add(bias). The first op to read the product (through views) must add a parameter of
    ``outputs`` values to it; None otherwise."""
    made = node.index
    for later in graph.nodes[node.index + 1:]:
        if not any(ref.kind == "node" and ref.source == made for ref in later.refs):
            continue
        if later.view:  # [N*T, out] -> [N, T, out]: follow it
            made = later.index
            continue
        if later.packet != "aten.add":
            return None
        bias = [_parameter(graph, ref) for ref in later.refs
                if not (ref.kind == "node" and ref.source == made)]
        return bias[0] if len(bias) == 1 and bias[0] is not None and \
            bias[0].meta.numel == outputs else None
    return None


def _with_parameters(graph, row, table_row: TableRow, weight, bias) -> TableRow:
    """``table_row`` with the parameters its layer reads: the conv's or matmul's ``weight`` and
    ``bias`` arguments, and those its other ops read, as the bias a Linear on a channels-last
    tensor adds after its matmul."""
    sizes = {ref.source: ref.meta.numel for i in row.nodes for ref in graph.nodes[i].refs
             if ref.kind == "param"}
    weight_param, bias_param = _parameter(graph, weight), _parameter(graph, bias)
    weight_name = weight_param.source if weight_param is not None else None
    bias_name = bias_param.source if bias_param is not None else None
    for param in (weight_param, bias_param):
        if param is not None:  # the parameter's size, not that of a view (an expand) of it
            sizes[param.source] = param.meta.numel
    bias_sizes = tuple((name, size) for name, size in sizes.items()
                       if name == bias_name or name.rsplit(".", 1)[-1] == "bias")
    return replace(table_row, shared=row.shared, reads=frozenset(sizes),
                   computed=weight_name is None, weight_name=weight_name, bias_sizes=bias_sizes)


def _conv_row(graph, row, node, out) -> TableRow:
    weight = node.args[1].shape  # [C_out, C_in/groups, *kernel]
    conv = TableRow(f"CONV{_kernel_text(weight[2:])}-{weight[0]}", _channels_last(out),
                    prod(out[1:]), prod(weight), ((*weight[2:], weight[1]), weight[0]))
    return _with_parameters(graph, row, conv, node.args[1], node.args[2])


def _pool_row(graph, node, window, out) -> TableRow:
    # a 1-d pool runs as a 2-d one on its input unsqueezed to a height of 1: not its own dim
    own = own_dims(node, graph.producer(node.args[0]))
    if len(out) == len(node.args[0].shape):  # the op's output, not its module's: height 1 too
        out = (*out[:2], *(out[2 + d] for d in own))
    kernel = _kernel_text([window.kernel[d] for d in own])
    return TableRow(f"POOL{kernel}", _channels_last(out), prod(out[1:]), 0, ())


def _global_pool_row(node, out) -> TableRow | None:
    sizes = [n // o if n % o == 0 else f"{n}→{o}"
             for n, o in zip(node.args[0].shape[2:], out[2:])]
    if set(sizes) == {1}:
        return None  # VGG's 7x7 -> 7x7 at 224 pixels: nothing pooled, no row
    return TableRow(f"POOL{_kernel_text(sizes)}", _channels_last(out), prod(out[1:]), 0, ())


def _fc_row(graph, row, node, out) -> TableRow:
    x, weight = node.args[-2:] if node.packet == "aten.addmm" else node.args[:2]
    inputs, outputs = weight.shape
    bias = node.args[0] if node.packet == "aten.addmm" else _added_bias(graph, node, outputs)
    before = flattened_shape(graph, x)
    flat = before is not None and prod(before[1:]) == inputs
    factors = (*_channels_last(before), outputs) if flat else (inputs, outputs)
    if row.kind == "function" and before is not None and prod(before[:-1]) == out[0]:
        out = (*before[:-1], outputs)  # F.linear on [N, T, C] runs on [N*T, C]: N, T, outputs
    # a Linear works on the last dim: its output is channels last already, [N, H, W, F] -> H, W, F
    shape = (1, 1, outputs) if len(out) <= 2 else tuple(out[1:])
    fc = TableRow("FC", shape, prod(out[1:]), inputs * outputs, factors, fc=True)
    return _with_parameters(graph, row, fc, weight, bias)


def _row(graph, row) -> TableRow | None:
    out = row.output_shapes[0] if row.output_shapes else None
    for node in (graph.nodes[i] for i in row.nodes):
        window = window_of(node)
        if window is not None and window.kind == "conv":
            return _conv_row(graph, row, node, out)
        if window is not None and window.kind in ("max", "avg"):
            return _pool_row(graph, node, window, out)
        # global pooling, 7x7 -> 1x1, is a POOL7; to 1x1 PyTorch runs it as a mean
        if node.packet in ADAPTIVE_OPS or (row.type.startswith("Adaptive") and node.args
                                           and len(node.args[0].shape) == len(out)):
            return _global_pool_row(node, out)
        if node.packet in ("aten.addmm", "aten.mm") and _is_linear(graph, row, node):
            return _fc_row(graph, row, node, out)
    return None


def _is_linear(graph, row, node) -> bool:
    """A Linear (addmm with a bias, mm without) or ``F.linear``: a product with a parameter.
    ``x @ y`` of two activations, attention's say, is no layer of the notes' table."""
    weight = node.args[-1] if node.packet == "aten.addmm" else node.args[1]
    return row.kind == "module" or _parameter_name(graph, weight) is not None


def cs231n_table(report) -> Table:
    """The notes' table for ``report``: INPUT, then every conv, pool and fully connected layer,
    modules and functional ops alike."""
    graph = report.graph
    first = graph.inputs[0].shape
    rows = [TableRow("INPUT", _channels_last(first), prod(first[1:]), 0, ())]
    # "function": an F.max_pool2d or F.conv2d in a forward is a layer of the table too
    rows += _mark_shared([r for r in (_row(graph, row) for row in report.rows
                                      if row.kind in ("module", "function")) if r])
    memory = sum(r.memory for r in rows)
    weights, biases = _counted_once(rows)
    params = report.totals.params
    remarks = ()
    if report.model_name == "vgg16" and tuple(first[1:]) == (3, 224, 224):
        remarks = (f"remark: the notes' TOTAL memory says {NOTES_VGG16['memory_text']}, but their "
                   f"own rows add up to {memory:,} values; their 138M parameters count the "
                   f"{biases:,} biases the rows leave out (rows: {weights:,} weights).",)
    return Table(tuple(rows), memory, weights, biases, params, graph.inputs[0].itemsize, remarks)


def _counted_once(rows: list[TableRow]) -> tuple[int, int]:
    """(weights, biases) of the rows, each parameter counted once, by name: a weight two layers
    share (tied, with a bias each) is counted at its first row, each bias at its own."""
    seen: set[str] = set()
    weights = biases = 0
    for row in rows:
        if row.weight_name is not None and row.weight_name not in seen and not row.computed:
            weights += row.weights
            seen.add(row.weight_name)
        for name, size in row.bias_sizes:
            if name not in seen:
                biases += size
                seen.add(name)
    return weights, biases


def _mark_shared(rows: list[TableRow]) -> list[TableRow]:
    """Marks the rows whose parameters an earlier row read: one module called twice, or one
    weight passed to two functional convs. Their weights and biases are counted once."""
    seen: set[str] = set()
    marked = []
    for row in rows:
        shared = row.shared or (bool(row.reads) and row.reads <= seen) or (
            row.weight_name in seen)  # tied: another layer's weight, with a bias of its own
        seen |= row.reads
        marked.append(replace(row, shared=shared) if shared != row.shared else row)
    return marked
