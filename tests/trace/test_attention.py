"""trace.attention: on meta tensors, scaled dot-product attention runs the kernel a real CPU call
runs (the fused flash op where the CPU takes it, PyTorch's own function elsewhere), with the
same output and, in training, the same memory."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from convscope import training_memory
from convscope.trace.as_on_cpu import as_on_cpu
from tests.conftest import OpNames
from tests.measured_memory import measure_training_step
from tests.modern_nets import MODERN


def _run(q, k, v, mask, **options):
    with OpNames() as seen:
        out = F.scaled_dot_product_attention(q, k, v, mask, **options)
        if out.requires_grad:
            out.sum().backward()
    return out, seen.ops


def _meta(t):
    if t is None:
        return None
    copy = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
    return copy.requires_grad_(t.requires_grad)


_CASE = dict(batch=2, heads=4, kv_heads=None, gqa=False, queries=5, keys=4, dim=8,
             value_dim=None, dtype=torch.float32, mask=None, causal=False, dropout=0.0,
             transposed=False, grad=True, rank=4)


@settings(max_examples=150, deadline=None)
@given(batch=st.integers(0, 3), heads=st.integers(1, 3), kv_heads=st.sampled_from([None, 1]),
       gqa=st.booleans(), queries=st.integers(1, 5), keys=st.integers(1, 5),
       dim=st.integers(1, 9), value_dim=st.sampled_from([None, 3]),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
       mask=st.sampled_from([None, "float", "float32", "bool", "2d"]), causal=st.booleans(),
       dropout=st.sampled_from([0.0, 0.5]), transposed=st.booleans(), grad=st.booleans(),
       rank=st.sampled_from([3, 4]))
@example(**_CASE)  # flash
@example(**{**_CASE, "mask": "bool"})  # flash, the mask converted first
@example(**{**_CASE, "mask": "float", "causal": True})  # flash, where math would raise
@example(**{**_CASE, "mask": "float32", "dtype": torch.bfloat16})  # flash: float32 is allowed
@example(**{**_CASE, "kv_heads": 1, "gqa": True})  # flash, grouped-query
@example(**{**_CASE, "gqa": True})  # flash, grouped-query asked with equal heads
@example(**{**_CASE, "batch": 0})  # an empty batch: PyTorch's own path
@example(**{**_CASE, "dropout": 0.5})  # math
@example(**{**_CASE, "rank": 3})  # math
@example(**{**_CASE, "transposed": True})  # math: a key whose last dim is not contiguous
@example(**{**_CASE, "value_dim": 3})  # math
@example(**{**_CASE, "transposed": True, "dim": 1})  # math: a last dim of one, of stride 4
def test_a_meta_call_runs_the_ops_a_cpu_call_runs(batch, heads, kv_heads, gqa, queries, keys,
                                                  dim, value_dim, dtype, mask, causal, dropout,
                                                  transposed, grad, rank):
    lead = (batch, heads) if rank == 4 else (batch * heads,)
    kv_lead = (batch, kv_heads or heads) if rank == 4 else lead
    q = torch.randn(*lead, queries, dim, dtype=dtype)
    k = torch.randn(*kv_lead, dim, keys, dtype=dtype).transpose(-1, -2) if transposed else \
        torch.randn(*kv_lead, keys, dim, dtype=dtype)
    v = torch.randn(*kv_lead, keys, value_dim or dim, dtype=dtype)
    m = {None: None, "float": torch.randn(*lead, queries, keys, dtype=dtype),
         "float32": torch.randn(queries, keys), "bool": torch.rand(queries, keys) > 0.3,
         "2d": torch.randn(queries, keys, dtype=dtype)}[mask]
    for t in (q, k, v):
        t.requires_grad_(grad)
    options = {"is_causal": causal, "dropout_p": dropout, "enable_gqa": gqa}
    try:
        real, real_ops = _run(q, k, v, m, **options)
    except RuntimeError:  # an error of PyTorch's own: the meta call raises one too
        with pytest.raises(RuntimeError), as_on_cpu():
            _run(*map(_meta, (q, k, v, m)), **options)
        return
    with as_on_cpu():
        fake, fake_ops = _run(*map(_meta, (q, k, v, m)), **options)
    # dropout draws its mask with ops of its own on the CPU path: compare the attention's
    fused = [op for op in real_ops if "scaled_dot_product" in op]
    assert [op for op in fake_ops if "scaled_dot_product" in op] == fused
    if not fused:  # the math decomposition: the ops PyTorch's function runs on meta tensors
        metas = [_meta(t) for t in (q, k, v, m)]
        with OpNames() as plain:
            F.scaled_dot_product_attention(*metas, **options)
        assert fake_ops[:len(plain.ops)] == plain.ops
    assert (fake.shape, fake.dtype) == (real.shape, real.dtype)


def test_vit_takes_the_fused_op_and_nothing_else_changes():
    q = torch.empty(2, 4, 17, 16, device="meta")
    with OpNames() as plain:
        F.scaled_dot_product_attention(q, q, q)
    with as_on_cpu(), OpNames() as fused:
        F.scaled_dot_product_attention(q, q, q)
    assert "aten._safe_softmax.default" in plain.ops  # the math decomposition
    assert fused.ops == ["aten._scaled_dot_product_flash_attention_for_cpu.default"]
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention


def test_the_cpu_is_asked_under_a_default_device_of_meta():
    q = torch.empty(2, 4, 17, 16, device="meta")
    with torch.device("meta"), as_on_cpu(), OpNames() as fused:  # stand-ins are made on the CPU
        F.scaled_dot_product_attention(q, q, q)
    assert fused.ops == ["aten._scaled_dot_product_flash_attention_for_cpu.default"]


def test_the_function_is_torch_s_again_after_an_error():
    with pytest.raises(ValueError), as_on_cpu():
        assert F.scaled_dot_product_attention is not torch._C._nn.scaled_dot_product_attention
        raise ValueError
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention


def test_traces_in_two_threads_keep_it_until_the_last_one_ends():
    first, second = as_on_cpu(), as_on_cpu()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first thread's trace ends while the second's runs
    assert F.scaled_dot_product_attention is not torch._C._nn.scaled_dot_product_attention
    second.__exit__(None, None, None)
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention


def test_real_tensors_get_torch_s_values():
    q, k, v = (torch.randn(2, 3, 5, 8) for _ in range(3))
    with as_on_cpu():
        ours = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.equal(ours, torch.ops.aten.scaled_dot_product_attention(q, k, v, is_causal=True))


@pytest.mark.parametrize("batch", [4, 32])
def test_vit_training_step_matches_a_real_cpu_step(batch):
    # the math decomposition kept each layer's batch x heads x 17 x 17 softmax: 4.9% over the
    # real step at batch 4, 10.4% at batch 32; measured here: equal to the byte
    build, size = MODERN["vit"]
    torch.manual_seed(0)
    model = build()
    predicted = training_memory(model, size, batch, "momentum", inference=False)
    measured = measure_training_step(model, torch.randn(batch, *size), "momentum")
    assert abs(predicted.train_peak_bytes - measured["peak"]) <= 0.001 * measured["peak"]


class _Attention(nn.Module):
    """Linear queries, keys and values, ``kv`` of the 8 heads for keys and values, and a float32
    mask when asked (made in forward, as model code makes one)."""

    def __init__(self, kv=8, gqa=True, mask=False):
        super().__init__()
        self.kv, self.gqa, self.mask = kv, gqa, mask
        self.q, self.k, self.v = nn.Linear(64, 64), nn.Linear(64, 8 * kv), nn.Linear(64, 8 * kv)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        batch, length, _ = x.shape
        q = self.q(x).view(batch, length, 8, 8).transpose(1, 2)
        k, v = (f(x).view(batch, length, self.kv, 8).transpose(1, 2) for f in (self.k, self.v))
        mask = torch.zeros(length, length, device=x.device) if self.mask else None
        out = F.scaled_dot_product_attention(q, k, v, mask, enable_gqa=self.gqa)
        return self.head(out.transpose(1, 2).reshape(batch, length, 64).mean(1))


@pytest.mark.parametrize("options, dtype", [
    ({"kv": 2}, None),  # grouped-query: 8 query heads, 2 key and value heads
    ({"gqa": False, "mask": True}, torch.bfloat16),  # a float32 mask on a bfloat16 model
])
def test_fused_attention_s_step_matches_a_real_cpu_step(options, dtype):
    # the math decomposition would put these 333% and 441% over; measured here: to the byte
    torch.manual_seed(0)
    model = _Attention(**options).to(dtype or torch.float32)
    predicted = training_memory(model, (64, 64), 8, "momentum", dtype=dtype, inference=False)
    x = torch.randn(8, 64, 64, dtype=dtype or torch.float32)
    measured = measure_training_step(model, x, "momentum")
    assert abs(predicted.train_peak_bytes - measured["peak"]) <= 0.001 * measured["peak"]
