"""Arithmetic: add, sub, mul and div of two tensors or of a tensor and a Python number,
Linear's addmm, and the in-place ops of a residual sum and an optimizer step (``add_``,
``mul_``, Adam's ``lerp_``, ``addcmul_`` and ``addcdiv_``).

Their meta kernels work out broadcasting and type promotion in Python: ~0.4 ms for add, sub
and mul (~2 ms when they broadcast), ~2 ms for addmm, and Adam's ``lerp_``, ``addcmul_``,
``addcdiv_``, ``div`` and ``sqrt`` (an activation's fast path answers it) ~0.1-0.5 ms for each
parameter.
"""
from __future__ import annotations

import torch

from .layout import _dense, _like, _row_major


def _same_layout_binary(x, other, alpha=1):
    """x + other (or -, *) of two tensors of one shape and dtype, both contiguous (a row-major
    output) or of one dense layout (laid out like x). The meta kernel works out broadcasting
    and type promotion in Python (~0.4 ms, ~2 ms when it broadcasts); a broadcast of two
    row-major tensors is ``_broadcast_binary``'s, a Python number ``_number_binary``'s; any
    other case (mixed dtypes or layouts) goes to it."""
    if not isinstance(other, torch.Tensor):
        return _number_binary(x, other, alpha)
    if (other.dtype != x.dtype
            or x.dtype == torch.bool  # bool - bool is an error the real kernel must raise
            or (alpha != 1 and not x.dtype.is_floating_point)  # int + 0.5 * int: an error too
            or other.device != x.device):
        return NotImplemented
    if other.shape != x.shape:
        return _broadcast_binary(x, other)
    if x.is_contiguous() and other.is_contiguous():
        # row-major, as the CPU's TensorIterator lays out an output of contiguous inputs,
        # whatever the strides of their size-1 dims (ViT's cls-token cat + position embedding)
        return torch.empty(*x.shape or ((),), dtype=x.dtype, device=x.device)  # () for 0-d
    if other.stride() != x.stride() or not _dense(x):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


def _number_binary(x, other, alpha=1):
    """x + 2.0, x * 0.5, x / 3 (Adam's bias correction, attention's scaling): a float tensor and
    a Python number give x's dtype, laid out like x."""
    if type(other) not in (int, float) or not x.dtype.is_floating_point or not _dense(x):
        return NotImplemented
    return _like(x)


def _broadcast_binary(x, other):
    """x * other where one stretches size-1 dims of the other (a squeeze-and-excitation scale,
    [N, C, H, W] * [N, C, 1, 1]; a layer scale, [C] * [N, H, W, C]), both row-major: a
    row-major output of the broadcast shape. Sizes that do not broadcast are the kernel's
    error to raise."""
    if not (_row_major(x) and _row_major(other)):
        return NotImplemented
    pad = x.dim() - other.dim()  # a lower rank stands for leading 1s (ConvNeXt's gamma * y)
    xs, os = [1] * -pad + list(x.shape), [1] * pad + list(other.shape)
    shape = []
    for a, b in zip(xs, os):
        if a != b and a != 1 and b != 1:
            return NotImplemented
        shape.append(b if a == 1 else a)
    return torch.empty(*shape, dtype=x.dtype, device=x.device)


def _div(x, other):
    """x / other: two float tensors of one shape, dtype and layout (row-major broadcasts are
    ``_broadcast_binary``'s too), or a Python number (``_number_binary``)."""
    if isinstance(other, torch.Tensor):
        if not (x.dtype.is_floating_point and other.dtype == x.dtype):
            return NotImplemented
        return _same_layout_binary(x, other)
    return _number_binary(x, other)


def _floating(*tensors) -> bool:
    first = tensors[0]
    return first.dtype.is_floating_point and all(
        t.dtype == first.dtype and t.device == first.device for t in tensors)


def _addmm(bias, mat1, mat2, beta=1, alpha=1):
    """Linear's ``bias + mat1 @ mat2``: a contiguous [n, m]. Its meta kernel checks and promotes
    through symbolic-shape helpers, ~2 ms a call."""
    if (not _floating(bias, mat1, mat2) or mat1.dim() != 2 or mat2.dim() != 2
            or mat1.shape[1] != mat2.shape[0]):
        return NotImplemented
    n, m = mat1.shape[0], mat2.shape[1]
    if tuple(bias.shape) not in ((m,), (1, m), (n, m)):
        return NotImplemented
    return torch.empty(n, m, dtype=mat1.dtype, device=mat1.device)


def _add_(x, other, alpha=1):
    """A residual sum in place (ResNet's ``out += identity``), both of one shape and dtype, or
    a Python number into a float tensor (Adam's ``denom.add_(eps)``): the output is x."""
    if not isinstance(other, torch.Tensor):
        return x if type(other) in (int, float) and x.dtype.is_floating_point else NotImplemented
    if (other.shape != x.shape or other.dtype != x.dtype
            or other.device != x.device or x.dtype == torch.bool
            or (alpha != 1 and not x.dtype.is_floating_point)):
        return NotImplemented
    return x


def _mul_(x, other):
    """``x *= other`` in place (an optimizer's momentum decay, ``buf.mul_(0.9)``): the output is
    x, for a Python number into a float tensor or a tensor of x's shape and dtype."""
    if isinstance(other, torch.Tensor):
        same = other.shape == x.shape and other.dtype == x.dtype and other.device == x.device
    else:
        same = type(other) in (int, float) and x.dtype.is_floating_point
    return x if same and x.dtype != torch.bool else NotImplemented


def _pointwise_(x, *others, value=1):
    """Adam's exp_avg.lerp_(grad, w), exp_avg_sq.addcmul_(g, g, value=v),
    param.addcdiv_(m, denom, value=v): the output is x, when every tensor operand has x's
    shape and dtype (a broadcast is the kernel's to check)."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    for t in others:
        if isinstance(t, torch.Tensor):
            if t.shape != x.shape or t.dtype != x.dtype or t.device != x.device:
                return NotImplemented
        elif type(t) not in (int, float):
            return NotImplemented
    return x
