"""Turn a failed trace into one message that names the layer, shows the arithmetic with the
layer's numbers, and says how to fix it.

``classify(failure)`` says what went wrong in numbers (a ``Finding``); ``diagnose`` words it.
The failing op's arguments (``failure.node``), the ops before it (``failure.nodes``) and the
module calls (``failure.calls``, ``failure.all_calls``) are all it reads; nothing here runs torch:
the smallest input that works comes in through the ``smallest`` callback (``probe``).
Checks on graphs that traced fine, and on models that cannot be built, are in ``validate``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from math import isqrt, prod
from typing import Callable

from ..errors import ConvscopeError, ModelError, TraceError
from ..graph import Node
from .validate import (SPATIAL_TYPES, axis_names, conv_channels, dims, dtype_text, float_dtypes,
                       fuller, groups_text, unbatched_text)
from .windows import MATMUL_OPS, VIEW_OPS, own_dims, unsqueezed_by_layer, window_of

DATA_DEPENDENT = ("item()", "data-dependent", "DataDependentOutput", "DynamicOutputShape",
                  "meta tensors", "Cannot copy out of meta tensor", "data_ptr", "numpy()")
RANK = re.compile(r"Expected \d+D \(unbatched\) or (\d+)D \(batched\) input to \w+, but got "
                  r"input of size: \[([\d, ]*)\]|expected (\d+)D input \(got (\d+)D input\)")
RUNNING = re.compile(r"running_mean should contain (\d+) elements not (\d+)")
# BatchNorm in training mode, one value per channel: F.batch_norm's own check
ONE_VALUE = re.compile(r"Expected more than 1 value per channel when training, got input size "
                       r"(?:torch\.Size\()?\[([\d, ]*)\]")
# torch's words for dtypes in its type-mismatch messages
DTYPE_MESSAGE = re.compile(r"Input type \(([\w: ]+)\) and (?:bias|weight) type \(([\w:]+)\)|"
                           r"expected scalar type (\w+) but found (\w+)|"
                           r"must have the same dtype, but got (\w+) and (\w+)")
# an embedding fed floats: torch's check (CPU kernel, meta embedding) and embedding_bag's meta one
INDICES = re.compile(r"argument #\d+ 'indices' to have one of the following scalar types: "
                     r"Long, Int; but got (?:torch\.)?(\w+)|expected indices to be long or int, "
                     r"got torch\.(\w+)")
# autograd's check on a saved tensor, as the training step's simulation raises it
CHANGED = re.compile(r"modified by an inplace operation: \[(\w+) \[([\d, ]*)\]\] is at version "
                     r"(\d+); expected version (\d+)")
TORCH_TYPES = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16",
               "c10::half": "float16", "c10::bfloat16": "bfloat16",
               # an integer or bool input to a floating layer (--dtype int64): torch's C names
               "long int": "int64", "long": "int64", "int": "int32", "short int": "int16",
               "signed char": "int8", "unsigned char": "uint8", "bool": "bool"}
SIZES_HINT = "(`convscope sizes MODEL` lists the sizes that work)"
# F.max_pool1d's own checks, which run before it dispatches any op
POOL1D_CHECK = re.compile(r"max_pool1d\(\) (?:Invalid computed output size|padding should be)")


@dataclass(frozen=True)
class Finding:
    """What went wrong. ``kind``: channels, groups, collapse, padding, reflect, features, rank,
    inputs, indices, dtype, one_value, changed, data or other; ``got`` and ``expected`` are the two
    numbers that disagree."""

    kind: str
    layer: str | None
    where: str  # "layer features.0 (Conv2d)"
    got: int | None = None
    expected: int | None = None


def _where(failure) -> tuple[str | None, str, str]:
    """(qualified name, type, words) of the innermost named module that was running."""
    chain = [c for c in failure.calls if c.name]
    if not chain:
        kind = failure.calls[0].type if failure.calls else "model"
        return None, kind, f"the model's own forward ({kind})"
    return chain[-1].name, chain[-1].type, f"layer {chain[-1].name} ({chain[-1].type})"


def _carried(node, channels: bool):
    """The one data input an op merely carries forward: reshapes, and when ``channels``, ops
    that keep the channel count (ReLU, BatchNorm, pooling). None for any other op."""
    data = [r for r in node.refs if r.kind in ("node", "input")]
    if len(data) != 1:
        return None
    window = window_of(node)
    keeps = (channels and (window is None or window.kind in ("max", "avg")) and node.outputs
             and data[0].shape[1:2] == node.outputs[0].shape[1:2])
    return data[0] if node.packet in VIEW_OPS or keeps else None


def _made_by(failure, index: int, channels: bool = False) -> str:
    """The layer whose op ``index`` made a tensor, looking through ``_carried`` ops."""
    nodes, calls = getattr(failure, "nodes", ()), getattr(failure, "all_calls", ())
    if not 0 <= index < len(nodes):
        return "the previous op"
    node = nodes[index]
    while (ref := _carried(node, channels)) is not None:
        if ref.kind == "input":
            return "the model's input"
        node = nodes[ref.source]
    if node.call is not None and node.call < len(calls) and calls[node.call].name:
        return f"layer {calls[node.call].name} ({calls[node.call].type})"
    return "the previous op"


def _producer(failure, ref, channels: bool = False) -> str:
    if ref is None or ref.kind == "input":
        return "the model's input"
    return _made_by(failure, ref.source, channels) if ref.kind == "node" else "the previous op"


def _unflattened(failure, ref):
    """The shape ``ref`` had before the views that flattened it (None if it was not flattened)."""
    nodes, shape = getattr(failure, "nodes", ()), None
    while ref is not None and ref.kind == "node" and ref.source < len(nodes):
        node = nodes[ref.source]
        if node.packet not in VIEW_OPS:
            break
        ref = node.args[0]
        shape = ref.shape if len(ref.shape) > 2 else shape
    return shape


def _unbatched(failure) -> bool:
    """The layer unsqueezed its own input: PyTorch read it as one unbatched sample."""
    node, nodes = failure.node, getattr(failure, "nodes", ())
    if node is None or window_of(node) is None or getattr(node.args[0], "kind", "") != "node":
        return False
    made = nodes[node.args[0].source] if node.args[0].source < len(nodes) else None
    # a batch added in front (dim 0); a 1-d pool adds a height of 1 to run as a 2-d one
    return unsqueezed_by_layer(node, made) == 0


def with_pool_check(failure, model):
    """``failure``, with the op a 1-d max pool's check stood for when that check refused it.

    ``F.max_pool1d`` checks its output size and padding before it dispatches any op, so a 1-d
    max pool that collapses leaves no failing op to read its window and input from (a 2-d pool
    fails in its op, which the recorder keeps). The op is rebuilt as ``aten.max_pool1d`` on the
    tensor the layer received, with the window its module was built with."""
    if failure.node is not None or not failure.inputs or model is None or not failure.calls \
            or not POOL1D_CHECK.search(str(failure.cause)):
        return failure
    call = failure.calls[-1]
    module = dict(model.named_modules()).get(call.name) if call.name else None
    window = [getattr(module, a, None) for a in ("kernel_size", "stride", "padding", "dilation")]
    x = failure.inputs[0]
    if None in window or len(getattr(x, "shape", ())) < 3:
        return failure
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    node = Node(len(failure.nodes), "aten.max_pool1d.default", (x, *window, ceil_mode), {}, (),
                call.index, refs=(x,))
    return replace(failure, node=node)


def classify(failure) -> Finding:
    layer, _, where = _where(failure)
    cause, node = failure.cause, failure.node
    message = str(cause)
    if any(marker in f"{type(cause).__name__} {message}" for marker in DATA_DEPENDENT):
        return Finding("data", layer, where)
    if RANK.search(message) or _unbatched(failure):
        return Finding("rank", layer, where)
    if isinstance(cause, TypeError) and "positional argument" in message and layer is None:
        return Finding("inputs", layer, where)
    if INDICES.search(message):  # before dtype: a float16 index meets float32 weights too
        return Finding("indices", layer, where)
    if _dtypes_met(failure):
        return Finding("dtype", layer, where)
    if ONE_VALUE.search(message):
        return Finding("one_value", layer, where)
    if CHANGED.search(message):
        return Finding("changed", layer, where)
    if node is not None and node.packet.startswith("aten.reflection_pad") and \
            "Padding size should be less" in message:
        return Finding("reflect", layer, where)
    running = RUNNING.search(message)  # "should contain <channels arriving> elements not <C>"
    if running:
        return Finding("channels", layer, where, int(running.group(1)), int(running.group(2)))
    window = window_of(node) if node is not None else None
    if window is not None and window.kind in ("max", "avg") and (
            "pad should be" in message or "padding should be" in message):
        return Finding("padding", layer, where)
    if window is not None and window.kind in ("conv", "transposed"):
        x, weight = node.args[0], node.args[1].shape
        expected = weight[0 if window.kind == "transposed" else 1] * window.groups
        if x.shape[1] != expected:
            kind = "groups" if window.groups > 1 and x.shape[1] % window.groups else "channels"
            return Finding(kind, layer, where, x.shape[1], expected)
    if window is not None and any(window.output_size(h, d) < 1
                                  for d, h in enumerate(node.args[0].shape[2:])):
        return Finding("collapse", layer, where)
    if node is not None and node.packet in MATMUL_OPS and len(node.args) >= 2:
        a, b = (node.args[1], node.args[2]) if node.packet == "aten.addmm" else node.args[:2]
        return Finding("features", layer, where, a.shape[-1], b.shape[-2])
    return Finding("other", layer, where)


@dataclass(frozen=True)
class _Context:
    model: object
    input_shapes: list
    smallest: Callable | None
    one_input: bool = False  # the caller feeds one tensor (training), not a shape per argument

    def module(self, name: str):
        """The module of that qualified name ("" is the model), or None."""
        return dict(self.model.named_modules()).get(name) if self.model is not None else None

    def built(self, name) -> str:
        """The layer as it was built: ``Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))``."""
        module = self.module(name) if name is not None else None
        return repr(module).split("\n")[0] if module is not None else ""

    def dtypes(self, layer: str | None) -> list[str]:
        """The floating dtypes of the parameters of ``layer`` (None: of the whole model)."""
        module = self.module(layer if layer is not None else "")
        found = {str(p.dtype).removeprefix("torch.") for p in module.parameters()
                 if p.is_floating_point()} if module is not None else set()
        return sorted(found)

    def smallest_text(self) -> str:
        found = self.smallest() if self.smallest is not None else None
        return f"the smallest input that works is {dims(found)}" if found else \
            "no input size up to 4096 works"


def diagnose(failure, model=None, *, input_shapes=None,
             smallest: Callable[[], tuple | None] | None = None,
             one_input: bool = False) -> ConvscopeError:
    """The one error to show for a ``trace.TraceFailure``.

    ``model`` lets the message quote the layer as built; ``input_shapes`` (without the batch)
    lets it refer to the input; ``smallest()`` finds the smallest input that works, when needed;
    ``one_input``: the caller can feed only one tensor, so a shape per argument is no fix.
    """
    if isinstance(failure.cause, ConvscopeError):
        return failure.cause
    failure = with_pool_check(failure, model)
    finding = classify(failure)
    context = _Context(model, [list(s) for s in input_shapes or []], smallest, one_input)
    short = _short_input(failure, context)
    if short is not None:
        return ModelError(short[0], layer=short[1])
    message = _WORDS.get(finding.kind, _other)(failure, finding, context)
    return (TraceError if finding.kind == "data" else ModelError)(message, layer=finding.layer)


def _short_input(failure, ctx) -> tuple[str, str] | None:
    """(message, layer) when the input lacks a dimension of the first conv or pool. With
    --input 32x32, LeNet's 1-channel conv reads [1, 32, 32] as one unbatched image and runs;
    the trace fails layers later, where no input size would help."""
    calls, nodes = getattr(failure, "all_calls", ()), getattr(failure, "nodes", ())
    first = next((c for c in calls if SPATIAL_TYPES.match(c.type)), None)
    if first is None or not ctx.input_shapes or first.first_node >= len(nodes):
        return None
    n = int(SPATIAL_TYPES.match(first.type).group(2))
    ref = nodes[first.first_node].args[0] if nodes[first.first_node].args else None
    if len(ctx.input_shapes[0]) != n or getattr(ref, "kind", "") != "input":
        return None
    return unbatched_text(f"layer {first.name} ({first.type})", ref.shape, n, True,
                          conv_channels((*nodes, failure.node), first.index)), first.name or None


def _channels(failure, finding, ctx) -> str:
    node, got, expected = failure.node, finding.got, finding.expected
    nodes = getattr(failure, "nodes", ())
    origin = (_producer(failure, node.args[0], True) if node is not None else
              _made_by(failure, len(nodes) - 1, True) if nodes else "the model's input")
    built = ctx.built(finding.layer)
    if node is not None:
        window, weight = window_of(node), list(node.args[1].shape)
        per_group = f", {weight[1]} per group x {window.groups} groups" if window.groups > 1 else ""
        what = (f"{built or 'the conv'} expects {expected} input channel{'s' * (expected != 1)}"
                f" (weight {weight}{per_group})")
        option = "in_channels"
    else:
        what, option = f"{built or 'the layer'} normalises {expected} channels", "num_features"
    text = (f"{finding.where}: channel mismatch. {what}, but the tensor arriving has {got} "
            f"channel{'s' * (got != 1)}, from {origin}.")
    if origin != "the model's input" or not ctx.input_shapes:
        layer = f"layer {finding.layer}" if finding.layer else "it"
        return text + (f" Fix: build {layer} with {option}={got}, or make {origin} output "
                       f"{expected} channels.")
    shape = ctx.input_shapes[0]
    if shape[-1] == expected and shape[0] != expected:
        return text + (f" The input {dims(shape)} looks channels-last; convscope wants channels "
                       f"first (channels x height x width): feed {dims((expected, *shape[:-1]))}.")
    return text + (f" Fix: feed a {dims((expected, *shape[1:]))} input, or build the layer with "
                   f"{option}={got}.")


def _groups(failure, finding, ctx) -> str:
    window, weight = window_of(failure.node), failure.node.args[1].shape
    out_channels = weight[1] * window.groups if window.kind == "transposed" else weight[0]
    return groups_text(finding.where, finding.got, out_channels, window.groups)


def _own_dims(failure) -> tuple[int, ...]:
    """The failing window op's spatial dims that are its layer's own (``windows.own_dims``)."""
    node, nodes = failure.node, getattr(failure, "nodes", ())
    x = node.args[0]
    made = nodes[x.source] if x.kind == "node" and x.source < len(nodes) else None
    return own_dims(node, made)


def _collapse(failure, finding, ctx) -> str:
    node = failure.node
    x = node.args[0]
    # a 1-d pool runs as a 2-d one on a height of 1: its words are the length's alone
    window, own = window_of(node), _own_dims(failure)
    size, names = [x.shape[2 + d] for d in own], axis_names(len(own))
    steps = [f"output {names[i]} = {window.formula(size[i], d)} = "
             f"{window.output_size(size[i], d)}"
             for i, d in enumerate(own) if window.output_size(size[i], d) < 1]
    kernel = "x".join(str(window.effective_kernel(d)) for d in own)
    given = f"the input {dims(ctx.input_shapes[0])}" if ctx.input_shapes else "the input"
    return (f"{finding.where}: the feature map has shrunk to {dims(size)} before this layer, "
            f"too small for its {kernel} window: {'; '.join(steps)}, and a size must be at "
            f"least 1. Fix: {given} is too small for this network; {ctx.smallest_text()} "
            f"{SIZES_HINT}.")


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


def _one_value(failure, finding, ctx) -> str:
    shape = [int(d) for d in ONE_VALUE.search(str(failure.cause)).group(1).split(",")]
    values = " x ".join(str(d) for d in (shape[0], *shape[2:]))
    return (f"{finding.where} cannot train on this batch: in training mode it normalises each "
            f"channel with the mean and variance of its batch x positions = {values} = 1 value "
            f"(the tensor arriving is {list(shape)}), and needs more than 1. Fix: a batch of 2 or "
            f"more (batch_size=2, CLI: --batch 2), or a larger input.")


def _changed(failure, finding, ctx) -> str:
    dtype, shape, now, then = CHANGED.search(str(failure.cause)).groups()
    op = f" of {failure.node.op}" if failure.node is not None else ""
    return (f"{finding.where} cannot train: the backward{op} needs the {dtype} [{shape}] tensor "
            f"it saved, and an in-place op changed that tensor after it was saved (version "
            f"{then} -> {now}), so PyTorch's backward raises \"one of the variables needed for "
            f"gradient computation has been modified by an inplace operation\". Fix: make the "
            f"later op out of place (y = y * 2, not y.mul_(2); nn.ReLU(inplace=False)), or "
            f"change a clone (y = y.clone()).")


def _features(failure, finding, ctx) -> str:
    node, got, expected = failure.node, finding.got, finding.expected
    x = node.args[1] if node.packet == "aten.addmm" else node.args[0]
    before = _unflattened(failure, x)
    nodes = getattr(failure, "nodes", ())
    inside = x.kind == "node" and x.source < len(nodes) and nodes[x.source].call == node.call
    if before is None:
        return (f"{finding.where}: expects in_features={expected:,} but receives {got:,} "
                f"features from {_producer(failure, x)}. Fix: build it as nn.Linear({got}, ...), "
                f"or make the layer before it output {expected:,} features.")
    product = f"{'·'.join(map(str, before[1:]))} = {prod(before[1:]):,}"
    if inside:  # Linear flattened a [N, C, H, W] itself: it only reads the last dimension
        return (f"{finding.where}: expects in_features={expected:,} on the last dimension, but "
                f"receives a {list(before)} tensor whose last dimension is {got}. Did you forget "
                f"to flatten? Put nn.Flatten() before {finding.layer}: it gives {product} "
                f"features.")
    wanted = _factor(expected, before[1], len(before) - 2)
    then = (f" (the flatten then gives {before[1]}·{'·'.join(map(str, wanted))} = {expected:,})"
            if wanted else "")
    text = (f"{finding.where}: expects in_features={expected:,} but the flatten of "
            f"{list(before[1:])} gives {product} features. Fix: {ctx.smallest_text()}{then}; or "
            f"build the layer as nn.Linear({got}, ...) or nn.LazyLinear(...)")
    if wanted and len(wanted) == 2:
        text += (f"; or put nn.AdaptiveAvgPool2d(({wanted[0]}, {wanted[1]})) before the flatten "
                 f"so every input size gives {expected:,}")
    return text + "."


def _factor(expected: int, channels: int, rank: int) -> tuple[int, ...] | None:
    """400 features over 16 channels -> (5, 5) when the rest is a square (or a line)."""
    if not channels or expected % channels:
        return None
    rest = expected // channels
    side = isqrt(rest)
    return (rest,) if rank == 1 else (side, side) if rank == 2 and side * side == rest else None


def _rank(failure, finding, ctx) -> str:
    match = RANK.search(str(failure.cause))
    spatial = SPATIAL_TYPES.match(_where(failure)[1])
    if match is None:  # the layer unsqueezed an unbatched input, then failed
        shape = failure.nodes[failure.node.args[0].source].args[0].shape
        n = int(spatial.group(2)) if spatial else len(shape) - 1
        return unbatched_text(finding.where, shape, n, bool(ctx.input_shapes),
                              _expected_channels(failure, finding, ctx))
    wanted = int(match.group(1) or match.group(3))
    n = wanted - 2
    got = (f"a {len(match.group(2).split(','))}-D tensor [{match.group(2)}]" if match.group(2)
           else f"a {match.group(4)}-D tensor")
    text = (f"{finding.where} works on [batch, channels, {', '.join(axis_names(n))}] but "
            f"receives {got}.")
    if not ctx.input_shapes:
        return text
    given = ctx.input_shapes[0]
    layout = f"channels x {' x '.join(axis_names(n))}"
    if len(given) > n + 1:
        return text + (f" The input size {dims(given)} has {len(given)} dimensions; give it "
                       f"without the batch, as {layout} (e.g. {dims(given[-(n + 1):])}); the "
                       f"batch size is its own option (--batch, batch_size=).")
    return text + (f" The input size {dims(given)} has {len(given)} dimension"
                   f"{'s' * (len(given) != 1)}; give {n + 1}: {layout} without the batch (e.g. "
                   f"{dims(fuller(given, n, _expected_channels(failure, finding, ctx)))}).")


def _expected_channels(failure, finding, ctx) -> int | None:
    """The input channels of the failing conv: from its weight, or from the layer as built when
    it failed before its first op."""
    node = failure.node
    if node is not None:
        return conv_channels([node], node.call)
    module = ctx.module(finding.layer) if finding.layer is not None else None
    return getattr(module, "in_channels", None)


def _inputs(failure, finding, ctx) -> str:
    text = f"{finding.where} takes a different number of inputs: {failure.cause}."
    shapes = ctx.input_shapes
    if len(shapes) > 1 and all(len(s) == 1 for s in shapes):
        return text + (f" The input was given as {len(shapes)} separate 1-D inputs (commas "
                       f"separate inputs); for one image write the sizes with x: "
                       f"{'x'.join(str(s[0]) for s in shapes)}.")
    if ctx.one_input:
        return text + (" Training feeds the model one batch of images [N, C, H, W]. Fix: give it "
                       "a forward(x) of one tensor, e.g. a wrapper module whose forward(x) "
                       "supplies the other arguments.")
    return text + " Give one shape per forward argument, separated by commas (e.g. 3x32x32,10)."


def _first_line(cause) -> str:
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


# aten ops that need tensor values -> what the Python line that reached them does
VALUE_READS = {
    "aten._local_scalar_dense": "reads a Python number from a tensor, as .item(), float(t), "
                                "int(t), bool(t) and `if t:` do",
    "aten.nonzero": "makes a tensor whose size depends on the values, as x[mask], "
                    "torch.nonzero and one-argument torch.where do",
    "aten.masked_select": "makes a tensor whose size depends on the values (masked_select)",
    "aten.unique": "makes a tensor whose size depends on the values (torch.unique)",
}


def _user_line(cause) -> str:
    """``net.py:21: `if y.mean().item() > 0:` ``: the last line of the model's own code (not
    torch's, not convscope's) on the way to ``cause``; "" when there is none."""
    import linecache
    import traceback

    found = None
    for frame, lineno in traceback.walk_tb(getattr(cause, "__traceback__", None)):
        if frame.f_globals.get("__name__", "").split(".")[0] not in ("torch", "convscope"):
            found = (frame.f_code.co_filename, lineno)
    if found is None:
        return ""
    code = linecache.getline(*found).strip()
    return f"{found[0].rsplit('/', 1)[-1]}:{found[1]}" + (f": `{code}`" if code else "")


def _data(failure, finding, ctx) -> str:
    cause = _first_line(failure.cause)
    op = failure.node.op if failure.node is not None else cause
    ops = op if cause in op else f"{op} ({cause})"
    line = _user_line(failure.cause)
    does = next((text for name, text in VALUE_READS.items() if name in ops), None)
    return (f"{finding.where} needs real tensor values{' at ' + line if line else ''}: {ops}"
            f"{' ' + does if does else ''}. Shape-only analysis cannot follow control flow that "
            "reads tensor values (.item(), data-dependent shapes). Run with --real (Python: "
            "real=True) to analyse with a real random input.")


def _dtypes_met(failure) -> list[str]:
    """The floating dtypes that met in the failing op, from its arguments or torch's message."""
    node, message = failure.node, str(failure.cause)
    met = float_dtypes(node.refs) if node is not None else []
    if "type" in message.lower() and len(met) > 1:
        return met
    found = DTYPE_MESSAGE.search(message)
    named = [TORCH_TYPES.get(g.lower()) for g in (found.groups() if found else ()) if g]
    return sorted(set(named)) if len(named) == 2 and None not in named else []


def _dtype(failure, finding, ctx) -> str:
    op = failure.node.op if failure.node is not None else "one op"
    return dtype_text(finding.where, op, _dtypes_met(failure), ctx.dtypes(finding.layer),
                      ctx.dtypes(None))


def _indices(failure, finding, ctx) -> str:
    found = INDICES.search(str(failure.cause))
    got = (found.group(1) or found.group(2)).removesuffix("Tensor").lower()  # CPU: FloatTensor
    got = TORCH_TYPES.get(got, got)  # "float" on the CPU is "float32" on meta
    return (f"{finding.where}: index dtype: it takes integer indices (int64 or int32), but the "
            f"tensor arriving is {got}. Fix: analyse with an integer input, dtype=torch.int64 "
            "(CLI: --dtype int64), or pass example tensors with input_data; the dtype is the "
            "input's only, parameters keep their own.")


def _other(failure, finding, ctx) -> str:
    op = f" in {failure.node.op}" if failure.node is not None else ""
    return f"{finding.where} failed{op}: {_first_line(failure.cause)}"


_WORDS = {"channels": _channels, "groups": _groups, "collapse": _collapse, "padding": _padding,
          "features": _features, "rank": _rank, "inputs": _inputs, "data": _data,
          "dtype": _dtype, "one_value": _one_value, "indices": _indices,
          "changed": _changed, "reflect": _reflect}
