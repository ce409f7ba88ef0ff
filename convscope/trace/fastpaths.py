"""Ops whose shape-only kernels are slow, answered by the shapes PyTorch's CPU kernel returns.

On the meta device ``native_batch_norm`` runs a Python decomposition of ~4 ms a call: two thirds
of a ResNet-50 trace. Its outputs are fully determined by its inputs, so we build them with
``torch.empty_like``/``torch.empty`` instead. A fast path may return NotImplemented to hand the
call back to the real kernel. ``tests/trace/test_fastpaths.py`` pins each answer
against the real CPU kernel, so an upgrade of PyTorch cannot silently change our numbers.
"""
from __future__ import annotations

import torch

aten = torch.ops.aten


def _native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """out [N, C, ...] like x; saved mean/invstd [C] when training, [0] on CPU in eval."""
    others = (weight, bias, running_mean, running_var)
    if any(t is not None and t.dtype != x.dtype for t in others):
        return NotImplemented  # mixed precision: let the real shape kernel decide
    channels = x.shape[1] if training else 0
    stat = torch.empty(channels, dtype=x.dtype, device=x.device)
    return torch.empty_like(x), stat, torch.empty_like(stat)


FAST_PATHS = {
    aten.native_batch_norm.default: _native_batch_norm,
}
