"""Scaled dot-product attention on meta tensors, run with the kernel the CPU would choose.

``F.scaled_dot_product_attention`` picks its kernel in C++, by the tensors' device. On the CPU
it is most often a fused flash-attention kernel (``_scaled_dot_product_flash_attention_for_cpu``)
that keeps one log-sum-exp per query for the backward. On the meta device it is always PyTorch's
math decomposition, which builds the whole queries x keys score matrix and keeps its softmax: a
meta trace of a small ViT predicted a training step 4.9% over the real CPU step at batch 4 and
10.4% over at batch 32. For the duration of a meta trace, ``as_on_cpu`` puts a wrapper in
``torch.nn.functional`` (where ``nn.MultiheadAttention`` and user code find the function) that
asks the CPU's own choice (``torch._fused_sdp_choice``) on small stand-in CPU tensors (same
dtypes, same shapes but a batch of 1, same last-dim strides: what the choice reads), and where it
is flash attention calls that fused op on the meta tensors, as the CPU's kernel does. Every other
call (real or fake tensors, grouped-query attention, dtypes that differ, the math choice) goes
to PyTorch's own function unchanged.

``tests/trace/test_attention.py`` pins the choice and the op against a real CPU forward.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend
from torch.utils._python_dispatch import _disable_current_modes

_TORCH_SDPA = torch._C._nn.scaled_dot_product_attention
_FLASH = int(SDPBackend.FLASH_ATTENTION)
_PLAIN = torch.Tensor


def _stand_in(t: torch.Tensor, batch: int | None) -> torch.Tensor:
    """A CPU tensor with ``t``'s dtype, shape (its first size ``batch`` when given) and
    requires_grad, its last dim of stride 1 exactly when ``t``'s is."""
    shape = (batch, *t.shape[1:]) if batch is not None else tuple(t.shape)
    if t.stride(-1) == 1:
        copy = torch.empty(shape, dtype=t.dtype, device="cpu")
    else:
        copy = torch.empty((*shape, 2), dtype=t.dtype, device="cpu")[..., 0]
    return copy.requires_grad_(t.requires_grad)


def _cpu_chooses_flash(query, key, value, attn_mask, dropout_p, is_causal, scale) -> bool:
    tensors = [query, key, value] + ([attn_mask] if attn_mask is not None else [])
    batched = all(t.dim() == 4 for t in tensors) and len({t.shape[0] for t in tensors}) == 1
    batch = 1 if batched else None
    with _disable_current_modes():  # the stand-ins are not the model's ops
        stand_ins = [_stand_in(t, batch) for t in tensors]
        if attn_mask is None:
            stand_ins.append(None)
        choice = torch._fused_sdp_choice(*stand_ins, dropout_p, is_causal, scale=scale,
                                         enable_gqa=False)
    return choice == _FLASH


def _fusable(query, key, value, attn_mask, enable_gqa) -> bool:
    """Meta tensors of one floating dtype (a mask of it, or boolean): the CPU's flash path would
    then call its op on them as they are, a boolean mask converted first."""
    tensors = (query, key, value) if attn_mask is None else (query, key, value, attn_mask)
    return (not enable_gqa and query.dtype.is_floating_point
            and all(type(t) is _PLAIN and t.is_meta for t in tensors)
            and key.dtype == value.dtype == query.dtype
            and (attn_mask is None or attn_mask.dtype in (query.dtype, torch.bool)))


def _additive(attn_mask, dtype):
    """A boolean mask as the additive one the CPU's kernel gets: 0 where True, -inf where
    False (PyTorch's convert_boolean_attn_mask, with its ops)."""
    if attn_mask is None or attn_mask.dtype != torch.bool:
        return attn_mask
    zero = torch.scalar_tensor(0.0, dtype=dtype, device=attn_mask.device)
    minus_infinity = torch.scalar_tensor(-math.inf, dtype=dtype, device=attn_mask.device)
    return torch.where(attn_mask, zero, minus_infinity)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``F.scaled_dot_product_attention``, with the CPU's fused kernel on meta tensors."""
    if (_fusable(query, key, value, attn_mask, enable_gqa)
            and _cpu_chooses_flash(query, key, value, attn_mask, dropout_p, is_causal, scale)):
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, dropout_p, is_causal, attn_mask=_additive(attn_mask, query.dtype),
            scale=scale)[0]
    return _TORCH_SDPA(query, key, value, attn_mask, dropout_p, is_causal, scale=scale,
                       enable_gqa=enable_gqa)


@contextlib.contextmanager
def as_on_cpu():
    """``F.scaled_dot_product_attention`` is ``scaled_dot_product_attention`` above for the
    duration (only a meta trace needs it: fake tensors are CPU tensors to PyTorch's choice).
    Put back by the call that put it in, so that traces in two threads never leave it there."""
    before = F.scaled_dot_product_attention
    if before is not scaled_dot_product_attention:
        F.scaled_dot_product_attention = scaled_dot_product_attention
    try:
        yield
    finally:
        if before is not scaled_dot_product_attention:
            F.scaled_dot_product_attention = before
