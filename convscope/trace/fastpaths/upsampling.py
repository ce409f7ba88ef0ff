"""Upsampling (U-Net's decoder, YOLO's neck): bilinear and nearest, to a given [h, w].

Their meta kernels are Python decompositions (``upsample_bilinear2d`` ~5 ms a call) that import
TorchDynamo or sympy on first use (~1-2 s).
"""
from __future__ import annotations

import torch

from .layout import _row_major


def _upsample2d(x, output_size):
    """[N, C, h, w] laid out as x is (row-major or channels-last, never both: a map whose
    layout is ambiguous is the kernel's to decide)."""
    if (x.dim() != 4 or not x.dtype.is_floating_point or min(x.shape) < 1
            or len(output_size) != 2 or min(output_size) < 1):
        return NotImplemented
    n, c = x.shape[:2]
    if _row_major(x) and not x.is_contiguous(memory_format=torch.channels_last):
        return torch.empty(n, c, *output_size, dtype=x.dtype, device=x.device)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.empty(n, c, *output_size, dtype=x.dtype, device=x.device,
                           memory_format=torch.channels_last)
    return NotImplemented


def _upsample_bilinear2d(x, output_size, align_corners, scales_h=None, scales_w=None):
    return _upsample2d(x, output_size)


def _upsample_nearest2d(x, output_size, scales_h=None, scales_w=None):
    return _upsample2d(x, output_size)
