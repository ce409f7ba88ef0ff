"""Ops whose shape-only kernels are slow, answered by the shapes PyTorch's CPU kernel returns.

On the meta device ``native_batch_norm`` and its backward run Python decompositions of ~3-4 ms a
call: two thirds of a ResNet-50 trace. Its outputs are fully determined by its inputs, so we build them with
``torch.empty_strided``/``torch.empty`` instead. A fast path may return NotImplemented to hand the
call back to the real kernel. ``tests/trace/test_fastpaths.py`` pins each answer
against the real CPU kernel, so an upgrade of PyTorch cannot silently change our numbers.
"""
from __future__ import annotations

import torch

aten = torch.ops.aten


def _like(x: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(x)`` without its meta kernel, a Python decomposition that works out a
    stride permutation (~0.1 ms a call): for a dense tensor in either common layout the strides
    are x's own."""
    if x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
    return torch.empty_like(x)


def _native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """out [N, C, ...] like x; saved mean/invstd [C] when training, [0] on CPU in eval."""
    others = (weight, bias, running_mean, running_var)
    if any(t is not None and t.dtype != x.dtype for t in others):
        return NotImplemented  # mixed precision: let the real shape kernel decide
    channels = x.shape[1] if training else 0
    stat = torch.empty(channels, dtype=x.dtype, device=x.device)
    return _like(x), stat, torch.empty(channels, dtype=x.dtype, device=x.device)


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


def _hardtanh_(x, min_val=-1.0, max_val=1.0):
    """ReLU6 in place: the output is the input. Its meta kernel is a ~2 ms decomposition."""
    return x


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    return _like(x)


FAST_PATHS = {
    aten.hardtanh_.default: _hardtanh_,
    aten.hardtanh.default: _hardtanh,
    aten.native_batch_norm.default: _native_batch_norm,
    aten.native_batch_norm_backward.default: _native_batch_norm_backward,
}


def run_op(func, args, kwargs):
    """Run ``func`` through its fast path when it has one, else through PyTorch's kernel."""
    fast = FAST_PATHS.get(func)
    out = fast(*args, **kwargs) if fast is not None else NotImplemented
    return func(*args, **kwargs) if out is NotImplemented else out
