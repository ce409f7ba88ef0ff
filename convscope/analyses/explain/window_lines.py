"""The lines for a sliding window, a conv's or a pool's: each output size by its formula (with
PyTorch's number where the two disagree), what a pool computes and how much of the map it drops;
and the notes: the rows and columns no window reaches, the padding that would keep a stride-1
conv's size, padding done before the window. An adaptive pool says its sizes. A conv's weights and
MACs are in ``conv_lines``.

For LeNet-5's 2x2/2 max pool on a 6x28x28 map::

    output height = ⌊(28 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 14
    no parameters: a fixed maximum over each 2x2 window (1,176 windows × 4 = 4,704 FLOPs, ...)
    keeps 1,176 of the 4,704 input values, the maximum of each window: 75% of the activations ...
"""
from __future__ import annotations

from math import prod

from ...graph import Node
from ...rules import cost_of
from ..highlights import percent
from ..windows import AXES, UNITS, Window, pixels
from .conv_lines import conv_lines


def window_lines(node: Node, window: Window, first,
                 row_nodes=()) -> tuple[list[str], list[str]]:
    """(lines, notes) for the conv or pool op ``node``; ``first``: the tensor its layer received;
    ``row_nodes``: the ops of its row (a padding op before the window says its mode)."""
    size = node.args[0].shape[2:]
    # a 1-d pool runs as a 2-d one on an unsqueezed input: its added axis is not the layer's
    added = max(0, len(node.args[0].shape) - len(first.shape)) if first is not None else 0
    own = len(size) - added
    axes = [""] * added + AXES.get(own, [f"dim {d}" for d in range(own)])
    lines = _output_size_lines(node, window, axes, added)
    if window.kind in ("conv", "transposed"):
        lines += conv_lines(node, window)
        notes = keep_size_notes(node, window, first)
    else:
        lines += _pool_lines(node, window, own, added)
        notes = []
    notes += remainder_notes(window, size, axes, added)
    return lines, notes + _padded_before_notes(node, first, row_nodes)


def _output_size_lines(node: Node, window: Window, axes, added: int) -> list[str]:
    size, out = node.args[0].shape[2:], node.outputs[0].shape[2:]
    lines = []
    for d in range(added, len(size)):
        h, value = size[d], window.output_size(size[d], d)
        torch_says = f" (PyTorch gives {out[d]})" if value != out[d] else ""
        if window.ceil_mode and value != -(-window.span(h, d) // window.stride[d]) + 1:
            lines.append(f"output {axes[d]} = {window.formula(h, d)} − 1 = {value}{torch_says} "
                         f"(the last window would start in the padding, so PyTorch drops it)")
        else:
            lines.append(f"output {axes[d]} = {window.formula(h, d)} = {value}{torch_says}")
    return lines


def _pool_lines(node: Node, window: Window, own: int, added: int) -> list[str]:
    kind = "maximum" if window.kind == "max" else "average"
    kernel = ("x".join(map(str, window.kernel[added:])) if own > 1 else
              f"{window.kernel[-1]}-wide")
    lines = [f"no parameters: a fixed {kind} over each {kernel} window "
             f"({prod(node.outputs[0].shape):,} windows × {prod(window.kernel)} = "
             f"{cost_of(node).flops:,} FLOPs, not MACs)"]
    before, after = prod(node.args[0].shape), prod(node.outputs[0].shape)
    if after < before:
        lines.append(_shrink_line(window, before, after))
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


def keep_size_notes(node: Node, window: Window, first) -> list[str]:
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
        return [f"this stride-1 conv changes the size {size_text(before)} → {size_text(after)}; "
                f"padding={pad} keeps it (P = D(K−1)/2 = {d}·({k}−1)/2 = {pads[0]})"]
    odd = next(n for n in needed if n % 2)
    return [f"this stride-1 conv changes the size {size_text(before)} → {size_text(after)}, and "
            f"no symmetric padding keeps it: D(K−1) = {odd} is odd; padding='same' pads "
            f"{odd // 2} before and {odd - odd // 2} after"]


def remainder_notes(window: Window, size, axes, added: int = 0) -> list[str]:
    """Rows (columns, ...) no window reaches; identical dims are said once ("row and column").
    The first ``added`` dims are not the layer's own (a 1-d pool's unsqueezed axis)."""
    found: dict[str, list[str]] = {}
    for d in range(added, len(size)):
        unseen = _unseen_text(window, size[d], d, len(size) - added)
        if unseen is not None:
            text, plural = unseen
            unit = UNITS.get(axes[d], "position")
            found.setdefault(text, []).append(unit + ("s" if plural else ""))
    return [text.replace("{units}", " and ".join(units)) for text, units in found.items()]


def _unseen_text(window: Window, h: int, d: int, spatial: int) -> tuple[str, bool] | None:
    """(what of dim ``d``, of size ``h``, no window reads, with ``{units}`` where its name goes;
    whether that name is plural), or None when the windows read it all."""
    rest, real = window.unseen(h, d)
    k, s = window.effective_kernel(d), window.stride[d]
    lost = (f"all padding, no input {pixels(spatial, False)} is lost" if not real else
            f"input {pixels(spatial)}, not padding" if real == rest else
            f"{real} of them input, {rest - real} padding")
    if window.skips(d):
        text = f"{k}-wide windows step by {s}: {s - k} of every {s} {{units}} are never looked at"
        if rest and rest != s - k:  # the padded input does not end with one whole gap
            text += f", and after the last window the last {rest} ({lost})"
        return text, True
    if not rest:
        return None
    return (f"({h} + 2·{window.padding[d]} − {window.dilation[d]}·({window.kernel[d]}−1) − 1) = "
            f"{window.span(h, d)} is not divisible by {s}: the last {rest} {{units}} of the padded "
            f"input {'are' if rest > 1 else 'is'} never looked at ({lost})"), rest > 1


# the op that pads a conv's input, by padding_mode; seed 004 has circular "flip" the image, but it
# wraps around. PyTorch builds the circular padding as an empty tensor filled by copies
PAD_MODES = (
    ("aten.reflection_pad", "padding_mode='reflect': it mirrors the values inside each edge, "
                            "e.g. [1, 2, 3, 4] padded by 1 → [2, 1, 2, 3, 4, 3]"),
    ("aten.replication_pad", "padding_mode='replicate': it repeats the edge value, e.g. "
                             "[1, 2, 3, 4] padded by 1 → [1, 1, 2, 3, 4, 4]"),
    ("aten.new_empty", "padding_mode='circular': it wraps around, the padding at each edge "
                       "copies the opposite edge, e.g. [1, 2, 3, 4] padded by 1 → "
                       "[4, 1, 2, 3, 4, 1]"),
    ("aten.constant_pad_nd", "zeros: padding='same' with an even kernel pads one row more after "
                             "than before"),
)


def _padded_before_notes(node: Node, first, row_nodes=()) -> list[str]:
    pre = node.args[0]
    if first is None or len(first.shape) != len(pre.shape) or first.shape == pre.shape:
        return []
    producer = next((n.packet for n in row_nodes
                     if pre.kind == "node" and n.index == pre.source), "")
    mode = next((text for prefix, text in PAD_MODES if producer.startswith(prefix)),
                "padding_mode other than zeros, or padding='same' with an even kernel")
    return [f"the input is padded before the window: {size_text(first.shape[2:])} → "
            f"{size_text(pre.shape[2:])} ({mode})"]


def adaptive_line(node: Node) -> str:
    """An adaptive pool's sizes, and the plain window it amounts to when the sizes divide."""
    size, out = node.args[0].shape[2:], node.outputs[0].shape[2:]
    text = _whatever_the_input(size, out)
    if all(o and h % o == 0 for h, o in zip(size, out)):
        steps = [h // o for h, o in zip(size, out)]
        text += (f": a plain {size_text(steps)} window with stride {size_text(steps)}"
                 if max(steps) > 1 else ": the identity")
    return text + "; no parameters"


def adaptive_sizes_line(before, after) -> str:
    """An adaptive layer that ran as some other op (AdaptiveAvgPool2d(1) runs as a mean)."""
    return _whatever_the_input(before, after) + "; no parameters"


def _whatever_the_input(before, after) -> str:
    return (f"output {size_text(after)} whatever the input; here {size_text(before)} → "
            f"{size_text(after)}")


def size_text(values) -> str:
    """``[30, 30]`` -> ``30x30``; no values, ``""`` (``validate.dims`` writes ``()``)."""
    return "x".join(map(str, values))
