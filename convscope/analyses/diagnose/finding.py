"""Read a failed trace into a ``Finding``: what went wrong, in numbers.

torch's own message says most (the patterns below match its words); the failing op's arguments
(``failure.node``) say the rest: a conv's channels, a window larger than its input, a matmul's
features. Nothing here words a message: ``diagnose`` does, by the finding's kind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ...graph import Node
from ..validate import float_dtypes
from ..windows import MATMUL_OPS, unsqueezed_by_layer, window_of
from .origin import failing_layer

DATA_DEPENDENT = ("item()", "data-dependent", "DataDependentOutput", "DynamicOutputShape",
                  "meta tensors", "Cannot copy out of meta tensor", "data_ptr", "numpy()")
RANK = re.compile(r"Expected \d+D \(unbatched\) or (\d+)D \(batched\) input to \w+, but got "
                  r"input of size: \[([\d, ]*)\]|expected (\d+)D input \(got (\d+)D input\)")
RUNNING = re.compile(r"running_mean should contain (\d+) elements not (\d+)")
# an op's output too large for any tensor, even a shape-only one
OVERFLOW = re.compile(r"Storage size calculation overflowed with sizes=\[([\d, ]*)\]")
# BatchNorm in training mode, one value per channel: F.batch_norm's own check
ONE_VALUE = re.compile(r"Expected more than 1 value per channel when training, got input size "
                       r"(?:torch\.Size\()?\[([\d, ]*)\]")
# torch's words for dtypes in its type-mismatch messages
DTYPE_MESSAGE = re.compile(r"Input type \(([\w:<> ]+)\) and (?:bias|weight) type \(([\w:]+)\)|"
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
               "signed char": "int8", "unsigned char": "uint8", "bool": "bool",
               "short unsigned int": "uint16", "unsigned int": "uint32",
               "long unsigned int": "uint64", "c10::complex<float>": "complex64",
               "c10::complex<double>": "complex128", "c10::complex<c10::half>": "complex32"}
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
    layer, _, where = failing_layer(failure)
    cause, node = failure.cause, failure.node
    message = str(cause)
    if isinstance(cause, RecursionError):
        return Finding("recursion", layer, where)
    if any(marker in f"{type(cause).__name__} {message}" for marker in DATA_DEPENDENT):
        return Finding("data", layer, where)
    if RANK.search(message) or _unbatched(failure):
        return Finding("rank", layer, where)
    if isinstance(cause, TypeError) and "positional argument" in message and layer is None:
        return Finding("inputs", layer, where)
    if INDICES.search(message):  # before dtype: a float16 index meets float32 weights too
        return Finding("indices", layer, where)
    if dtypes_met(failure):
        return Finding("dtype", layer, where)
    if ONE_VALUE.search(message):
        return Finding("one_value", layer, where)
    if OVERFLOW.search(message):
        return Finding("overflow", layer, where)
    if CHANGED.search(message):
        return Finding("changed", layer, where)
    if node is not None and node.packet.startswith("aten.reflection_pad") and \
            "Padding size should be less" in message:
        return Finding("reflect", layer, where)
    if "wrapping around more than once" in message:  # checked before any op is dispatched
        return Finding("circular", layer, where)
    running = RUNNING.search(message)  # "should contain <channels arriving> elements not <C>"
    if running:
        return Finding("channels", layer, where, int(running.group(1)), int(running.group(2)))
    return _from_the_op(node, message, layer, where)


def _from_the_op(node, message: str, layer: str | None, where: str) -> Finding:
    """What the failing op's own arguments show: a pool's padding (torch's check), a conv's
    input channels or groups, a window larger than its input, a matmul's features."""
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
    if window is not None and (any(window.output_size(h, d) < 1
                                   for d, h in enumerate(node.args[0].shape[2:]))
                               or "smaller than kernel size" in message):  # avg_pool3d's rule
        return Finding("collapse", layer, where)
    if node is not None and node.packet in MATMUL_OPS and len(node.args) >= 2:
        a, b = (node.args[1], node.args[2]) if node.packet == "aten.addmm" else node.args[:2]
        return Finding("features", layer, where, a.shape[-1], b.shape[-2])
    return Finding("other", layer, where)


def dtypes_met(failure) -> list[str]:
    """The floating dtypes that met in the failing op, from its arguments or torch's message."""
    node, message = failure.node, str(failure.cause)
    met = float_dtypes(node.refs) if node is not None else []
    if "type" in message.lower() and len(met) > 1:
        return met
    found = DTYPE_MESSAGE.search(message)
    named = [TORCH_TYPES.get(g.lower()) for g in (found.groups() if found else ()) if g]
    return sorted(set(named)) if len(named) == 2 and None not in named else []
