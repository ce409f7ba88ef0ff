"""Plain text for ``explain``, the cs231n table, the calculators and ``sizes``: lays out what the
analyses computed, adds no numbers of its own."""
from __future__ import annotations

from . import units


def _shape(dims) -> str:
    return units.shape(list(dims)) if dims is not None else "?"


def render_layer(layer, indent: str = "  ") -> list[str]:
    shapes = f"{_shape(layer.input_shape)} -> {_shape(layer.output_shape)}"
    head = f"{layer.name} ({layer.type})  {shapes}"
    return [head] + [indent + line for line in layer.lines] + \
        [f"{indent}note: {note}" for note in layer.notes]


def render_explanation(explanation) -> str:
    inputs = ", ".join(_shape(s) for s in explanation.input_shapes)
    lines = [f"{explanation.model_name}: input {inputs}", ""]
    for layer in explanation.layers:
        lines += render_layer(layer) + [""]
    if explanation.separable:
        lines += ["Depthwise separable convolutions:"] + [f"  {s}" for s in explanation.separable]
        lines.append("")
    if explanation.stacks:
        lines += ["Stacked small convs:"] + [f"  {s}" for s in explanation.stacks] + [""]
    if explanation.depth:
        lines += ["Depth:", f"  {explanation.depth}", ""]
    if explanation.where:
        lines += ["Where things sit:"] + [f"  {s}" for s in explanation.where] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def short(value: int, digits: int = 2) -> str:
    """The notes' rounding: two significant figures in K or M (150,528 -> 150K, 3,211,264 -> 3.2M);
    their totals keep three (138M, and 61,706 -> 61.7K). Below 1,000 the count is exact."""
    if value < 1000:
        return str(value)
    rounded = float(f"{value:.{digits}g}")  # first, so that 999,999 reads 1M, not 1000K
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if rounded >= scale:
            return f"{rounded / scale:g}{unit}"
    return str(value)


def _weights(row) -> str:
    if not row.weights:
        return "0"
    if row.fc:
        return f"{'*'.join(map(str, row.weight_factors))} = {row.weights:,}"
    per_filter, filters = row.weight_factors
    return f"({'*'.join(map(str, per_filter))})*{filters} = {row.weights:,}"


def _weights_cell(row) -> str:
    # a layer called twice: the sums count its weights on its first row only
    if row.shared:
        return f"{_weights(row)} (shared: counted above)"
    return f"{_weights(row)} (computed: not a parameter)" if row.computed else _weights(row)


def table_line(row) -> str:
    """One row as the notes write it (single spacing where the notes' spacing wanders)."""
    dims, product = "x".join(map(str, row.shape)), "*".join(map(str, row.shape))
    # the notes print an FC's 4096 values as a plain count; one applied at every pixel multiplies
    one_vector = row.fc and row.memory == row.shape[-1]
    memory = f"{row.memory}" if one_vector else f"{product}={short(row.memory)}"
    return f"{row.label}: [{dims}]  memory:  {memory}   weights: {_weights_cell(row)}"


def render_cs231n(table) -> str:
    lines = [table_line(row) for row in table.rows]
    total_bytes = table.memory * table.itemsize
    other = (f" + {table.other_params:,} other parameters" if table.other_params
             else "")
    lines += [
        "",
        f"TOTAL memory: {short(table.memory, 3)} * {table.itemsize} bytes ~= "
        f"{short(total_bytes, 3)}B / image (only forward! ~*2 for bwd)"
        f"   [{table.memory:,} values, {units.nbytes(total_bytes)}]",
        f"TOTAL params: {short(table.params, 3)} parameters   [{table.weights:,} weights "
        f"in the rows + {table.biases:,} biases{other} = {table.params:,}]",
    ]
    lines += list(table.remarks)
    return "\n".join(lines) + "\n"


def render_calculation(calc) -> str:
    lines = [f"{calc.layer_repr}  on input {calc.input_text}"]
    lines += [f"  output shape    {_shape(calc.output_shape)}  (with a batch of 1: "
              f"{_shape((1, *calc.output_shape))})"]
    for label, value in calc.shapes:
        lines.append(f"  {label:<15} {value}")
    lines += [f"  {line}" for line in calc.layer.lines]
    lines += [f"  {calc.rf_line}", f"  {calc.keep_line}"]
    lines += [f"  note: {note}" for note in calc.layer.notes]
    return "\n".join(lines) + "\n"


def render_sizes(report, name: str) -> str:
    given = report.given
    channels = given[0] if given else "C"
    n = len(given) - 1 if given else 2
    # a 1-d input has one size, its length: no square, no rows
    pixels, rows = ("positions", "positions") if n == 1 else ("pixels", "rows")
    # PyTorch's order: depth before height and width
    sides = "x".join("DHW"[3 - n:]) if n in (2, 3) else "x".join(["S"] * n)
    rule = ("each side follows the same rule" if all(len(set(s.stride)) == 1
                                                    for s in report.strided)
            else "the strides differ by side: a size below passes on every side")
    lines = [f"{name}: input {channels}xL" if n == 1 else
             f"{name}: input {channels}x{sides} (square sizes; {rule})"]
    if report.smallest is None:
        at = "x".join(map(str, given)) if given else ""
        if not (given and report.given_runs):
            lines.append("no input size up to 4096 runs: see the error `convscope summary` gives")
        else:  # a model that takes only one width, say: squares never fit it
            lines.append(f"no square input up to 4096 runs, but {at} does: the sizes that run "
                         "are not square, and this command scans square ones only")
            lines += [f"at {at}:"] + [f"  {d.text()}" for d in report.drops_given] if \
                report.drops_given else [f"at {at}: no layer drops {pixels}"]
        return "\n".join(lines) + "\n"
    lines.append(f"smallest input that runs: {'x'.join(map(str, report.smallest))}")
    largest = "x".join(map(str, (channels, *[report.largest] * n)))
    lines.append(f"largest input that runs: {largest}"
                 if report.largest else
                 f"largest: every size up to {report.limit} runs (larger ones not tried: "
                 f"--max)" if not report.gaps else
                 f"largest: no size up to {report.limit} is too large, though some do not run "
                 f"(larger ones not tried: --max)")
    strided = [s for s in report.strided if not s.skips]
    if strided:
        names = ", ".join(dict.fromkeys(  # a layer called twice is one layer
            f"{s.layer} (stride {'x'.join(map(str, s.stride))})" for s in strided))
        lines.append(f"strided layers: {names}; the pattern repeats every {report.period} "
                     f"{pixels}")
    for skip in (s for s in report.strided if s.skips):
        lines.append(f"{skip.layer} ({skip.type}) has a window smaller than its stride: it skips "
                     f"{rows} by design, so it is not counted")
    top = report.largest or report.limit
    shown = ", ".join(map(str, report.clean[:12])) + (", ..." if len(report.clean) > 12 else "")
    lines.append(f"sizes up to {top} that pass every stride without dropping {pixels}: "
                 f"{report.rule}: {shown}" if report.clean else
                 f"no size up to {top} passes every stride without dropping {pixels}")
    if given:
        at = "x".join(map(str, given))
        if not report.given_runs:
            lines.append(f"at {at}: the network does not run (`convscope summary` says why)")
        elif report.drops_given:
            lines += [f"at {at}:"] + list(dict.fromkeys(f"  {d.text()}"
                                                        for d in report.drops_given))
        else:
            lines.append(f"at {at}: no layer drops {pixels}")
    return "\n".join(lines) + "\n"
