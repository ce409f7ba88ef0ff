"""What the notes point out about a whole network, computed for this one.

- A depthwise conv followed by a 1x1 conv (MobileNet's depthwise separable conv) against the
  standard conv it replaces. With N output channels and a Dk x Dk kernel, the cost ratio is
  1/N + 1/Dk², as in Howard et al. 2017 (who call the input channels M). Seed 002 swaps the names
  (N input, M output channels) and writes the same ratio as 1/M + 1/D_K²: the first term is one
  over the *output* channels either way.
- A stack of small stride-1 convs against the one larger conv of the same receptive field
  (cs231n): three 3x3 convs see 7x7, as one 7x7 conv does, with 3·(3²·C²) = 27C² weights
  against 49C² when every volume has C channels.
- How deep the network is, as papers count it: the weight layers on its longest path (VGG16
  16, GoogLeNet 22; ``depth``).
- Where the parameters, the MACs and the activation memory sit: for VGG16 the FC layers hold
  most of the weights and the early convs most of the memory (cs231n); the convs take 99.2% of
  the MACs, spread over the blocks rather than held by the first layers.
"""
from __future__ import annotations

from fractions import Fraction

from ..graph import Graph, Node
from ..rules import cost_of
from .windows import window_of

HOPS = 6  # ops walked back from a 1x1 conv to find its depthwise conv (BN, ReLU6, ...)


def _is_depthwise(node: Node) -> bool:
    window = window_of(node)
    return (window is not None and window.kind == "conv" and window.groups > 1
            and window.groups == node.args[0].shape[1] == node.args[1].shape[0])


def _is_pointwise(node: Node) -> bool:
    window = window_of(node)
    return (window is not None and window.kind == "conv" and window.groups == 1
            and all(k == 1 for k in window.kernel) and all(s == 1 for s in window.stride))


def _passes_through(node: Node):
    """The single data input of an op that keeps the shape (BN, activations), else None."""
    data = [r for r in node.refs if r.kind in ("node", "input")]
    if len(data) == 1 and node.outputs and data[0].shape == node.outputs[0].shape:
        return data[0]
    return None


def _depthwise_before(graph: Graph, node: Node) -> Node | None:
    ref = node.args[0]
    for _ in range(HOPS):
        if ref is None or ref.kind != "node":
            return None
        found = graph.nodes[ref.source]
        if _is_depthwise(found):
            return found
        ref = _passes_through(found)
    return None


def _name(graph: Graph, node: Node) -> str:
    call = graph.calls[node.call] if node.call is not None else None
    return call.name if call is not None and call.name else node.packet.removeprefix("aten.")


def separable_pairs(graph: Graph, layer: str | None = None) -> tuple[str, ...]:
    """One sentence per depthwise + pointwise pair, with the standard conv's cost."""
    found = []
    for node in graph.nodes:
        depthwise = _depthwise_before(graph, node) if _is_pointwise(node) else None
        if depthwise is None:
            continue
        names = (_name(graph, depthwise), _name(graph, node))
        if layer is not None and layer not in names:
            continue
        found.append(_pair_text(depthwise, node, names))
    return tuple(found)


def _pair_text(depthwise: Node, pointwise: Node, names) -> str:
    m, n = depthwise.args[0].shape[1], pointwise.args[1].shape[0]
    kh, kw = depthwise.args[1].shape[2], depthwise.args[1].shape[-1]
    out = depthwise.outputs[0].shape
    positions = out[0] * out[2] * (out[3] if len(out) > 3 else 1)
    dw, pw = cost_of(depthwise).macs, cost_of(pointwise).macs
    standard = positions * n * m * kh * kw
    size = " × ".join(map(str, out[2:]))
    kernel = f"{kh}x{kw}"
    formula = (f" = 1/N + 1/Dk² = 1/{n} + 1/{kh}² = {1 / n + 1 / kh**2:.4f} (N = {n} output "
               f"channels, Dk = {kh}; the notes call the output channels M)" if kh == kw else "")
    return (f"{names[0]} + {names[1]}: depthwise {kernel} on {m} channels, then pointwise 1x1 "
            f"{m} → {n}: MACs {dw:,} + {pw:,} = {dw + pw:,}. A standard {kernel} conv {m} → {n} "
            f"would take {size} positions × {n} × {m} × {kh} × {kw} = {standard:,} MACs; "
            f"ratio {dw + pw:,} / {standard:,} = {(dw + pw) / standard:.4f}{formula}.")


def _is_small_conv(node: Node) -> bool:
    """A stride-1, undilated, ungrouped conv with a square kernel larger than 1: what VGG stacks."""
    window = window_of(node)
    return (window is not None and window.kind == "conv" and window.groups == 1
            and len(set(window.kernel)) == 1 and window.kernel[0] > 1
            and all(s == 1 for s in window.stride) and all(d == 1 for d in window.dilation))


def _small_conv_before(graph: Graph, node: Node) -> Node | None:
    """The conv of the same kernel that feeds ``node`` through shape-keeping ops only (ReLU, BN);
    any other window (a pool, a conv of another kernel or stride) ends the stack."""
    ref = node.args[0]
    for _ in range(HOPS):
        if ref is None or ref.kind != "node":
            return None
        found = graph.nodes[ref.source]
        if window_of(found) is not None:
            same = _is_small_conv(found) and found.args[1].shape[2:] == node.args[1].shape[2:]
            return found if same else None
        ref = _passes_through(found)
    return None


def stacked_convs(graph: Graph, layer: str | None = None) -> tuple[str, ...]:
    """One sentence per stack of two or more small convs, with the one conv it stands for."""
    before = {node.index: prev for node in graph.nodes if _is_small_conv(node)
              for prev in [_small_conv_before(graph, node)] if prev is not None}
    found = []
    for end in sorted(set(before) - {prev.index for prev in before.values()}):
        chain = [graph.nodes[end]]
        while chain[0].index in before:
            chain.insert(0, before[chain[0].index])
        names = tuple(_name(graph, node) for node in chain)
        reused = len({(node.args[1].kind, node.args[1].source) for node in chain}) < len(chain)
        if not reused and (layer is None or layer in names):  # one conv called twice: no stack
            found.append(_stack_text(chain, names))
    return tuple(found)


COUNTS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _stack_text(chain: list[Node], names) -> str:
    n, dims, k = len(chain), len(chain[0].args[1].shape) - 2, chain[0].args[1].shape[2]
    power = {1: "", 2: "²", 3: "³"}[dims]
    channels = [chain[0].args[1].shape[1]] + [node.args[1].shape[0] for node in chain]
    big = 1 + n * (k - 1)  # each stride-1 k-wide conv widens the field by k - 1
    stack = sum(k**dims * a * b for a, b in zip(channels, channels[1:]))
    one = big**dims * channels[0] * channels[-1]
    # 3 -> "3x3" (1-d: "3-wide")
    square = {side: "x".join([str(side)] * dims) if dims > 1 else f"{side}-wide"
              for side in (k, big)}
    pairs = " + ".join(f"{a}·{b}" for a, b in zip(channels, channels[1:]))
    text = (f"{' + '.join(names)}: {COUNTS.get(n, n)} {square[k]} stride-1 convs "
            f"{' → '.join(map(str, channels))} see {square[big]} of their input "
            f"(1 + {n}·({k}−1) = {big}), as one {square[big]} conv would; weights ")
    c = channels[0]
    general = f"{n}·({k}{power}·C²) = {n * k**dims}C² against {big}{power}·C² = {big**dims}C²"
    if len(set(channels)) == 1:
        return (text + f"{general} with C = {c}: {stack:,} against {one:,} (ratio "
                f"{stack / one:.4f}).")
    text += (f"{k}{power}·({pairs}) = {stack:,} against {big}{power}·{c}·{channels[-1]} = "
             f"{one:,} for one {square[big]} conv {c} → {channels[-1]} (ratio {stack / one:.4f})")
    if stack > one:  # VGG's first stack widens 3 channels to 64
        text += (f"; more here, as the inner volumes have {channels[1]} channels and the input "
                 f"{c}: with C channels throughout it would be {general}")
    return text + "."


def _family(kind: str) -> str:
    return "Linear" if kind == "Linear" else "conv" if "Conv" in kind else kind


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` in percent, one decimal, or as many more as it takes not to round a
    share that is not exactly 0 or 100% to 0.0% or 100.0%: 1 of 50,176 is 0.002%, and the other
    50,175 are 99.998%, not 100.0%. Exact (a Fraction), so no float rounding decides it."""
    share = Fraction(100 * part, whole)
    digits = 1
    while True:
        scaled = round(share * 10 ** digits)  # half to even, as format() rounds
        if share in (0, 100) or 0 < scaled < 100 * 10 ** digits:
            break
        digits += 1
    text = str(scaled).rjust(digits + 1, "0")
    return f"{text[:-digits]}.{text[-digits:]}%"


def _by_family(layers, amount) -> tuple[str, int, int]:
    """The layer family (conv, Linear, ...) with the most of ``amount``: family, sum, layers."""
    by_family: dict[str, int] = {}
    for layer in layers:
        by_family[_family(layer.type)] = by_family.get(_family(layer.type), 0) + amount(layer)
    family, held = max(by_family.items(), key=lambda item: item[1])
    return family, held, sum(1 for x in layers if _family(x.type) == family and amount(x))


def _half_point(layers, amount) -> int:
    """The index of the layer at which the running sum of ``amount`` reaches half the total."""
    total, running = sum(amount(layer) for layer in layers), 0
    for index, layer in enumerate(layers):
        running += amount(layer)
        if running * 2 >= total:
            return index
    return len(layers) - 1


def where_things_sit(layers, total_params: int) -> tuple[str, ...]:
    """Three sentences: which layers hold the parameters, which take the MACs, which allocate
    the activation memory."""
    lines = []
    if len(layers) < 2:
        return ()
    if total_params:
        family, held, count = _by_family(layers, lambda layer: layer.params)
        top = max(layers, key=lambda layer: layer.params)
        lines.append(
            f"parameters: the {count} {family} layer{'s hold' if count != 1 else ' holds'} "
            f"{held:,} of "
            f"{total_params:,} ({percent(held, total_params)}); the largest is {top.name} "
            f"({top.type}) with {top.params:,} ({percent(top.params, total_params)}).")
    macs = sum(layer.macs for layer in layers)
    if macs:
        family, held, count = _by_family(layers, lambda layer: layer.macs)
        half = _half_point(layers, lambda layer: layer.macs)
        top = max(layers, key=lambda layer: layer.macs)
        lines.append(
            f"MACs: the {count} {family} layer{'s take' if count != 1 else ' takes'} {held:,} "
            f"of {macs:,} ({percent(held, macs)}); the first {half + 1} of {len(layers)} "
            f"layers (through {layers[half].name}) take half; the largest is {top.name} "
            f"({top.type}) with {top.macs:,} ({percent(top.macs, macs)}).")
    memory = sum(layer.allocated_bytes for layer in layers)
    if memory:
        half = _half_point(layers, lambda layer: layer.allocated_bytes)
        top = max(layers, key=lambda layer: layer.allocated_bytes)
        lines.append(
            f"activation memory: the first {half + 1} of {len(layers)} layers (through "
            f"{layers[half].name}) allocate half of the {human_bytes(memory)} the forward "
            f"allocates; "
            f"the largest is {top.name} ({top.type}) with {human_bytes(top.allocated_bytes)}.")
    return tuple(lines)


def human_bytes(value: int) -> str:
    """``36000`` -> ``35.16 KiB`` (1024-based, as the summary table's memory columns)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,} bytes"


LISTED = 24  # weight layers named in full up to this many (GoogLeNet's 22); longer: both ends


def depth_line(names: tuple[str, ...]) -> str:
    """``16 weight layers on the longest path ...: features.0 → ... → classifier.6``; "" for a
    network without one."""
    if not names:
        return ""
    shown = names if len(names) <= LISTED else (*names[:10], "…", *names[-3:])
    return (f"{len(names)} weight layer{'s' * (len(names) > 1)} on the longest path from the "
            f"input to the output (convs and Linears; layers side by side count once, as papers "
            f"count depth): {' → '.join(shown)}.")
