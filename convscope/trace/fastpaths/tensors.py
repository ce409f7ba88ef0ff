"""Ops that make or join whole tensors: ``cat`` (Inception's branches), ``empty`` (batch
norm's reserve buffer) and ``empty_like`` (autograd's gradient buffers, Adam's state).
"""
from __future__ import annotations

import torch

from .layout import _dense, _row_major


def _cat(tensors, dim=0):
    """Concatenation of contiguous tensors of one dtype (Inception's branches): a contiguous
    output whose ``dim`` is the sum. The meta kernel checks and promotes in Python (~0.3 ms)."""
    first = tensors[0] if len(tensors) else None
    if first is None or first.dim() == 0 or not -first.dim() <= dim < first.dim():
        return NotImplemented  # a dim out of range: the kernel's IndexError
    dim = dim % first.dim()
    # other ranks have no memory format but row-major: the output is row-major whatever the
    # inputs' layouts (ViT's cls token before its transposed patch embeddings)
    any_layout = first.dim() not in (4, 5)
    # a [N, C, 1, 1] (or [N, C, 1, 1, 1]) is channels-last too: laid out so (strides
    # (C, 1, C, C)), it may make the kernel pick that layout
    last = {4: torch.channels_last, 5: torch.channels_last_3d}.get(first.dim())
    same = all(t.dtype == first.dtype and t.device == first.device and t.dim() == first.dim()
               and (any_layout or t.is_contiguous()) and t.shape[:dim] == first.shape[:dim]
               and t.shape[dim + 1:] == first.shape[dim + 1:]
               and not (last and t.is_contiguous(memory_format=last) and not _row_major(t))
               for t in tensors)
    if not same:
        return NotImplemented
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return torch.empty(*shape, dtype=first.dtype, device=first.device)


def _empty_like(x, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """``torch.empty_like(x)`` (autograd's gradient buffers): x's strides for a dense x."""
    if (dtype is not None or layout not in (None, torch.strided) or device is not None
            or pin_memory or memory_format not in (None, torch.preserve_format)
            or not _dense(x)):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


def _empty(size, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """``aten.empty`` itself, asked by batch norm for its reserve buffer: ``torch.empty`` is
    3x cheaper than calling the op with every keyword argument."""
    if (layout not in (None, torch.strided) or pin_memory
            or memory_format not in (None, torch.contiguous_format)):
        return NotImplemented
    return torch.empty(size, dtype=dtype, device=device)
