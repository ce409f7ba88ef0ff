"""What the model is called with: shapes or example tensors, turned into shape-only tensors."""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch.utils._pytree import tree_leaves, tree_map_only

from ..errors import UsageError

MAX_BYTES = 2**63 - 1  # PyTorch sizes a tensor's storage in a signed 64-bit integer


@dataclass(frozen=True)
class InputSpec:
    """Positional inputs (shapes without batch, or tensors) and keyword inputs for one forward.
    ``shapes``: the positional inputs are shapes (``input_size``), each made into a tensor;
    otherwise they were given as data, and only their tensors are converted."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1
    dtype: torch.dtype = torch.float32
    shapes: bool = True

    @property
    def first_shape(self) -> tuple[int, ...] | None:
        """The first input's shape without batch, when it was given as one."""
        return tuple(self.args[0]) if self.shapes and self.args else None


def _is_shape(value) -> bool:
    """A tuple or list of whole numbers (NumPy's too, as ``batch_size`` takes them)."""
    return isinstance(value, (tuple, list, torch.Size)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    )


def _shapes_of(input_size) -> list[tuple[int, ...]] | None:
    """``input_size`` as shapes of plain ints: one shape, or a list of them; None if neither."""
    if _is_shape(input_size):  # () is one value per sample: the input is [batch]
        return [tuple(int(v) for v in input_size)]
    if isinstance(input_size, (tuple, list)) and all(_is_shape(s) for s in input_size):
        return [tuple(int(v) for v in s) for s in input_size]
    return None


def make_spec(input_size=None, input_data=None, input_kwargs=None, batch_size=1,
              dtype=torch.float32) -> InputSpec:
    """Normalise the user's description of the input.

    ``input_size``: one shape without batch ``(3, 224, 224)`` or several ``[(3, 32, 32), (10,)]``.
    ``input_data``: an example tensor, or a tuple of them (their batch dimension is kept).
    ``input_kwargs``: keyword inputs; tensors among them are traced, other values passed as is.
    """
    if (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
            or batch_size < 1):
        raise UsageError(f"the batch size must be a whole number of at least 1, got "
                         f"{batch_size!r}; e.g. batch_size=8 (CLI: --batch 8).")
    if not isinstance(dtype, torch.dtype):
        raise UsageError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}.")
    _check_computable(dtype)
    if input_kwargs is not None and not isinstance(input_kwargs, Mapping):
        raise UsageError(f"input_kwargs must be a dict of the forward's keyword inputs, e.g. "
                         f"{{'x': torch.randn(1, 3, 32, 32)}}, got {type(input_kwargs).__name__}.")
    if input_data is not None:
        args = _data_args(input_data)
        batch_size = _data_batch(args, batch_size)
        if input_size is not None:
            _check_data_size(args, input_size)
    elif input_size is None:
        args = ()
    elif (shapes := _shapes_of(input_size)) is not None:
        args = tuple(shapes)
    else:
        raise UsageError(f"input_size must be a shape like (3, 224, 224) or a list of shapes, "
                         f"got {_short(input_size)}.")
    for shape in args if input_data is None else ():
        if any(d < 1 for d in shape):
            raise UsageError(f"input sizes must be positive, got {shape}.")
        _check_storage((batch_size, *shape), dtype)
    if not args and not input_kwargs:
        raise UsageError("no input given: pass input_size=(C, H, W), input_data or input_kwargs.")
    return InputSpec(args, dict(input_kwargs or {}), int(batch_size), dtype,
                     shapes=input_data is None)


def _data_args(input_data) -> tuple:
    """``input_data`` as positional inputs: a tensor, or a tuple or list holding tensors (other
    values among them are passed as they are)."""
    if isinstance(input_data, torch.Tensor):
        return (input_data,)
    if isinstance(input_data, (tuple, list)) and (not input_data or any(
            isinstance(v, torch.Tensor) for v in torch.utils._pytree.tree_leaves(input_data))):
        return tuple(input_data)  # () with input_kwargs: the inputs are all keywords
    shapes = isinstance(input_data, (tuple, list)) and all(_is_shape(v) for v in input_data)
    hint = (" (convert it with torch.from_numpy)" if type(input_data).__module__ == "numpy" else
            "; for shapes, pass input_size=" if shapes else "")
    raise UsageError(f"input_data must be an example tensor or a tuple of them, e.g. "
                     f"torch.randn(1, 3, 224, 224), got {_short(input_data)}{hint}.")


def _data_batch(args: tuple, batch_size: int) -> int:
    """The batch of example tensors: the first one's leading dim. A ``batch_size`` other than 1
    that differs from it would be silently ignored: refused."""
    first = next((t for t in tree_leaves(args) if isinstance(t, torch.Tensor) and t.dim()), None)
    if first is None:
        return batch_size
    if batch_size not in (1, first.shape[0]):
        raise UsageError(f"batch_size={batch_size} does not apply to input_data: example tensors "
                         f"keep their own batch ({first.shape[0]} here). Leave batch_size out, or "
                         f"give input_size={tuple(first.shape[1:])} with batch_size={batch_size}.")
    return first.shape[0]


def _check_data_size(args: tuple, input_size) -> None:
    """``input_size`` given with ``input_data``: the data's shapes are what is traced, so a size
    that differs from them would be ignored without a word: refused."""
    data = [tuple(t.shape[1:]) for t in args if isinstance(t, torch.Tensor) and t.dim()]
    sizes = _shapes_of(input_size)
    if not sizes or sizes != data[:len(sizes)]:
        shown = data[0] if len(data) == 1 else data
        raise UsageError(f"input_size={_short(input_size)} does not apply to input_data: the "
                         f"example tensors' own shapes are traced ({shown} without batch "
                         "here). Give one or the other.")


def _short(value) -> str:
    """A value as an error message shows it: an array by its type and shape."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of shape {list(shape)}"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({type(value).__name__})"


def _check_computable(dtype: torch.dtype) -> None:
    """A dtype no layer computes with: quantized (qint8, quint4x2: a scale and zero point ride
    with the values, and only quantized kernels take them), bit containers (bits8) and sub-byte
    integers (int4). torch makes meta tensors of them, so they failed deep in the trace, a
    quantized one as an internal error."""
    name = str(dtype).removeprefix("torch.")
    if re.fullmatch(r"qu?int\d+(x\d+)?", name):
        kind = ("a quantized dtype: its values carry a scale and zero point, and only the kernels "
                "of a quantized model take them. Fix: analyse the float model (dtype=torch."
                "float32, CLI: --dtype float32), whose shapes and MACs the quantized one shares")
    elif re.fullmatch(r"bits\w+|u?int[1-7]", name):
        kind = ("a storage-only dtype: no PyTorch layer computes with it. Fix: give a floating "
                "dtype (dtype=torch.float32, CLI: --dtype float32), or int64 for the token ids "
                "of an nn.Embedding")
    else:
        return
    raise UsageError(f"dtype {name} is {kind}.")


def can_hold(spec: InputSpec) -> bool:
    """Whether PyTorch can create every input of ``spec`` given as a shape."""
    return not spec.shapes or all(_holds((spec.batch_size, *shape), spec.dtype)
                                  for shape in spec.args)


def _holds(shape: tuple[int, ...], dtype: torch.dtype) -> bool:
    """A tensor of ``shape`` fits the bytes PyTorch can index, even shape-only."""
    return math.prod(shape) * dtype.itemsize <= MAX_BYTES


def _check_storage(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """An absurd batch or input size: PyTorch cannot even create the shape-only tensor."""
    if not _holds(shape, dtype):
        elements = math.prod(shape)
        raise UsageError(f"the input tensor [{', '.join(map(str, shape))}] would have "
                         f"{elements:,} elements of {dtype.itemsize} bytes, more than PyTorch can "
                         "index (2**63-1 bytes); use a smaller batch size or input size.")


def materialise(spec: InputSpec, make: Callable[[Sequence[int], torch.dtype], torch.Tensor],
                convert: Callable[[torch.Tensor], torch.Tensor]):
    """(args, kwargs) for the forward: shapes from ``input_size`` become
    ``make(batch + shape)``, tensors ``convert(t)``; any other value (a keyword's ``size=(5, 6)``)
    is passed as is."""

    def one(value, shape: bool):
        if isinstance(value, torch.Tensor):
            return convert(value)
        if shape:
            return make((spec.batch_size, *value), spec.dtype)
        # tensors in a tuple, list or dict (a forward taking a pair of images): shape-only too
        return tree_map_only(torch.Tensor, convert, value)

    args = tuple(one(a, spec.shapes) for a in spec.args)
    return args, {k: one(v, False) for k, v in spec.kwargs.items()}


def input_tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Every tensor among the forward's inputs, in order, those in tuples, lists and dicts
    too: the graph's inputs."""
    found = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
    if len(found) == len(args) + len(kwargs):  # the common case: every input a tensor
        return found
    return [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]


def parse_input(text: str) -> list[tuple[int, ...]]:
    """CLI ``--input``: ``3x224x224`` or several joined by commas, ``3x32x32,10``."""
    shapes = []
    for part in text.replace(" ", "").split(","):
        try:
            shape = tuple(int(d) for d in part.lower().split("x"))
        except ValueError:
            shape = ()
        if not shape or any(d < 1 for d in shape):
            raise UsageError(
                f"--input {text!r} is not a shape. Write channels x height x width without the "
                "batch, e.g. --input 3x224x224 (several inputs: --input 3x32x32,10)."
            )
        shapes.append(shape)
    return shapes
