"""What the fast paths read of a tensor before answering: its layout, and whether its dtype is
one whose statistics the CPU and meta kernels agree on.

A fast path answers only the layouts whose output strides it can name for certain: dense in
either common layout (row-major or channels-last), or row-major exactly. Every other layout is
the kernel's to decide.
"""
from __future__ import annotations

import torch

# dtypes whose norm statistics the CPU kernel and the meta kernel agree on: for bfloat16 and
# float16 the CPU keeps mean and rstd in the input's dtype, the meta kernel in float32
_EXACT = (torch.float32, torch.float64)


def _dense(x: torch.Tensor) -> bool:
    return x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)


def _like(x: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(x)`` without its meta kernel, a Python decomposition that works out a
    stride permutation (~0.1 ms a call): for a dense tensor in either common layout the strides
    are x's own."""
    if _dense(x):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
    found = _like_any_order(x)  # a transposed view: still x's strides
    return torch.empty_like(x) if found is NotImplemented else found


def _like_any_order(x: torch.Tensor):
    """``torch.empty_like(x)`` for an x whose elements fill its storage without overlap in any
    order of its dims (a transposed view too): PyTorch keeps x's strides for such a tensor.
    NotImplemented for any other x, whose layout the kernel works out."""
    expected = 1
    for stride, size in sorted((s, n) for s, n in zip(x.stride(), x.shape) if n != 1):
        if stride != expected:
            return NotImplemented
        expected *= size
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


def _row_major(t: torch.Tensor) -> bool:
    """Strides exactly those of a contiguous tensor of its shape. ``is_contiguous`` also holds
    for a [N, C, 1, 1] laid out channels-last, which a kernel may keep channels-last."""
    expected = 1
    for size, stride in zip(reversed(t.shape), reversed(t.stride())):
        if stride != expected:
            return False
        expected *= size
    return True


def _suggests_channels_last(t: torch.Tensor) -> bool:
    """PyTorch's ``Tensor.suggest_memory_format() == channels_last`` for a 4-d tensor, which
    a CPU convolution follows: read from the strides, so a tensor both layouts describe (size-1
    channels or sides) goes by the strides it was given. A row-major tensor is answered at once
    (is it channels-last contiguous at all?); the rest is ``is_channels_last_strides_2d_s4``
    of c10's MemoryFormat.h, step by step."""
    if not t.is_contiguous(memory_format=torch.channels_last):
        return False
    sizes, strides = t.shape, t.stride()
    if strides[1] == 0:
        return False
    least = 0
    for d in (1, 3, 2, 0):
        if sizes[d] == 0 or strides[d] < least:
            return False
        if d == 0 and least == strides[1]:  # N111 with one stride throughout: row-major
            return False
        least = strides[d] * (sizes[d] if sizes[d] > 1 else 1)
    return True
