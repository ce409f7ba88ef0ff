"""Batch, layer and group norm, and their backwards: outputs laid out like the input,
statistics per channel (batch norm), per row (layer norm) or per group (group norm).

Their meta kernels are Python decompositions: ``native_batch_norm`` and its backward ~3-4 ms a
call, ``native_group_norm`` ~3 ms and its backward ~9 ms, ``native_layer_norm`` ~1 ms and its
backward ~1.5 ms. Layer norm and group norm import TorchDynamo or sympy on first use (~1-2 s).
"""
from __future__ import annotations

import torch

from .layout import _EXACT, _dense, _like, _row_major


def _native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """out [N, C, ...] like x; saved mean/invstd [C] when training, [0] on CPU in eval."""
    dtype, device = x.dtype, x.device
    for t in (weight, bias, running_mean, running_var):
        if t is not None and t.dtype != dtype:
            return NotImplemented  # mixed precision: let the real shape kernel decide
    channels = x.shape[1] if training else 0
    stat = torch.empty(channels, dtype=dtype, device=device)
    return _like(x), stat, torch.empty(channels, dtype=dtype, device=device)


def _native_batch_norm_backward(grad_out, x, weight, running_mean, running_var, save_mean,
                                save_invstd, train, eps, output_mask):
    """(grad_input like x, grad_weight [C], grad_bias [C]); None where output_mask is False."""
    if weight is not None and weight.dtype != x.dtype:
        return NotImplemented
    channels = x.shape[1]

    def per_channel():
        return torch.empty(channels, dtype=x.dtype, device=x.device)

    return (_like(x) if output_mask[0] else None,
            per_channel() if output_mask[1] else None,
            per_channel() if output_mask[2] else None)


def _same(t, x) -> bool:
    """t is None or a tensor of x's dtype and device."""
    return t is None or (isinstance(t, torch.Tensor) and t.dtype == x.dtype
                         and t.device == x.device)


def _native_layer_norm(x, normalized_shape, weight, bias, eps):
    """(out, mean, rstd): out [*, *normalized] row-major whatever x's layout (the CPU kernel
    makes x contiguous first); mean and rstd [*, 1, ..., 1], one 1 per normalized dim."""
    rank, axis = x.dim(), x.dim() - len(normalized_shape)
    if (x.dtype not in _EXACT or axis < 0 or not normalized_shape or min(x.shape) < 1
            or list(x.shape[axis:]) != list(normalized_shape)):
        return NotImplemented
    for t in (weight, bias):
        if not _same(t, x) or (t is not None and list(t.shape) != list(normalized_shape)):
            return NotImplemented
    stats = (*x.shape[:axis], *[1] * (rank - axis))
    return (torch.empty(*x.shape, dtype=x.dtype, device=x.device),
            torch.empty(*stats, dtype=x.dtype, device=x.device),
            torch.empty(*stats, dtype=x.dtype, device=x.device))


def _native_layer_norm_backward(grad_out, x, normalized_shape, mean, rstd, weight, bias,
                                output_mask):
    """(grad_input row-major like x, grad_weight, grad_bias like the weight); None where
    output_mask is False. For a grad_out of another layout the meta kernel keeps it, the CPU
    kernel does not: left to the meta kernel, so the graph stays what it was."""
    if (x.dtype not in _EXACT or grad_out.shape != x.shape or grad_out.dtype != x.dtype
            or not (_row_major(grad_out) and _row_major(x)) or not _same(weight, x)
            or not _same(bias, x) or (weight is None and (output_mask[1] or output_mask[2]))):
        return NotImplemented
    first = _native_layer_norm(x, normalized_shape, weight, bias, 0.0)
    if first is NotImplemented:
        return NotImplemented

    def per_feature():
        return torch.empty(*weight.shape, dtype=x.dtype, device=x.device)

    return (first[0] if output_mask[0] else None,
            per_feature() if output_mask[1] else None,
            per_feature() if output_mask[2] else None)


def _autocast_mix(x, weight) -> bool:
    """A float16 or bfloat16 input with a float32 weight, as autocast runs group norm: the CPU
    keeps the statistics and the weight's gradients in float32 and the input's gradient in the
    input's dtype, where the meta kernel has the statistics in the input's dtype and the input's
    gradient in float32 (a GroupNorm step under amp was 7.5% over)."""
    return (x.dtype in (torch.bfloat16, torch.float16) and isinstance(weight, torch.Tensor)
            and weight.dtype == torch.float32 and weight.device == x.device)


def _group_norm_checks(x, weight, n, c, hxw, group) -> bool:
    """x [N, C, *] dense (row-major or channels-last), C a multiple of ``group``; the weight of
    x's dtype, or float32 under autocast."""
    return ((x.dtype in _EXACT and _same(weight, x) or _autocast_mix(x, weight))
            and x.dim() >= 2 and _dense(x) and min(x.shape) >= 1
            and group >= 1 and c % group == 0 and (n, c) == tuple(x.shape[:2])
            and x.numel() == n * c * hxw and (weight is None or tuple(weight.shape) == (c,)))


def _native_group_norm(x, weight, bias, n, c, hxw, group, eps):
    """(out laid out like x, mean [N, group], rstd [N, group]) of the weight's dtype."""
    if not (_group_norm_checks(x, weight, n, c, hxw, group)
            and _same(bias, x if weight is None else weight)
            and (bias is None or tuple(bias.shape) == (c,))):
        return NotImplemented
    stats = weight.dtype if weight is not None else x.dtype
    return (_like(x), torch.empty(n, group, dtype=stats, device=x.device),
            torch.empty(n, group, dtype=stats, device=x.device))


def _native_group_norm_backward(grad_out, x, mean, rstd, weight, n, c, hxw, group,
                                output_mask):
    """(grad_input laid out like x, grad_weight [C], grad_bias [C] of the weight's dtype); None
    where masked."""
    if (not _group_norm_checks(x, weight, n, c, hxw, group) or grad_out.shape != x.shape
            or grad_out.dtype != x.dtype or grad_out.stride() != x.stride()):
        return NotImplemented

    def per_channel():
        return torch.empty(c, dtype=weight.dtype if weight is not None else x.dtype,
                           device=x.device)

    return (_like(x) if output_mask[0] else None,
            per_channel() if output_mask[1] else None,
            per_channel() if output_mask[2] else None)
