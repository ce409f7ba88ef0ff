"""The CPU's fused attention op and its backward (``trace.attention`` runs them on meta
tensors). Their meta kernels lay out the output with ``empty_like``, whose Python decomposition
works out a stride permutation and imports sympy and TorchDynamo (~1-2 s, once) for the
transposed query ``nn.MultiheadAttention`` passes.
"""
from __future__ import annotations

import torch

from .layout import _like_any_order

_FLASH_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def _flash_inputs(query, key, value) -> bool:
    """[B, H, L, E] queries against [B, H, S, E] keys and values of one dtype: what the CPU's
    flash kernel takes (anything else is the kernel's to refuse)."""
    return (query.dim() == key.dim() == value.dim() == 4
            and query.dtype == key.dtype == value.dtype and query.dtype in _FLASH_DTYPES
            and query.shape[:2] == key.shape[:2] == value.shape[:2]
            and key.shape[2] == value.shape[2]
            and query.shape[3] == key.shape[3] == value.shape[3])


def _flash_attention_for_cpu(query, key, value, dropout_p=0.0, is_causal=False, *,
                             attn_mask=None, scale=None):
    """(output, logsumexp): the output laid out as the query (``empty_like``), the log-sum-exp
    [B, H, L] in float32 for half precisions, laid out [B, L, H] as the CPU's kernel writes it."""
    if not _flash_inputs(query, key, value):
        return NotImplemented
    output = _like_any_order(query)
    if output is NotImplemented:
        return NotImplemented
    batch, heads, length, _ = query.shape
    dtype = torch.float32 if query.dtype in (torch.bfloat16, torch.float16) else query.dtype
    logsumexp = torch.empty(batch, length, heads, dtype=dtype, device=query.device)
    return output, logsumexp.transpose(1, 2)


def _flash_attention_for_cpu_backward(grad_out, query, key, value, out, logsumexp, dropout_p,
                                      is_causal, *, attn_mask=None, scale=None):
    """The gradients of query, key and value, each laid out [B, L, H, E] as the CPU's kernel
    writes them."""
    if not _flash_inputs(query, key, value):
        return NotImplemented
    return tuple(torch.empty(t.shape[0], t.shape[2], t.shape[1], t.shape[3], dtype=t.dtype,
                             device=t.device).transpose(1, 2) for t in (query, key, value))
