"""The loss: cross-entropy's negative log likelihood and its backward, and a loss's mean.

Cross-entropy's four meta kernels (its log-softmax, in ``activations``, and its nll loss, each
forward and backward) are Python decompositions of ~1 ms a call.
"""
from __future__ import annotations

import torch

from .layout import _EXACT, _row_major


def _nll_loss_checks(x, target, weight, reduction, ignore_index) -> bool:
    """cross_entropy's case: x [N, C] row-major float, target [N] int64, no class weights."""
    return (x.dim() == 2 and x.dtype in _EXACT and _row_major(x) and min(x.shape) >= 1
            and weight is None and reduction in (0, 1, 2) and isinstance(target, torch.Tensor)
            and target.dtype == torch.int64 and tuple(target.shape) == (x.shape[0],)
            and target.device == x.device)


def _nll_loss_forward(x, target, weight, reduction, ignore_index):
    """(loss: [] for mean or sum, [N] for none; total_weight [])."""
    if not _nll_loss_checks(x, target, weight, reduction, ignore_index):
        return NotImplemented
    loss = (torch.empty(x.shape[0], dtype=x.dtype, device=x.device) if reduction == 0
            else torch.empty((), dtype=x.dtype, device=x.device))
    return loss, torch.empty((), dtype=x.dtype, device=x.device)


def _nll_loss_backward(grad_out, x, target, weight, reduction, ignore_index, total_weight):
    """grad_input [N, C] row-major."""
    if not _nll_loss_checks(x, target, weight, reduction, ignore_index) or grad_out.dtype != (
            x.dtype):
        return NotImplemented
    return torch.empty(*x.shape, dtype=x.dtype, device=x.device)


def _mean(x, dtype=None):
    """A loss's mean over every element of a float tensor: a 0-d tensor."""
    if dtype is not None or not x.dtype.is_floating_point:
        return NotImplemented
    return torch.empty((), dtype=x.dtype, device=x.device)
