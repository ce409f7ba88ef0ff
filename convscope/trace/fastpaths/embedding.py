"""EmbeddingBag's op: its bookkeeping outputs in the shapes the CPU kernel gives them.

The meta kernel gives ``offset2bag``, ``bag_size`` and ``max_indices`` other shapes than the
CPU's (it makes ``offset2bag`` where the CPU's summing fast path leaves it empty, and
``max_indices`` empty where the CPU gives it one entry a bag), so their bytes were a few off.
Here the shape-only kernel runs (its checks and its output stand) and those three are made
again in the CPU's shapes, from what the CPU kernel reads: the mode, ``padding_idx``, the
weight's dtype and layout, the per-sample weights' stride, and whether the op is the
forward-only one.
"""
from __future__ import annotations

import torch

aten = torch.ops.aten
_SUMMED_FAST = (torch.float32, torch.float16, torch.bfloat16)  # the CPU's summing fast path
_SUM, _MAX = 0, 2


def _embedding_bag(*args, **kwargs):
    return _with_cpu_bookkeeping(aten._embedding_bag.default(*args, **kwargs), *args,
                                 forward_only=False, **kwargs)


def _embedding_bag_forward_only(*args, **kwargs):
    return _with_cpu_bookkeeping(aten._embedding_bag_forward_only.default(*args, **kwargs),
                                 *args, forward_only=True, **kwargs)


def _with_cpu_bookkeeping(outputs, weight, indices, offsets, scale_grad_by_freq=False, mode=0,
                          sparse=False, per_sample_weights=None, include_last_offset=False,
                          padding_idx=-1, *, forward_only: bool):
    """The kernel's ``outputs`` with offset2bag, bag_size and max_indices in the CPU's shapes,
    for 1-d indices and offsets of one integer dtype into a 2-d weight; the kernel's own for
    anything else."""
    if not (weight.dim() == 2 and indices.dim() == 1 and offsets.dim() == 1
            and indices.dtype in (torch.int64, torch.int32) and offsets.dtype == indices.dtype
            and weight.dtype.is_floating_point and mode in (0, 1, 2)
            and offsets.numel() >= 1 and (per_sample_weights is None or (
                mode == _SUM and per_sample_weights.shape == indices.shape
                and per_sample_weights.dtype == weight.dtype))):
        return outputs
    device, index = weight.device, indices.dtype
    bags, dim = offsets.numel() - bool(include_last_offset), weight.shape[1]
    fast_sum = (mode == _SUM and padding_idx is not None and padding_idx < 0
                and weight.dtype in _SUMMED_FAST and weight.stride(1) == 1
                and (per_sample_weights is None or per_sample_weights.stride(0) == 1))
    counted = offsets.numel() if forward_only and mode == _SUM else bags
    offset2bag = torch.empty(0 if fast_sum else indices.numel(), dtype=index, device=device)
    bag_size = torch.empty(counted, dtype=index, device=device)
    max_indices = (torch.empty(bags, dim, dtype=index, device=device) if mode == _MAX
                   else torch.empty(counted, dtype=index, device=device))
    return outputs[0], offset2bag, bag_size, max_indices
