"""Scaled dot-product attention on meta tensors, run with the kernel the CPU would choose.

``F.scaled_dot_product_attention`` picks its kernel in C++, by device. On the CPU it is most
often a fused flash-attention op (``_scaled_dot_product_flash_attention_for_cpu``) that keeps one
log-sum-exp per query for the backward; on the meta device it is always PyTorch's math
decomposition, which keeps the whole queries x keys softmax. For the duration of a meta trace,
``trace.as_on_cpu`` puts ``scaled_dot_product_attention`` below in ``torch.nn.functional`` (where
``nn.MultiheadAttention`` and model code look the function up): it asks the CPU's own choice
(``torch._fused_sdp_choice``) on CPU stand-ins of the tensors, and where that is flash attention
runs the fused op on the meta tensors, as the CPU's function does. Every other call goes to
PyTorch's own function. A model that imported the function itself before the trace keeps
PyTorch's (the math decomposition on meta tensors).
"""
from __future__ import annotations

import math

import torch
from torch.nn.attention import SDPBackend
from torch.utils._python_dispatch import _disable_current_modes

_TORCH_SDPA = torch._C._nn.scaled_dot_product_attention
_FLASH = int(SDPBackend.FLASH_ATTENTION)


def _stand_in(t: torch.Tensor, batch: int | None) -> torch.Tensor:
    """A CPU tensor with ``t``'s dtype, shape (its first size ``batch`` when given) and
    requires_grad, its last dim of stride 1 exactly when ``t``'s is: what the choice reads."""
    shape = (batch, *t.shape[1:]) if batch is not None else tuple(t.shape)
    if t.stride(-1) == 1:
        copy = torch.empty(shape, dtype=t.dtype, device="cpu")
    else:
        copy = torch.empty((*shape, 2), dtype=t.dtype, device="cpu")[..., 0]
    return copy.requires_grad_(t.requires_grad)


def _cpu_chooses_flash(query, key, value, attn_mask, dropout_p, is_causal, scale,
                       enable_gqa) -> bool:
    """PyTorch's choice for CPU tensors like these. Where every tensor has one batch size, the
    stand-ins have a batch of 1, which no check of the choice tells from it."""
    tensors = [query, key, value] + ([attn_mask] if attn_mask is not None else [])
    one_batch = all(t.dim() == 4 for t in tensors) and len({t.shape[0] for t in tensors}) == 1
    with _disable_current_modes():  # the stand-ins are not the model's ops
        stand_ins = [_stand_in(t, 1 if one_batch else None) for t in tensors]
        if attn_mask is None:
            stand_ins.append(None)
        choice = torch._fused_sdp_choice(*stand_ins, dropout_p, is_causal, scale=scale,
                                         enable_gqa=enable_gqa)
    return choice == _FLASH


def _fusable(query, key, value, attn_mask) -> bool:
    """Non-empty meta tensors of one floating dtype, a mask boolean, float32 or of that dtype
    (what PyTorch accepts): the CPU's flash path takes them as they are, a boolean mask
    converted first. PyTorch's own function refuses the rest, and answers an empty input by
    a path of its own."""
    tensors = (query, key, value) if attn_mask is None else (query, key, value, attn_mask)
    return (query.dtype.is_floating_point and key.dtype == value.dtype == query.dtype
            and all(type(t) is torch.Tensor and t.is_meta and t.numel() for t in tensors)
            and (attn_mask is None
                 or attn_mask.dtype in (torch.bool, torch.float32, query.dtype)))


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
    if (_fusable(query, key, value, attn_mask)
            and _cpu_chooses_flash(query, key, value, attn_mask, dropout_p, is_causal, scale,
                                   enable_gqa)):
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, dropout_p, is_causal, attn_mask=_additive(attn_mask, query.dtype),
            scale=scale)[0]
    return _TORCH_SDPA(query, key, value, attn_mask, dropout_p, is_causal, scale=scale,
                       enable_gqa=enable_gqa)
