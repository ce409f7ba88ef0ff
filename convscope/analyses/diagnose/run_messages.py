"""Messages for a model that cannot run on what it is given, though the shapes fit: the wrong
number of inputs, a dtype that meets another (or float indices), tensor values a shape-only trace
does not have, training's checks (a batch of one value per channel, a saved tensor changed in
place); and torch's own first line for anything else.
"""
from __future__ import annotations

import sys
from math import prod

from ...errors import RECURSION_FIX
from ..validate import dims, dtype_text
from .finding import CHANGED, INDICES, ONE_VALUE, OVERFLOW, TORCH_TYPES, dtypes_met
from .origin import user_line


def _one_value(failure, finding, ctx) -> str:
    shape = [int(d) for d in ONE_VALUE.search(str(failure.cause)).group(1).split(",")]
    values = " x ".join(str(d) for d in (shape[0], *shape[2:]))
    return (f"{finding.where} cannot train on this batch: in training mode it normalises each "
            f"channel with the mean and variance of its batch x positions = {values} = 1 value "
            f"(the tensor arriving is {list(shape)}), and needs more than 1. Fix: a batch of 2 or "
            f"more (batch_size=2, CLI: --batch 2), or a larger input.")


def _overflow(failure, finding, ctx) -> str:
    sizes = [int(d) for d in OVERFLOW.search(str(failure.cause)).group(1).split(",")]
    elements = prod(sizes)
    given = f" for the input {dims(ctx.input_shapes[0])}" if ctx.input_shapes else ""
    return (f"{finding.where} would make a tensor of {sizes}{given}: {elements:,} elements, more "
            f"bytes than PyTorch can address (2**63 - 1), so even a shape-only tensor cannot "
            f"exist. Fix: a smaller input or batch (CLI: --input, --batch).")


def _changed(failure, finding, ctx) -> str:
    dtype, shape, now, then = CHANGED.search(str(failure.cause)).groups()
    op = f" of {failure.node.op}" if failure.node is not None else ""
    return (f"{finding.where} cannot train: the backward{op} needs the {dtype} [{shape}] tensor "
            f"it saved, and an in-place op changed that tensor after it was saved (version "
            f"{then} -> {now}), so PyTorch's backward raises \"one of the variables needed for "
            f"gradient computation has been modified by an inplace operation\". Fix: make the "
            f"later op out of place (y = y * 2, not y.mul_(2); nn.ReLU(inplace=False)), or "
            f"change a clone (y = y.clone()).")


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


def _data(failure, finding, ctx) -> str:
    cause = _first_line(failure.cause)
    op = failure.node.op if failure.node is not None else cause
    ops = op if cause in op else f"{op} ({cause})"
    line = user_line(failure.cause)
    does = next((text for name, text in VALUE_READS.items() if name in ops), None)
    return (f"{finding.where} needs real tensor values{' at ' + line if line else ''}: {ops}"
            f"{' ' + does if does else ''}. Shape-only analysis cannot follow control flow that "
            "reads tensor values (.item(), data-dependent shapes). `convscope summary` and "
            "`convscope rf` take --real (Python: analyze(..., real=True)) to analyse it with a "
            "real random input; explain, memory and sizes work on shape-only tensors only.")


def _dtype(failure, finding, ctx) -> str:
    op = failure.node.op if failure.node is not None else "one op"
    return dtype_text(finding.where, op, dtypes_met(failure), ctx.dtypes(finding.layer),
                      ctx.dtypes(None), _several_dtypes(ctx))


def _indices(failure, finding, ctx) -> str:
    found = INDICES.search(str(failure.cause))
    got = (found.group(1) or found.group(2)).removesuffix("Tensor").lower()  # CPU: FloatTensor
    got = TORCH_TYPES.get(got, got)  # "float" on the CPU is "float32" on meta
    return (f"{finding.where}: index dtype: it takes integer indices (int64 or int32), but the "
            f"tensor arriving is {got}. Fix: analyse with an integer input, dtype=torch.int64 "
            "(CLI: --dtype int64), or pass example tensors with input_data; the dtype is the "
            "input's only, parameters keep their own." + _several_dtypes(ctx))


def _several_dtypes(ctx) -> str:
    """With several inputs, the dtype fix for one would break another: --dtype int64 for the ids
    makes the image integer too, and the next message asks for float32 again."""
    if len(ctx.input_shapes) < 2:
        return ""
    return (" With several inputs, dtype= (CLI: --dtype) sets every input's: for inputs of "
            "different dtypes (an image and ids) pass example tensors, input_data=(torch.rand(1, "
            "3, 32, 32), torch.zeros(1, 10, dtype=torch.long)) with your sizes, in Python; the "
            "CLI has no dtype per input.")


def _recursion(failure, finding, ctx) -> str:
    depth = len(failure.calls)
    return (f"{finding.where}: Python's recursion limit ({sys.getrecursionlimit()}) was reached "
            f"{depth} module calls deep: each nested module call takes a few Python frames "
            "(one more in convscope's trace than in a plain forward). " + RECURSION_FIX)


def _other(failure, finding, ctx) -> str:
    op = f" in {failure.node.op}" if failure.node is not None else ""
    return f"{finding.where} failed{op}: {_first_line(failure.cause)}"


WORDS = {"inputs": _inputs, "data": _data, "dtype": _dtype, "one_value": _one_value,
         "recursion": _recursion,
         "indices": _indices, "changed": _changed, "overflow": _overflow, "other": _other}
