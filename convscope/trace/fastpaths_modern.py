"""Fast paths for the ops of today's architectures: layer and group norm, GELU, softmax,
upsampling (ConvNeXt, ViT, U-Net, YOLO's neck), the ops of a Python-number operand, and the
Adam step's in-place ops.

Their meta kernels are Python decompositions: ``native_group_norm`` ~3 ms a call and its
backward ~9 ms, ``upsample_bilinear2d`` ~5 ms, ``native_layer_norm`` ~1 ms and its backward
~1.5 ms, ``_safe_softmax`` ~1 ms, ``gelu`` ~0.5 ms, cross-entropy's four ops ~1 ms each, and
Adam's ``lerp_``, ``addcmul_``, ``addcdiv_``, ``sqrt`` and ``div`` ~0.1-0.5 ms for each
parameter. Layer norm, group norm and upsampling import TorchDynamo or sympy on first use
(~1-2 s). As in ``fastpaths``, each answer is pinned against the CPU kernel in
``tests/trace/test_fastpaths_modern.py``, and every case not covered there returns
NotImplemented for PyTorch's own kernel (and error).
"""
from __future__ import annotations

import torch

from .fastpaths import (_activation_backward, _dense, _empty_like, _like, _number_binary, _relu,
                        _row_major, _same_layout_binary)

aten = torch.ops.aten
# dtypes whose norm statistics the CPU kernel and the meta kernel agree on: for bfloat16 and
# float16 the CPU keeps mean and rstd in the input's dtype, the meta kernel in float32
_EXACT = (torch.float32, torch.float64)


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


def _group_norm_checks(x, weight, n, c, hxw, group) -> bool:
    """x [N, C, *] dense (row-major or channels-last), C a multiple of ``group``."""
    return (x.dtype in _EXACT and x.dim() >= 2 and _dense(x) and min(x.shape) >= 1
            and group >= 1 and c % group == 0 and (n, c) == tuple(x.shape[:2])
            and x.numel() == n * c * hxw and _same(weight, x)
            and (weight is None or tuple(weight.shape) == (c,)))


def _native_group_norm(x, weight, bias, n, c, hxw, group, eps):
    """(out laid out like x, mean [N, group], rstd [N, group])."""
    if not (_group_norm_checks(x, weight, n, c, hxw, group) and _same(bias, x)
            and (bias is None or tuple(bias.shape) == (c,))):
        return NotImplemented
    return (_like(x), torch.empty(n, group, dtype=x.dtype, device=x.device),
            torch.empty(n, group, dtype=x.dtype, device=x.device))


def _native_group_norm_backward(grad_out, x, mean, rstd, weight, n, c, hxw, group,
                                output_mask):
    """(grad_input laid out like x, grad_weight [C], grad_bias [C]); None where masked."""
    if (not _group_norm_checks(x, weight, n, c, hxw, group) or grad_out.shape != x.shape
            or grad_out.dtype != x.dtype or grad_out.stride() != x.stride()):
        return NotImplemented

    def per_channel():
        return torch.empty(c, dtype=x.dtype, device=x.device)

    return (_like(x) if output_mask[0] else None,
            per_channel() if output_mask[1] else None,
            per_channel() if output_mask[2] else None)


def _gelu(x, approximate="none"):
    """GELU (exact or tanh): laid out like x."""
    return _relu(x) if approximate in ("none", "tanh") else NotImplemented


def _gelu_backward(grad_out, x, approximate="none"):
    if approximate not in ("none", "tanh"):
        return NotImplemented
    return _activation_backward(grad_out, x)


def _softmax(x, dim, half_to_float=False):
    """softmax (and attention's _safe_softmax) of a row-major float tensor: row-major."""
    if (half_to_float or x.dtype not in _EXACT + (torch.bfloat16, torch.float16)
            or not -x.dim() <= dim < max(x.dim(), 1) or not _row_major(x)):
        return NotImplemented
    return torch.empty(*x.shape, dtype=x.dtype, device=x.device)


def _safe_softmax(x, dim, dtype=None):
    return _softmax(x, dim) if dtype is None or dtype == x.dtype else NotImplemented


def _softmax_backward_data(grad_out, out, dim, input_dtype):
    if (grad_out.shape != out.shape or grad_out.dtype != out.dtype or input_dtype != out.dtype
            or not _row_major(grad_out)):
        return NotImplemented
    return _softmax(out, dim)


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


def _div(x, other):
    """x / other: two float tensors of one shape, dtype and layout (row-major broadcasts are
    ``fastpaths``' too), or a Python number (``fastpaths._number_binary``)."""
    if isinstance(other, torch.Tensor):
        if not (x.dtype.is_floating_point and other.dtype == x.dtype):
            return NotImplemented
        return _same_layout_binary(x, other)
    return _number_binary(x, other)


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


def register(table: dict) -> None:
    """Add these fast paths to ``fastpaths.FAST_PATHS``."""
    modern = {
        aten.native_layer_norm.default: _native_layer_norm,
        aten.native_layer_norm_backward.default: _native_layer_norm_backward,
        aten.native_group_norm.default: _native_group_norm,
        aten.native_group_norm_backward.default: _native_group_norm_backward,
        aten.gelu.default: _gelu,
        aten.gelu_backward.default: _gelu_backward,
        aten._softmax.default: _softmax,
        aten._safe_softmax.default: _safe_softmax,
        aten._softmax_backward_data.default: _softmax_backward_data,
        aten.upsample_bilinear2d.default: _upsample_bilinear2d,
        aten.upsample_nearest2d.default: _upsample_nearest2d,
        aten._log_softmax.default: _softmax,
        aten._log_softmax_backward_data.default: _softmax_backward_data,
        aten.nll_loss_forward.default: _nll_loss_forward,
        aten.nll_loss_backward.default: _nll_loss_backward,
        aten.mean.default: _mean,
        aten.mul.Scalar: _number_binary,
        aten.div.Scalar: _number_binary,
        aten.div.Tensor: _div,
        aten.sqrt.default: _relu,  # a float tensor's square root: laid out like it
        aten.lerp_.Scalar: _pointwise_,
        aten.addcmul_.default: _pointwise_,
        aten.addcdiv_.default: _pointwise_,
        aten.zeros_like.default: _empty_like,  # Adam's state: no values on a meta tensor
    }
    table.update(modern)
