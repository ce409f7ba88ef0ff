"""Pin the batch-norm fast path against PyTorch's CPU kernel, so an upgrade cannot drift."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from convscope.trace.fastpaths import FAST_PATHS, _one_entry_per_op

aten = torch.ops.aten


def _example(channels_last: bool) -> torch.Tensor:
    """A [2, 5, 4, 3] CPU tensor, row-major or channels-last."""
    x = torch.randn(2, 5, 4, 3)
    return x.to(memory_format=torch.channels_last) if channels_last else x


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
    x = _example(channels_last)
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
    x = _example(channels_last)
    real = aten.hardtanh.default(x, 0.0, 6.0)
    fast = FAST_PATHS[aten.hardtanh.default](x.to("meta"), 0.0, 6.0)
    assert (fast.shape, fast.dtype, fast.stride()) == (real.shape, real.dtype, real.stride())
    meta = x.to("meta")
    assert FAST_PATHS[aten.hardtanh_.default](meta, 0.0, 6.0) is meta
    assert aten.hardtanh_.default(x.clone(), 0.0, 6.0).stride() == x.stride()


def _layout(t):
    return t.shape, t.dtype, t.stride()


@pytest.mark.parametrize("op", [aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_same_layout_binary_fast_paths_match_the_cpu_kernel(op, dtype, channels_last):
    x, y = (torch.randn(2, 5, 4, 3).to(dtype) for _ in range(2))
    if channels_last:
        x, y = (t.to(memory_format=torch.channels_last) for t in (x, y))
    fast = FAST_PATHS[op](x.to("meta"), y.to("meta"))
    assert _layout(fast) == _layout(op(x, y)) and fast.device.type == "meta"


@pytest.mark.parametrize("make", [
    # ViT's cls token joined to its patches, plus a position embedding: a batch dim of 1 whose
    # strides differ; the CPU lays out every output of contiguous inputs row-major
    lambda: (torch.randn(1, 17, 64), torch.randn(17, 64)[None]),
    lambda: (torch.randn(17, 64)[None], torch.randn(1, 17, 64)),
    # [N, C, 1, 1] laid out channels-last is contiguous too: a row-major output
    lambda: tuple(torch.randn(2, 3, 1, 1).to(memory_format=torch.channels_last)
                  for _ in range(2)),
    lambda: (torch.tensor(1.5), torch.tensor(2.5)),  # Inception's main and auxiliary losses
])
def test_contiguous_operands_give_a_row_major_output_as_on_the_cpu(make):
    x, y = make()
    assert x.to("meta").stride() == x.stride() and y.to("meta").stride() == y.stride()
    fast = FAST_PATHS[aten.add.Tensor](x.to("meta"), y.to("meta"))
    assert _layout(fast) == _layout(x + y)


@pytest.mark.parametrize("other", [
    torch.randn(2, 5, 4, 3, dtype=torch.float64),  # promotion
    torch.randn(2, 5, 4, 3).to(memory_format=torch.channels_last),  # mixed layouts
    True,  # a bool (a number, or a tensor of another rank: test_fastpaths_modern.py)
])
def test_binary_cases_the_fast_path_leaves_to_the_kernel(other):
    x = torch.randn(2, 5, 4, 3).to("meta")
    other = other.to("meta") if isinstance(other, torch.Tensor) else other
    assert FAST_PATHS[aten.add.Tensor](x, other) is NotImplemented
    booleans = torch.zeros(2, 3, dtype=torch.bool, device="meta")
    assert FAST_PATHS[aten.sub.Tensor](booleans, booleans) is NotImplemented


@pytest.mark.parametrize("shapes, dim", [
    ([(2, 3, 4, 4), (2, 5, 4, 4), (2, 2, 4, 4)], 1),  # Inception's branches
    ([(2, 3, 4, 4), (2, 3, 4, 4)], -1),
    ([(3, 4), (6, 4)], 0),
    ([(7,)], 0),
    ([(2, 3, 1, 1), (2, 5, 1, 1)], 1),  # contiguous in both layouts, laid out row-major
    ([(2, 3, 1, 1), (2, 3, 1, 1)], 0),
])
def test_cat_fast_path_matches_the_cpu_kernel(shapes, dim):
    tensors = [torch.randn(s) for s in shapes]
    fast = FAST_PATHS[aten.cat.default]([t.to("meta") for t in tensors], dim)
    assert _layout(fast) == _layout(aten.cat.default(tensors, dim))


@pytest.mark.parametrize("tensors", [
    [torch.randn(2, 3, 4, 4).to(memory_format=torch.channels_last), torch.randn(2, 3, 4, 4)],
    # contiguous in both layouts, laid out channels-last: the kernel keeps that layout
    [torch.empty_strided((2, 3, 1, 1), (3, 1, 3, 3)), torch.empty_strided((2, 3, 1, 1),
                                                                          (3, 1, 3, 3))],
    [torch.randn(2, 3), torch.randn(2, 3, dtype=torch.float64)],
    [torch.randn(2, 3, 4, 4).transpose(2, 3), torch.randn(2, 3, 4, 4)],
])
def test_cat_cases_the_fast_path_leaves_to_the_kernel(tensors):
    assert FAST_PATHS[aten.cat.default]([t.to("meta") for t in tensors], 0) is NotImplemented


@pytest.mark.parametrize("dim", [4, 5, -5])
def test_cat_along_a_dim_out_of_range_gets_the_kernel_s_error(dim):
    tensors = [torch.randn(2, 3, 4, 4)] * 2
    with pytest.raises(IndexError):
        aten.cat.default(tensors, dim)
    assert FAST_PATHS[aten.cat.default]([t.to("meta") for t in tensors], dim) is NotImplemented


@settings(max_examples=300, deadline=None)
@given(
    batch=st.integers(1, 2), groups=st.sampled_from([1, 2, 4]), per_group=st.integers(1, 3),
    out_per_group=st.integers(1, 3), side=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    bias=st.booleans(), weight_groups=st.sampled_from([None, 1]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_convolution_fast_path_matches_the_cpu_kernel(batch, groups, per_group, out_per_group,
                                                      side, kernel, stride, padding, dilation,
                                                      bias, weight_groups, dtype):
    # weight_groups=1 feeds a weight made for one group: a channel mismatch the kernel must report
    in_channels, out_channels = groups * per_group, groups * out_per_group
    x = torch.randn(batch, in_channels, *side, dtype=dtype)
    weight = torch.randn(out_channels, in_channels // (weight_groups or groups), *kernel,
                         dtype=dtype)
    b = torch.randn(out_channels, dtype=dtype) if bias else None
    args = (list(stride), list(padding), list(dilation), False, [0, 0], groups)
    meta = [t.to("meta") if t is not None else None for t in (x, weight, b)]
    fast = FAST_PATHS[aten.convolution.default](*meta, *args)
    try:
        real = aten.convolution.default(x, weight, b, *args)
    except RuntimeError:
        assert fast is NotImplemented  # the real kernel's error message reaches the user
        return
    assert fast is not NotImplemented or weight.shape[1] * groups != in_channels
    if fast is not NotImplemented:
        assert _layout(fast) == _layout(real)


# channels-last on a grid, not by hypothesis: the CPU's kernel crashes the process on some
# channels-last shapes (a grouped conv of a 1x1 input with padding; bfloat16 with dilation), so
# only cases seen to run are tried. The CPU lays the output out channels-last where the input or
# the weight suggests it; the meta kernel never does, and a later .contiguous() copied nothing
@pytest.mark.parametrize("layouts", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("shape,groups,out_channels,kernel", [
    (shape, groups, out_channels, kernel)
    for shape in [(2, 4, 7, 9), (1, 4, 5, 5), (1, 1, 5, 6), (2, 4, 1, 6)]
    for groups, out_channels, kernel in [(1, 8, 3), (1, 1, 1), (2, 6, 3), (4, 4, 3), (1, 8, 1)]
    if shape[1] % groups == 0])  # groups that divide the channels: a conv that exists
@pytest.mark.parametrize("stride,padding,transposed", [(1, 0, False), (2, 1, False),
                                                       (2, 0, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_convolution_fast_path_lays_channels_last_out_as_the_cpu_kernel(
        layouts, shape, groups, out_channels, kernel, stride, padding, transposed, dtype):
    channels = shape[1]
    x = torch.randn(*shape, dtype=dtype)
    weight = (torch.randn(channels, out_channels // groups, kernel, kernel, dtype=dtype)
              if transposed else
              torch.randn(out_channels, channels // groups, kernel, kernel, dtype=dtype))
    x, weight = (t.to(memory_format=torch.channels_last) if last else t
                 for t, last in zip((x, weight), layouts))
    args = ([stride] * 2, [padding] * 2, [1, 1], transposed, [0, 0], groups)
    fast = FAST_PATHS[aten.convolution.default](x.to("meta"), weight.to("meta"), None, *args)
    try:
        real = aten.convolution.default(x, weight, None, *args)
    except RuntimeError:  # a kernel larger than the padded input
        assert fast is NotImplemented
        return
    # float32 is answered, but for an output both layouts describe ([N, C, 1, 1]: the strides
    # of its size-1 dims vary with the CPU's kernel); another dtype (float64 here) is left to
    # the kernel where it is channels-last, and compared where it is row-major
    both = real.is_contiguous() and real.is_contiguous(memory_format=torch.channels_last)
    assert fast is not NotImplemented or dtype != torch.float32 or both
    if fast is not NotImplemented:
        assert _layout(fast) == _layout(real)


@pytest.mark.parametrize("make", [
    lambda: (torch.randn(1, 4, 6, 6).transpose(2, 3), torch.randn(8, 4, 3, 3)),  # neither layout
    lambda: (torch.randn(1, 4, 6), torch.randn(8, 4, 3)),  # 1-D
    lambda: (torch.randn(1, 4, 6, 6), torch.randn(8, 4, 3, 3, dtype=torch.float64)),
])
def test_convolution_cases_the_fast_path_leaves_to_the_kernel(make):
    x, weight = (t.to("meta") for t in make())
    ones, zeros = [1] * (x.dim() - 2), [0] * (x.dim() - 2)
    fast = FAST_PATHS[aten.convolution.default](x, weight, None, ones, zeros, ones, False, zeros, 1)
    assert fast is NotImplemented


def _fast_or_error(op, real_args, meta_args):
    """(fast answer, real answer or None where the CPU kernel raised)."""
    fast = FAST_PATHS[op](*meta_args)
    try:
        real = op(*real_args)
    except (RuntimeError, IndexError):
        return fast, None
    return fast, real


def _same_layouts(fast, real):
    fast, real = (t if isinstance(t, tuple) else (t,) for t in (fast, real))
    assert [_layout(f) for f in fast] == [_layout(r) for r in real]
    assert all(f.device.type == "meta" for f in fast)


@settings(max_examples=200, deadline=None)
@given(
    side=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    kernel=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    stride=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    padding=st.lists(st.integers(0, 2), min_size=1, max_size=2),
    dilation=st.lists(st.integers(1, 2), min_size=1, max_size=2),
    ceil_mode=st.booleans(), average=st.booleans(), dtype=st.sampled_from([torch.float32,
                                                                           torch.float64]),
)
def test_pooling_fast_paths_match_the_cpu_kernel(side, kernel, stride, padding, dilation,
                                                 ceil_mode, average, dtype):
    x = torch.randn(2, 3, *side, dtype=dtype)
    if average:
        op, args = aten.avg_pool2d.default, (kernel, stride, padding, ceil_mode)
    else:
        op, args = aten.max_pool2d_with_indices.default, (kernel, stride, padding, dilation,
                                                           ceil_mode)
    fast, real = _fast_or_error(op, (x, *args), (x.to("meta"), *args))
    if real is None:
        assert fast is NotImplemented  # the real kernel's error message reaches the user
    elif fast is not NotImplemented:
        _same_layouts(fast, real)
    else:  # the only cases left to the kernel that it accepts: padding above half the kernel
        assert any(2 * p > k for p, k in zip(padding * 2, kernel * 2))


def test_pooling_fast_paths_are_used_for_the_zoo_s_pools():
    x = torch.empty(1, 64, 112, 112, device="meta")
    pooled = FAST_PATHS[aten.max_pool2d_with_indices.default](x, [3, 3], [2, 2], [0, 0], [1, 1],
                                                               True)
    assert [tuple(t.shape) for t in pooled] == [(1, 64, 56, 56)] * 2  # GoogLeNet's ceil_mode
    assert tuple(FAST_PATHS[aten.avg_pool2d.default](x, [3, 3], [1, 1], [1, 1]).shape) == (
        1, 64, 112, 112)


@pytest.mark.parametrize("make", [
    lambda: (torch.randn(10), torch.randn(4, 7), torch.randn(10, 7).t()),  # Linear: W transposed
    lambda: (torch.randn(4, 10), torch.randn(4, 7), torch.randn(7, 10)),
    lambda: (torch.randn(1, 10), torch.randn(4, 7), torch.randn(7, 10)),
    lambda: (torch.randn(10), torch.randn(4, 7), torch.randn(6, 10)),  # inner sizes differ
    lambda: (torch.randn(10), torch.randn(4, 7, dtype=torch.float64), torch.randn(7, 10)),
    lambda: (torch.randn(3), torch.randn(4, 7), torch.randn(7, 10)),  # bias of the wrong size
])
def test_addmm_fast_path_matches_the_cpu_kernel(make):
    tensors = make()
    fast, real = _fast_or_error(aten.addmm.default, tensors, [t.to("meta") for t in tensors])
    if real is None or real.dtype != tensors[1].dtype:
        assert fast is NotImplemented
    else:
        _same_layouts(fast, real)


@pytest.mark.parametrize("shape, dim, keepdim", [
    ((2, 5, 4, 3), [-1, -2], True),  # global average pooling
    ((2, 5, 4, 3), [2, 3], False),
    ((2, 5), [0], False),
    ((2, 5), [0, 1], False),  # every dim: a 0-d result
    ((2, 5, 4, 3), [1, -3], True),  # the same dim twice: the kernel's error
    ((2, 5, 4, 3), [4], True),  # out of range
])
def test_mean_fast_path_matches_the_cpu_kernel(shape, dim, keepdim):
    x = torch.randn(shape)
    fast, real = _fast_or_error(aten.mean.dim, (x, dim, keepdim), (x.to("meta"), dim, keepdim))
    if real is None:
        assert fast is NotImplemented
    else:
        _same_layouts(fast, real)


def test_mean_cases_the_fast_path_leaves_to_the_kernel():
    x = torch.empty(2, 5, 4, 3, device="meta")
    assert FAST_PATHS[aten.mean.dim](x.to(memory_format=torch.channels_last), [2, 3]) is (
        NotImplemented)
    assert FAST_PATHS[aten.mean.dim](x.long(), [2, 3]) is NotImplemented  # no dtype to infer
    assert FAST_PATHS[aten.mean.dim](x, [2, 3], dtype=torch.float64) is NotImplemented
    assert FAST_PATHS[aten.mean.dim](x, 3).shape == (2, 5, 4)  # one dim given as an int


@pytest.mark.parametrize("channels_last", [False, True])
def test_relu_and_residual_add_fast_paths_match_the_cpu_kernel(channels_last):
    x = _example(channels_last)
    meta = x.to("meta")
    _same_layouts(FAST_PATHS[aten.relu.default](meta), aten.relu.default(x))
    assert FAST_PATHS[aten.relu_.default](meta) is meta
    assert FAST_PATHS[aten.add_.Tensor](meta, x.to("meta")) is meta
    assert aten.add_.Tensor(x.clone(), x).stride() == x.stride()
    assert FAST_PATHS[aten.add_.Tensor](meta, torch.empty(5, 1, 1, device="meta")) is (
        NotImplemented)  # broadcast: left to the kernel
    assert FAST_PATHS[aten.relu_.default](meta.long()) is NotImplemented


def test_empty_fast_path_matches_the_op():
    fast = FAST_PATHS[aten.empty.memory_format]([0], dtype=torch.float32, layout=torch.strided,
                                                device=torch.device("meta"), pin_memory=False)
    real = aten.empty.memory_format([0], dtype=torch.float32, layout=torch.strided,
                                    device=torch.device("meta"), pin_memory=False)
    _same_layouts(fast, real)
    assert FAST_PATHS[aten.empty.memory_format](
        [2, 3, 4, 4], device=torch.device("meta"),
        memory_format=torch.channels_last) is NotImplemented


@pytest.mark.parametrize("op, op_", [
    (aten.hardswish.default, aten.hardswish_.default),
    (aten.hardsigmoid.default, aten.hardsigmoid_.default),
    (aten.silu.default, aten.silu_.default),
    (aten.sigmoid.default, aten.sigmoid_.default),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_activation_fast_paths_match_the_cpu_kernel(op, op_, channels_last):
    # MobileNetV3's hardswish and hardsigmoid and EfficientNet's silu and sigmoid: their meta
    # kernels took ~8 ms and ~5 ms a call, a MobileNetV3 analysis ~250 ms where one of
    # MobileNetV2 took ~50
    x = _example(channels_last)
    meta = x.to("meta")
    _same_layouts(FAST_PATHS[op](meta), op(x))
    assert FAST_PATHS[op_](meta) is meta and op_(x.clone()).stride() == x.stride()
    assert FAST_PATHS[op](meta.long()) is NotImplemented  # sigmoid promotes an int to float


@pytest.mark.parametrize("op", [aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor])
@pytest.mark.parametrize("shapes", [
    ((2, 5, 4, 3), (2, 5, 1, 1)),  # a squeeze-and-excitation scale
    ((2, 5, 1, 1), (2, 5, 4, 3)),
    ((2, 5, 1, 3), (2, 5, 4, 1)),
    ((1, 5, 4, 3), (2, 5, 4, 3)),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_broadcast_binary_fast_path_matches_the_cpu_kernel(op, shapes, dtype):
    x, y = (torch.randn(s).to(dtype) for s in shapes)
    fast = FAST_PATHS[op](x.to("meta"), y.to("meta"))
    _same_layouts(fast, op(x, y))


@pytest.mark.parametrize("x, y", [
    (torch.randn(2, 5, 4, 3).to(memory_format=torch.channels_last), torch.randn(2, 5, 1, 1)),
    (torch.randn(2, 5, 4, 3), torch.empty_strided((2, 5, 1, 1), (5, 1, 5, 5))),
    (torch.randn(2, 5, 4, 3), torch.randn(3, 4).t()),  # another rank, not row-major
])
def test_broadcast_cases_the_fast_path_leaves_to_the_kernel(x, y):
    assert FAST_PATHS[aten.mul.Tensor](x.to("meta"), y.to("meta")) is NotImplemented


def test_sizes_that_do_not_broadcast_get_the_kernel_s_error():
    x, y = torch.randn(2, 5, 4, 3), torch.randn(2, 5, 2, 3)
    with pytest.raises(RuntimeError, match="must match the size"):
        aten.add.Tensor(x, y)
    assert FAST_PATHS[aten.add.Tensor](x.to("meta"), y.to("meta")) is NotImplemented


@pytest.mark.parametrize("shape, size", [((2, 5, 13, 13), (6, 6)), ((1, 3, 7, 9), (1, 1)),
                                         ((2, 5, 4, 4), (8, 3)), ((2, 5, 1, 1), (1, 1))])
def test_adaptive_average_pool_fast_path_matches_the_cpu_kernel(shape, size):
    x = torch.randn(shape)
    op = aten._adaptive_avg_pool2d.default
    _same_layouts(FAST_PATHS[op](x.to("meta"), size), op(x, size))


@pytest.mark.parametrize("x, size", [
    (torch.randn(2, 5, 4, 4).to(memory_format=torch.channels_last), (2, 2)),
    (torch.randn(5, 4, 4), (2, 2)),  # unbatched
    (torch.randn(2, 5, 4, 4), (0, 2)),
    (torch.randn(2, 5, 0, 4), (2, 2)),  # the kernel's error
])
def test_adaptive_average_pool_cases_the_fast_path_leaves_to_the_kernel(x, size):
    assert FAST_PATHS[aten._adaptive_avg_pool2d.default](x.to("meta"), size) is NotImplemented


@pytest.mark.parametrize("op, constants", [
    (aten.threshold_backward.default, (0,)),  # relu's
    (aten.hardtanh_backward.default, (0.0, 6.0)),  # ReLU6's
    (aten.hardswish_backward.default, ()),
    (aten.hardsigmoid_backward.default, ()),
    (aten.silu_backward.default, ()),
    (aten.sigmoid_backward.default, ()),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_activation_backward_fast_paths_match_the_cpu_kernel(op, constants, channels_last):
    # the memory simulation's backward: hardtanh's and hardswish's meta kernels took ~2 ms a
    # call, a third of a MobileNetV2 training step's simulation
    grad, x = torch.randn(2, 5, 4, 3), torch.randn(2, 5, 4, 3)
    if channels_last:
        grad, x = (t.to(memory_format=torch.channels_last) for t in (grad, x))
    fast = FAST_PATHS[op](grad.to("meta"), x.to("meta"), *constants)
    _same_layouts(fast, op(grad, x, *constants))
    mixed = x.to(memory_format=torch.contiguous_format if channels_last else torch.channels_last)
    assert FAST_PATHS[op](grad.to("meta"), mixed.to("meta"), *constants) is NotImplemented


@pytest.mark.parametrize("channels_last", [False, True])
def test_empty_like_and_in_place_mul_fast_paths_match_the_cpu_kernel(channels_last):
    x = _example(channels_last)
    meta = x.to("meta")
    _same_layouts(FAST_PATHS[aten.empty_like.default](meta, pin_memory=False),
                  aten.empty_like.default(x, pin_memory=False))
    assert FAST_PATHS[aten.empty_like.default](meta, dtype=torch.float64) is NotImplemented
    assert FAST_PATHS[aten.mul_.Tensor](meta, 0.9) is meta  # SGD's momentum decay
    assert FAST_PATHS[aten.mul_.Tensor](meta, x.to("meta")) is meta
    assert aten.mul_.Tensor(x.clone(), 0.9).stride() == x.stride()
    assert FAST_PATHS[aten.mul_.Tensor](meta.long(), 0.5) is NotImplemented  # the kernel's error
    assert FAST_PATHS[aten.mul_.Tensor](meta, torch.empty(5, 1, 1, device="meta")) is (
        NotImplemented)


def test_cat_of_5d_1x1x1_maps_laid_out_channels_last_is_left_to_the_kernel():
    # the kernel keeps channels_last_3d (strides (6, 1, 6, 6, 6)); the fast path answered
    # row-major (6, 1, 1, 1, 1)
    tensors = [torch.empty(2, 3, 1, 1, 1).to(memory_format=torch.channels_last_3d)] * 2
    assert aten.cat.default(tensors, 1).stride() == (6, 1, 6, 6, 6)
    assert FAST_PATHS[aten.cat.default]([t.to("meta") for t in tensors], 1) is NotImplemented
    row_major = [torch.empty(2, 3, 1, 1, 1)] * 2
    _same_layouts(FAST_PATHS[aten.cat.default]([t.to("meta") for t in row_major], 1),
                  aten.cat.default(row_major, 1))


@pytest.mark.parametrize("op", [aten.add.Tensor, aten.sub.Tensor, aten.add_.Tensor])
@pytest.mark.parametrize("other_shape", [(2, 3), (1, 3)])
def test_an_integer_sum_with_a_fractional_alpha_gets_the_kernel_s_error(op, other_shape):
    x, other = torch.ones(2, 3, dtype=torch.int64), torch.ones(other_shape, dtype=torch.int64)
    with pytest.raises(RuntimeError):
        op(x.clone(), other, alpha=0.5)
    assert FAST_PATHS[op](x.to("meta"), other.to("meta"), alpha=0.5) is NotImplemented


def test_an_op_given_two_fast_paths_is_an_error():
    # a dict literal would keep the second silently
    with pytest.raises(ValueError, match="relu.default has two fast paths, abs and round"):
        _one_entry_per_op((aten.relu.default, abs), (aten.relu.default, round))


@pytest.mark.parametrize("op", [aten._embedding_bag.default,
                                aten._embedding_bag_forward_only.default])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("padding_idx", [-1, 2])
@pytest.mark.parametrize("include_last_offset", [False, True])
@pytest.mark.parametrize("index", [torch.int64, torch.int32])
# per-sample weights are for sums only (mode 0): the kernel refuses them otherwise
@pytest.mark.parametrize("mode,weighted,transposed", [
    (0, None, False), (1, None, False), (2, None, False), (0, "dense", False),
    (0, "strided", False), (0, None, True), (1, None, True), (2, None, True)])
def test_embedding_bag_bookkeeping_shapes_match_the_cpu_kernel(op, mode, dtype, padding_idx,
                                                               include_last_offset, index,
                                                               weighted, transposed):
    # the meta kernel's offset2bag, bag_size and max_indices had other shapes than the CPU's

    def call(device):
        weight = (torch.randn(3, 10, dtype=dtype).t() if transposed else
                  torch.randn(10, 3, dtype=dtype)).to(device)
        indices = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9], dtype=index, device=device)
        offsets = torch.tensor([0, 4, 6], dtype=index, device=device)
        weights = (None if weighted is None else
                   torch.rand(16, dtype=dtype, device=device)[::2] if weighted == "strided" else
                   torch.rand(8, dtype=dtype, device=device))
        args = (weight, indices, offsets, False, mode, False, weights, include_last_offset,
                padding_idx)
        return FAST_PATHS[op](*args) if device == "meta" else op(*args)

    _same_layouts(call("meta"), call("cpu"))
