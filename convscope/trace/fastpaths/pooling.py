"""Pooling: max and average pooling, adaptive average pooling, and the mean over some dims that
global average pooling runs. A pooled side follows PyTorch's own arithmetic (``_pooled_side``),
ceil mode included; every layout but row-major is the kernel's.

Their meta kernels check and work out shapes in Python: max pooling ~0.2 ms a call, the mean
~1 ms; adaptive pooling's imports sympy on first use (~1 s).
"""
from __future__ import annotations

import torch

from .layout import _row_major


def _mean_dim(x, dim, keepdim=False, dtype=None):
    """Global average pooling's mean over some dims of a contiguous float tensor (~1 ms meta
    kernel): contiguous, those dims kept as 1 or dropped."""
    dim = [dim] if isinstance(dim, int) else dim
    if dtype is not None or not dim or not x.dtype.is_floating_point or not x.is_contiguous():
        return NotImplemented
    rank = x.dim()
    if any(not -rank <= d < rank for d in dim):
        return NotImplemented
    reduced = {d % rank for d in dim}
    if len(reduced) != len(dim):  # a dim named twice: the kernel's error
        return NotImplemented
    shape = [1 if i in reduced else n for i, n in enumerate(x.shape) if keepdim or i not in reduced]
    return torch.empty(*shape, dtype=x.dtype, device=x.device) if shape else torch.empty(
        (), dtype=x.dtype, device=x.device)


def _pair(values, default=None):
    """A pooling argument as (h, w): one value stands for both; empty means ``default``."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values and default is not None:
        return default
    return (values[0], values[0]) if len(values) == 1 else tuple(values) if len(values) == 2 else None


def _pooled_side(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape: floor (or ceil) division, and with ceil_mode no last
    window that would start inside the right padding."""
    span = n + 2 * p - d * (k - 1) - 1
    side = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (side - 1) * s >= n + p:
        side -= 1
    return side


def _pooled_shape(x, kernel_size, stride, padding, dilation, ceil_mode):
    """[N, C, H', W'] for a 2-D pool of a contiguous 4-D float tensor, or None for every case
    the kernel would reject or lay out otherwise."""
    kernel = _pair(kernel_size)
    stride = _pair(stride, default=kernel)
    padding, dilation = _pair(padding), _pair(dilation)
    if (None in (kernel, stride, padding, dilation) or x.dim() != 4 or not x.is_contiguous()
            or not x.dtype.is_floating_point or min(x.shape) < 1 or min(kernel) < 1
            or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0
            or any(2 * p > k for p, k in zip(padding, kernel))):
        return None
    sides = [_pooled_side(n, k, s, p, d, ceil_mode)
             for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)]
    return (*x.shape[:2], *sides) if min(sides) >= 1 else None


def _max_pool2d_with_indices(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """(values, int64 indices), both contiguous. The meta kernel: ~0.2 ms a call."""
    shape = _pooled_shape(x, kernel_size, stride, padding, dilation, ceil_mode)
    if shape is None:
        return NotImplemented
    return (torch.empty(*shape, dtype=x.dtype, device=x.device),
            torch.empty(*shape, dtype=torch.int64, device=x.device))


def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    shape = _pooled_shape(x, kernel_size, stride, padding, 1, ceil_mode)
    if shape is None or divisor_override == 0:
        return NotImplemented
    return torch.empty(*shape, dtype=x.dtype, device=x.device)


def _adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling of a row-major [N, C, H, W] float tensor: a row-major
    [N, C, h, w]. Its meta kernel imports sympy on first use (~1 s)."""
    if (x.dim() != 4 or not x.dtype.is_floating_point or not _row_major(x) or min(x.shape) < 1
            or len(output_size) != 2 or min(output_size) < 1):
        return NotImplemented
    return torch.empty(x.shape[0], x.shape[1], *output_size, dtype=x.dtype, device=x.device)
