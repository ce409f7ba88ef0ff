"""Pin the batch-norm fast path against PyTorch's CPU kernel, so an upgrade cannot drift."""
from __future__ import annotations

import pytest
import torch

from convscope.trace.fastpaths import FAST_PATHS

aten = torch.ops.aten


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_native_batch_norm_fast_path_matches_the_cpu_kernel(training, dtype, channels_last):
    x = torch.randn(2, 5, 4, 3).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    stats_dtype = dtype
    weight, bias = torch.ones(5, dtype=dtype), torch.zeros(5, dtype=dtype)
    mean, var = torch.zeros(5, dtype=stats_dtype), torch.ones(5, dtype=stats_dtype)
    args = (x, weight, bias, mean, var, training, 0.1, 1e-5)
    real = aten.native_batch_norm.default(*args)
    meta_args = tuple(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args)
    fast = FAST_PATHS[aten.native_batch_norm.default](*meta_args)
    for r, f in zip(real, fast):
        assert (f.shape, f.dtype, f.stride()) == (r.shape, r.dtype, r.stride())


def test_mixed_precision_batch_norm_is_left_to_the_real_kernel():
    x = torch.empty(2, 3, 4, 4, dtype=torch.bfloat16, device="meta")
    stats = torch.empty(3, device="meta")
    fast = FAST_PATHS[aten.native_batch_norm.default]
    assert fast(x, stats, stats, stats, stats, True, 0.1, 1e-5) is NotImplemented


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("mask", [(True, True, True), (True, False, False), (False, True, True)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_native_batch_norm_backward_fast_path_matches_the_cpu_kernel(training, mask,
                                                                     channels_last):
    x = torch.randn(2, 5, 4, 3)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    weight, mean, var = torch.ones(5), torch.zeros(5), torch.ones(5)
    _, save_mean, save_invstd = aten.native_batch_norm.default(
        x, weight, torch.zeros(5), mean, var, training, 0.1, 1e-5)
    args = (torch.randn_like(x), x, weight, mean, var, save_mean, save_invstd, training, 1e-5,
            list(mask))
    real = aten.native_batch_norm_backward.default(*args)
    meta_args = tuple(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args)
    fast = FAST_PATHS[aten.native_batch_norm_backward.default](*meta_args)
    for r, f in zip(real, fast):
        assert (r is None) == (f is None)
        if r is not None:
            assert (f.shape, f.dtype, f.stride()) == (r.shape, r.dtype, r.stride())


@pytest.mark.parametrize("channels_last", [False, True])
def test_hardtanh_fast_paths_match_the_cpu_kernel(channels_last):
    x = torch.randn(2, 5, 4, 3)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    real = aten.hardtanh.default(x, 0.0, 6.0)
    fast = FAST_PATHS[aten.hardtanh.default](x.to("meta"), 0.0, 6.0)
    assert (fast.shape, fast.dtype, fast.stride()) == (real.shape, real.dtype, real.stride())
    meta = x.to("meta")
    assert FAST_PATHS[aten.hardtanh_.default](meta, 0.0, 6.0) is meta
    assert aten.hardtanh_.default(x.clone(), 0.0, 6.0).stride() == x.stride()
