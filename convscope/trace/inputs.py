"""What the model is called with: shapes or example tensors, turned into shape-only tensors."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

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
    return isinstance(value, (tuple, list, torch.Size)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def make_spec(input_size=None, input_data=None, input_kwargs=None, batch_size=1,
              dtype=torch.float32) -> InputSpec:
    """Normalise the user's description of the input.

    ``input_size``: one shape without batch ``(3, 224, 224)`` or several ``[(3, 32, 32), (10,)]``.
    ``input_data``: an example tensor, or a tuple of them (their batch dimension is kept).
    ``input_kwargs``: keyword inputs; tensors among them are traced, other values passed as is.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if input_data is not None:
        args = (input_data,) if isinstance(input_data, torch.Tensor) else tuple(input_data)
    elif input_size is None:
        args = ()
    elif _is_shape(input_size):
        args = (tuple(input_size),)
    elif all(_is_shape(s) for s in input_size):
        args = tuple(tuple(s) for s in input_size)
    else:
        raise UsageError(
            f"input_size must be a shape like (3, 224, 224) or a list of shapes, got {input_size!r}."
        )
    for shape in args if input_data is None else ():
        if any(d < 1 for d in shape):
            raise UsageError(f"input sizes must be positive, got {shape}.")
        _check_storage((batch_size, *shape), dtype)
    if not args and not input_kwargs:
        raise UsageError("no input given: pass input_size=(C, H, W), input_data or input_kwargs.")
    return InputSpec(args, dict(input_kwargs or {}), batch_size, dtype,
                     shapes=input_data is None)


def _check_storage(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """An absurd batch or input size: PyTorch cannot even create the shape-only tensor."""
    elements = math.prod(shape)
    if elements * dtype.itemsize > MAX_BYTES:
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
        return value

    args = tuple(one(a, spec.shapes) for a in spec.args)
    return args, {k: one(v, False) for k, v in spec.kwargs.items()}


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
