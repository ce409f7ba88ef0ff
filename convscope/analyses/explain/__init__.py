"""The notes' arithmetic for every layer, with the layer's own numbers.

For a conv on a 3x64x64 input with 10 filters of 5x5 and stride 2 (seed 001)::

    output height = ⌊(64 + 2·0 − 1·(5−1) − 1) / 2⌋ + 1 = 30
    weights = 10 filters × 3 channels × 5 × 5 = 750, bias 10, parameters 760
    parameters = n_k(c·k²+1) = 10·(3·5²+1) = 760
    MACs = 30 × 30 positions × 10 filters × (3 × 5 × 5) weights each = 675,000

Every result printed is PyTorch's (the traced shapes) or our cost rules'; the formulas are the
explanation, and a formula that disagrees with PyTorch says so instead of hiding it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from math import prod

from ...graph import Graph, Node
from ...rules import cost_of
from ..costs import allocates
from ..field import number
from ..highlights import human_bytes, percent, separable_pairs, where_things_sit
from ..receptive_field import ReceptiveFields, receptive_fields
from ..windows import (ADAPTIVE_OPS, AXES, MATMUL_OPS, UNITS, VIEW_OPS, Window, pixels,
                      window_of)

PADS = ("aten.constant_pad_nd", "aten.reflection_pad", "aten.replication_pad", "aten.new_empty",
        "aten.pad", "aten._pad_circular")


@dataclass(frozen=True)
class LayerExplanation:
    name: str
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    lines: tuple[str, ...]  # "output height = ⌊...⌋ + 1 = 30", "weights = ..."
    notes: tuple[str, ...]  # remainders, size-keeping padding, skipped rows
    params: int
    allocated_bytes: int  # new memory the layer's ops allocate (in-place and views: 0)


@dataclass(frozen=True)
class Explanation:
    model_name: str
    input_shapes: list
    layers: tuple[LayerExplanation, ...]
    separable: tuple[str, ...]  # depthwise + pointwise pairs against the standard conv
    where: tuple[str, ...]  # where the parameters and the activation memory sit


def explain(report, layer: str | None = None) -> Explanation:
    """Derivations for every row of ``report``, or only for ``layer`` and the rows inside it."""
    graph = report.graph
    found = receptive_fields(graph)  # the fields `rf` and the summary's RF column show
    layers = tuple(explain_row(graph, row, found) for row in report.rows
                   if layer is None or row.name == layer or row.name.startswith(layer + "."))
    every = layers if layer is None else tuple(explain_row(graph, r, found) for r in report.rows)
    return Explanation(report.model_name, report.input_shapes, layers,
                       separable_pairs(graph, layer),
                       where_things_sit(every, report.totals.params) if layer is None else ())


def _main(nodes: list[Node]) -> Node | None:
    for node in nodes:
        if (window_of(node) or node.packet in ADAPTIVE_OPS or node.packet in MATMUL_OPS
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


def explain_row(graph: Graph, row, found: ReceptiveFields) -> LayerExplanation:
    nodes = [graph.nodes[i] for i in row.nodes]
    main, first = _main(nodes), _first_input(nodes)
    lines, notes = [], []
    window = window_of(main) if main is not None else None
    if window is not None:
        _window_lines(main, window, nodes, first, lines, notes)
    elif main is not None and main.packet in ADAPTIVE_OPS:
        lines.append(_adaptive_line(main))
    elif main is not None and main.packet in MATMUL_OPS:
        products = [n for n in nodes if n.packet in MATMUL_OPS]
        lines += (_linear_lines(graph, main, row.params) if len(products) == 1 else
                  _products_lines(products, row.params))
    elif main is not None:
        channels = main.args[0].shape[1]
        lines.append(f"parameters = 2 × {channels} = {2 * channels:,} (a scale γ and a shift β "
                     f"per channel), plus running mean and variance buffers 2 × {channels}")
    elif row.type.startswith("Adaptive") and first is not None and row.output_shapes:
        before, after = first.shape[2:], row.output_shapes[0][2:]
        lines.append(f"output {_dims(after)} whatever the input; here {_dims(before)} → "
                     f"{_dims(after)}; no parameters")
    elif row.params:
        lines.append(f"parameters = {row.params:,}")
    out_shape = row.output_shapes[0] if row.output_shapes else None
    allocated = sum(n.output_bytes for n in nodes if allocates(n))
    if out_shape is not None:
        # one output: its element size is the row's bytes per value (a max pool's int64
        # indices are made too, but not returned)
        itemsize = (row.output_bytes // max(prod(out_shape), 1)
                    if len(row.output_shapes) == 1 and row.output_bytes else None)
        lines.append(_memory_line(nodes, out_shape, allocated, itemsize))
    if main is not None:
        rf = _rf_line(found, main, window)
        if rf:
            lines.append(rf)
    return LayerExplanation(row.name, row.type, first.shape if first is not None else None,
                            out_shape, tuple(lines), tuple(notes), row.params, allocated)


def _window_lines(node: Node, window: Window, nodes, first, lines, notes) -> None:
    size, out = node.args[0].shape[2:], node.outputs[0].shape[2:]
    # a 1-d pool runs as a 2-d one on an unsqueezed input: its added axis is not the layer's
    added = max(0, len(node.args[0].shape) - len(first.shape)) if first is not None else 0
    own = len(size) - added
    axes = [""] * added + AXES.get(own, [f"dim {d}" for d in range(own)])
    for d, h in enumerate(size):
        if d < added:
            continue
        value = window.output_size(h, d)
        torch_says = f" (PyTorch gives {out[d]})" if value != out[d] else ""
        if window.ceil_mode and value != -(-window.span(h, d) // window.stride[d]) + 1:
            lines.append(f"output {axes[d]} = {window.formula(h, d)} − 1 = {value}{torch_says} "
                         f"(the last window would start in the padding, so PyTorch drops it)")
        else:
            lines.append(f"output {axes[d]} = {window.formula(h, d)} = {value}{torch_says}")
    if window.kind in ("conv", "transposed"):
        lines += _conv_lines(node, window)
        notes += _keep_size_notes(node, window, first)
    else:
        kind = "maximum" if window.kind == "max" else "average"
        kernel = "x".join(map(str, window.kernel[added:])) if own > 1 else (
            f"{window.kernel[-1]}-wide")
        cost = cost_of(node)
        lines.append(f"no parameters: a fixed {kind} over each {kernel} window "
                     f"({prod(node.outputs[0].shape):,} windows × {prod(window.kernel)} = "
                     f"{cost.flops:,} FLOPs, not MACs)")
        before, after = prod(node.args[0].shape), prod(node.outputs[0].shape)
        if after < before:
            lines.append(_shrink_line(window, before, after))
    notes += _remainder_notes(window, size, axes, added)
    pre = node.args[0]
    if first is not None and len(first.shape) == len(pre.shape) and first.shape != pre.shape:
        notes.append(f"the input is padded before the window: {_dims(first.shape[2:])} → "
                     f"{_dims(pre.shape[2:])} (padding_mode other than zeros, or padding='same' "
                     f"with an even kernel)")


def _conv_lines(node: Node, window: Window) -> list[str]:
    x, weight, bias = node.args[0], node.args[1], node.args[2]
    kernel = " × ".join(map(str, weight.shape[2:]))
    groups = window.groups
    if window.kind == "transposed":
        c_in, per = weight.shape[0], weight.shape[1]
        c_out = per * groups
        weights = (f"weights = {c_in} input channels × {per} output channel{'s' * (per != 1)}"
                   f"{f' per group ({groups} groups)' if groups > 1 else ''} × {kernel}")
    else:
        c_out, per = weight.shape[0], weight.shape[1]
        each = f" each ({x.shape[1]} in / {groups} groups)" if groups > 1 else ""
        weights = (f"weights = {c_out} filter{'s' * (c_out != 1)} × {per} "
                   f"channel{'s' * (per != 1)}{each} × "
                   f"{kernel}")
    count = prod(weight.shape)
    bias_count = bias.shape[0] if bias is not None else 0
    total = count + bias_count
    lines = [f"{weights} = {count:,}, " + (f"bias {bias_count}, parameters {total:,}"
                                            if bias_count else f"no bias, parameters {total:,}")]
    square = len(weight.shape) == 4 and weight.shape[2] == weight.shape[3]
    if groups == 1 and square and bias_count and window.kind == "conv":
        k = weight.shape[2]
        lines.append(f"parameters = n_k(c·k²+1) = {c_out}·({per}·{k}²+1) = {total:,}")
    out = node.outputs[0].shape
    positions = " × ".join(map(str, out[2:]))
    images = f"{out[0]} images × " if out[0] > 1 else ""
    macs = cost_of(node).macs
    if window.kind == "transposed":
        lines.append(f"MACs = {' × '.join(map(str, x.shape))} inputs × ({per} × {kernel}) "
                     f"= {macs:,}")
    else:
        lines.append(f"MACs = {images}{positions} positions × {c_out} filter{'s' * (c_out != 1)}"
                     f" × ({per} × {kernel}) weights each = {macs:,}")
    return lines


def _shrink_line(window: Window, before: int, after: int) -> str:
    """How much of the map a pool drops: cs231n's 2x2/2 max pool "discards exactly 75% of the
    activations" (224x224x64: 3,211,264 values in, 802,816 out)."""
    dropped = before - after
    # a whole share as 75%; any other with one decimal, more where one would say 100.0%
    share = (f"{100 * dropped // before}%" if 100 * dropped % before == 0 else
             percent(dropped, before))
    if window.kind == "max":
        return (f"keeps {after:,} of the {before:,} input values, the maximum of each window: "
                f"{share} of the activations are discarded")
    return f"{after:,} averages of the {before:,} input values: the map shrinks by {share}"


def _keep_size_notes(node: Node, window: Window, first) -> list[str]:
    """A stride-1 conv that changes the size, and the padding that would keep it."""
    if window.kind != "conv" or any(s != 1 for s in window.stride) or first is None:
        return []
    before, after = first.shape[2:], node.outputs[0].shape[2:]
    if tuple(before) == tuple(after) or len(before) != len(after):
        return []
    needed = [window.dilation[d] * (window.kernel[d] - 1) for d in range(len(before))]
    if all(n % 2 == 0 for n in needed):
        pads = [n // 2 for n in needed]
        pad = pads[0] if len(set(pads)) == 1 else tuple(pads)
        d, k = window.dilation[0], window.kernel[0]
        return [f"this stride-1 conv changes the size {_dims(before)} → {_dims(after)}; "
                f"padding={pad} keeps it (P = D(K−1)/2 = {d}·({k}−1)/2 = {pads[0]})"]
    odd = next(n for n in needed if n % 2)
    return [f"this stride-1 conv changes the size {_dims(before)} → {_dims(after)}, and no "
            f"symmetric padding keeps it: D(K−1) = {odd} is odd; padding='same' pads "
            f"{odd // 2} before and {odd - odd // 2} after"]


def _remainder_notes(window: Window, size, axes, added: int = 0) -> list[str]:
    """Rows (columns, ...) no window reaches; identical dims are said once ("row and column").
    The first ``added`` dims are not the layer's own (a 1-d pool's unsqueezed axis)."""
    found: dict[str, list[str]] = {}
    for d, h in enumerate(size):
        if d < added:
            continue
        rest, real = window.unseen(h, d)
        spatial = len(size) - added
        unit = UNITS.get(axes[d], "position")
        k, s = window.effective_kernel(d), window.stride[d]
        lost = (f"all padding, no input {pixels(spatial, False)} is lost" if not real else
                f"input {pixels(spatial)}, not padding" if real == rest else
                f"{real} of them input, {rest - real} padding")
        if window.skips(d):
            text = (f"{k}-wide windows step by {s}: {s - k} of every {s} {{units}} are never "
                    f"looked at")
            if rest and rest != s - k:  # the padded input does not end with one whole gap
                text += f", and after the last window the last {rest} ({lost})"
        elif rest:
            text = (f"({h} + 2·{window.padding[d]} − {window.dilation[d]}·({window.kernel[d]}−1)"
                    f" − 1) = {window.span(h, d)} is not divisible by {s}: the last {rest} "
                    f"{{units}} of the padded input {'are' if rest > 1 else 'is'} never looked at "
                    f"({lost})")
        else:
            continue
        found.setdefault(text, []).append(unit + ("s" if (window.skips(d) or rest > 1) else ""))
    return [text.replace("{units}", " and ".join(units)) for text, units in found.items()]


def _adaptive_line(node: Node) -> str:
    size, out = node.args[0].shape[2:], node.outputs[0].shape[2:]
    text = f"output {_dims(out)} whatever the input; here {_dims(size)} → {_dims(out)}"
    if all(o and h % o == 0 for h, o in zip(size, out)):
        steps = [h // o for h, o in zip(size, out)]
        text += (f": a plain {_dims(steps)} window with stride {_dims(steps)}" if max(steps) > 1
                 else ": the identity")
    return text + "; no parameters"


def _products_lines(products: list[Node], params: int) -> list[str]:
    """A layer of several matrix products (LSTM, GRU, attention): their MACs, summed."""
    sizes = Counter(f"{'×'.join(map(str, n.args[-2].shape))} @ "
                    f"{'×'.join(map(str, n.args[-1].shape))}" for n in products
                    if len(n.args) >= 2 and hasattr(n.args[-1], "shape")
                    and hasattr(n.args[-2], "shape"))
    listed = ", ".join(f"{count} × ({size})" for size, count in sizes.items())
    macs = sum(cost_of(n).macs for n in products)
    return [f"parameters = {params:,}",
            f"MACs = {len(products)} matrix products{f' ({listed})' if listed else ''} "
            f"= {macs:,}"]


def _linear_lines(graph: Graph, node: Node, params: int) -> list[str]:
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
    shape = None
    while ref is not None and ref.kind == "node":
        node = graph.nodes[ref.source]
        if node.packet not in VIEW_OPS or not node.args:
            break
        ref = node.args[0]
        shape = ref.shape if len(ref.shape) > 2 else shape
    return shape


def _memory_line(nodes, shape, allocated: int, itemsize: int | None = None) -> str:
    itemsize = itemsize or next((n.outputs[0].itemsize for n in reversed(nodes) if n.outputs), 4)
    numel = prod(shape)
    text = (f"output memory = {' × '.join(map(str, shape))} = {numel:,} values × {itemsize} "
            f"bytes = {numel * itemsize:,} bytes")
    if numel * itemsize >= 1024:
        text += f" ({human_bytes(numel * itemsize)})"
    if nodes and allocated == 0:
        text += (" (a view of its input: no new memory)" if all(n.view for n in nodes) else
                 " (in place: written into its input, no new memory)")
    return text


def _rf_line(found: ReceptiveFields, node: Node, window: Window | None) -> str | None:
    """The window step of the field ``convscope rf`` computes, on the layer's first axis that
    is not global: r = r_in + (k_eff − 1)·j_in, j = j_in·s."""
    after = found.of_node(node.index)
    if after is None or not after.known:
        return None
    if after.is_global:
        return "receptive field = the whole input"
    before = found.of(node.args[0]) if node.args else None
    if before is None or not before.known or window is None or window.kind == "transposed":
        return None
    axis = next((i for i, (a, d) in enumerate(zip(before.axes, before.dims))
                 if d is not None and not a.whole and 0 <= d - 2 < len(window.stride)), None)
    if axis is None or after.axes[axis].whole:
        return None
    d, (a, b) = before.dims[axis] - 2, (before.axes[axis], after.axes[axis])
    k, s = window.effective_kernel(d), window.stride[d]
    # ~: an upsampling or transposed conv on the way makes the field vary from unit to unit
    sizes = ("" if after.exact else "~") + "x".join(number(x.size) for x in after.axes)
    jumps = [("-" if x.whole else number(x.stride)) for x in after.axes]
    jump = jumps[0] if len(set(jumps)) == 1 else "x".join(jumps)
    return (f"receptive field = {sizes} input {pixels(len(after.axes))}, jump {jump} "
            f"(r = {number(a.size)} + ({k}−1)·{number(a.stride)} = {number(b.size)}, j = "
            f"{number(a.stride)}·{s} = {number(b.stride)}; one step back: r_in = s·r + (k − s) = "
            f"{s}·r {'+' if k >= s else '−'} {abs(k - s)})")


def _dims(values) -> str:
    values = list(values)
    return str(values[0]) if len(set(values)) == 1 and len(values) == 1 else \
        "x".join(map(str, values))
