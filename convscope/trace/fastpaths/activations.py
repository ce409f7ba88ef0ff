"""Activations (ReLU, ReLU6's hardtanh, hardswish, hardsigmoid, SiLU, sigmoid, GELU),
softmax and their gradients: outputs laid out like the input, or the input itself in place.

Their meta kernels are Python decompositions: ``hardtanh`` (ReLU6) ~2 ms a call, hardswish
~8 ms, ``_safe_softmax`` ~1 ms, ``gelu`` ~0.5 ms.
"""
from __future__ import annotations

import torch

from .layout import _EXACT, _dense, _like, _row_major


def _hardtanh_(x, min_val=-1.0, max_val=1.0):
    """ReLU6 in place: the output is the input. Its meta kernel is a ~2 ms decomposition."""
    return x


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    return _like(x)


def _relu_(x):
    """An activation in place (relu_, hardswish_, silu_, ...): the output is the input. Their
    meta kernels are Python decompositions: hardswish_ ~8 ms a call, hardsigmoid ~5 ms."""
    return x if x.dtype.is_floating_point else NotImplemented


def _relu(x):
    """An activation of a float tensor (relu, hardswish, silu, sigmoid, ...): laid out like x."""
    return _like(x) if x.dtype.is_floating_point else NotImplemented


def _activation_backward(grad_output, x, *constants):
    """The gradient of an activation (relu's threshold_backward, hardtanh, hardswish,
    hardsigmoid, silu, sigmoid): laid out like ``grad_output`` when ``x`` (its input or output)
    is laid out alike. Their meta kernels are Python decompositions, ~2 ms a call for
    hardtanh's and hardswish's."""
    if (not isinstance(x, torch.Tensor) or x.shape != grad_output.shape
            or x.dtype != grad_output.dtype or not grad_output.dtype.is_floating_point
            or x.device != grad_output.device or x.stride() != grad_output.stride()
            or not _dense(x)):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


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
