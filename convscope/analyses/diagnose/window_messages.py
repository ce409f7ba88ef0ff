"""Messages for a sliding window or a padding that does not fit the feature map it reaches: a map
that has shrunk below a conv's or pool's window, a pool padded by more than half its window, and
reflect padding as large as the side it mirrors.
"""
from __future__ import annotations

from ..validate import axis_names, dims
from ..windows import own_dims, window_of

SIZES_HINT = "(`convscope sizes MODEL` lists the sizes that work)"


def _own_dims(failure) -> tuple[int, ...]:
    """The failing window op's spatial dims that are its layer's own (``windows.own_dims``)."""
    node, nodes = failure.node, getattr(failure, "nodes", ())
    x = node.args[0]
    made = nodes[x.source] if x.kind == "node" and x.source < len(nodes) else None
    return own_dims(node, made)


def _is_the_input(failure) -> bool:
    """The failing op reads the model's input, through the ops its own layer ran first (a 1-d
    pool adds a height of 1 to run as a 2-d one)."""
    node, nodes = failure.node, getattr(failure, "nodes", ())
    x = node.args[0]
    while x.kind == "node" and x.source < len(nodes) and nodes[x.source].call == node.call \
            and nodes[x.source].refs:
        x = nodes[x.source].refs[0]
    return x.kind == "input"


def _collapse(failure, finding, ctx) -> str:
    node = failure.node
    x = node.args[0]
    # a 1-d pool runs as a 2-d one on a height of 1: its words are the length's alone
    window, own = window_of(node), _own_dims(failure)
    size, names = [x.shape[2 + d] for d in own], axis_names(len(own))
    steps = "; ".join(f"output {names[i]} = {window.formula(size[i], d)} = "
                      f"{window.output_size(size[i], d)}"
                      for i, d in enumerate(own) if window.output_size(size[i], d) < 1)
    if steps:
        steps += ", and a size must be at least 1"
    else:  # every output size fits: avg_pool3d's own rule, which leaves its padding out
        steps = ("PyTorch's 3-d average pool needs every side at least its window, padding "
                 "not counted: " + ", ".join(
                     f"{names[i]} {size[i]} < {window.effective_kernel(d)}"
                     for i, d in enumerate(own) if size[i] < window.effective_kernel(d)))
    kernel = "x".join(str(window.effective_kernel(d)) for d in own)
    given = f"the input {dims(ctx.input_shapes[0])}" if ctx.input_shapes else "the input"
    reaching = (f"the input is {dims(size)}" if _is_the_input(failure) else
                f"the feature map has shrunk to {dims(size)} before this layer")
    # one layer alone (convscope conv, or a Conv2d analysed by itself) has no network to list
    leaves = 2 if ctx.model is None else sum(1 for m in ctx.model.modules() if not any(
        True for _ in m.children()))
    hint = f" {SIZES_HINT}" if leaves > 1 else ""
    return (f"{finding.where}: {reaching}, too small for its {kernel} window: {steps}. Fix: "
            f"{given} is too small for this network; {ctx.smallest_text()}{hint}.")


def _padding(failure, finding, ctx) -> str:
    window, own = window_of(failure.node), _own_dims(failure)
    # the dim whose padding is too large (a 1-d pool's added height is padded by 0)
    d = next((d for d in own if window.padding[d] > window.effective_kernel(d) // 2), own[0])
    k = window.effective_kernel(d)
    return (f"{finding.where}: padding {window.padding[d]} is more than half the {k}-wide "
            f"window; PyTorch pools with padding at most ⌊{k}/2⌋ = {k // 2}. Fix: padding="
            f"{k // 2} or less, or a larger kernel.")


def _reflect(failure, finding, ctx) -> str:
    """Reflect padding mirrors the values inside the edge, without repeating it: a side of W
    has W - 1 to mirror, so each side's padding P must be < W (torch's own check)."""
    x, pads = failure.node.args[0], list(failure.node.args[1])
    n = len(pads) // 2  # pads run from the last axis: (left, right, top, bottom, front, back)
    sides = [(name, size, max(pads[2 * (n - 1 - i)], pads[2 * (n - 1 - i) + 1]))
             for i, (name, size) in enumerate(zip(axis_names(n), x.shape[-n:]))]
    bad = [side for side in sides if side[2] >= side[1]]
    most, fits = max(p for _, _, p in bad), min(size for _, size, _ in bad)
    rule = " and ".join(f"P < {name[0].upper()}" for name, _, _ in bad)
    checks = ", ".join(f"the {name} is {size} ≤ {p}" for name, size, p in bad)
    spatial = dims(x.shape[-n:]) if n > 1 else f"length-{x.shape[-1]}"
    if x.kind == "input":  # each mirrored side one longer than its padding
        what, needed = "input", [max(size, p + 1) for _, size, p in sides]
        bigger = f"an input of at least {dims([*ctx.input_shapes[0][:-n], *needed])}" \
            if ctx.input_shapes else "a larger input"
    else:
        what, bigger = "feature map it receives", f"a larger input ({ctx.smallest_text()})"
    module = ctx.module(finding.layer) if finding.layer is not None else None
    kind = type(module).__name__ if module is not None else ""
    if getattr(module, "padding_mode", None) == "reflect":
        fix = (f"padding={fits - 1} or less, or padding_mode='zeros' or 'replicate' (any "
               f"padding) or 'circular' (padding at most {fits})")
    elif kind.startswith("ReflectionPad"):
        fix = (f"padding {fits - 1} or less on each side, e.g. nn.{kind}({fits - 1}), or "
               f"nn.ReplicationPad{n}d or nn.ZeroPad{n}d (any padding) or nn.CircularPad{n}d "
               f"(padding at most {fits})")
    else:
        fix = (f"F.pad(..., mode='reflect') with padding {fits - 1} or less, or mode='replicate' "
               f"or 'constant' (any padding) or 'circular' (padding at most {fits})")
    return (f"{finding.where}: reflect padding {most} is too large for the {spatial} {what}: "
            f"reflection mirrors the values inside each edge, so the padding must be smaller "
            f"than the side it mirrors ({rule}), and {checks}. Fix: {fix}; or {bigger}.")


def _circular(failure, finding, ctx) -> str:
    """Circular padding copies the far edge in, once: each side's padding is at most the side
    (torch checks it before any op runs, so the sizes come from the layer's input)."""
    inputs = getattr(failure, "inputs", ())
    sides = list(inputs[0].shape[2:]) if inputs and hasattr(inputs[0], "shape") else []
    module = ctx.module(finding.layer) if finding.layer is not None else None
    padding = getattr(module, "padding", None)
    given = f" of {padding}" if padding is not None else ""
    reaching = f" the {dims(sides)} map it receives" if sides else " the map it receives"
    others = ("padding_mode='zeros' or 'replicate'" if hasattr(module, "padding_mode") else
              f"nn.ZeroPad{len(sides) or 2}d or nn.ReplicationPad{len(sides) or 2}d")
    fix = (f"padding={min(sides)} or less, " if sides else "a smaller padding, ") + \
        f"or {others} (any padding); or a larger input"
    return (f"{finding.where}: circular padding{given} wraps more than once around{reaching}: "
            f"it copies the opposite edge in, so each side's padding can be at most that side. "
            f"Fix: {fix}.")


WORDS = {"collapse": _collapse, "padding": _padding, "reflect": _reflect,
         "circular": _circular}
