"""Pin the fast paths of today's architectures in convscope/trace/fastpaths/ (layer and group
norm, GELU, softmax, upsampling, the loss, Adam's in-place ops, the CPU's fused attention; and
the transposed convolution, 3-D cat and rank-broadcast) against PyTorch's CPU kernel: shape,
dtype and strides of every output, and NotImplemented where the kernel must answer."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from torch import nn

import convscope
from convscope.trace.fastpaths import FAST_PATHS

aten = torch.ops.aten
CL = torch.channels_last


def _layout(t):
    return None if t is None else (tuple(t.shape), t.dtype, t.stride())


def _meta(value):
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
        return [_meta(v) for v in value]
    return value


def _check(op, *args, **kwargs):
    """The fast path on meta copies answers as the CPU kernel does."""
    fast = FAST_PATHS[op](*[_meta(a) for a in args], **kwargs)
    assert fast is not NotImplemented, op
    real = op(*args, **kwargs)
    fast, real = (t if isinstance(t, tuple) else (t,) for t in (fast, real))
    assert [_layout(f) for f in fast] == [_layout(r) for r in real]


def _left(op, *args, **kwargs):
    assert FAST_PATHS[op](*[_meta(a) for a in args], **kwargs) is NotImplemented


def _permuted(shape, dtype):  # ConvNeXt's NHWC view of an NCHW map
    return torch.randn(shape[0], shape[-1], *shape[1:-1]).to(dtype).movedim(1, -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [lambda d: torch.randn(2, 5, 6, 4).to(d),
                                  lambda d: _permuted((2, 5, 6, 4), d),
                                  lambda d: torch.randn(3, 17, 4).to(d)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_and_its_backward_match_the_cpu_kernel(dtype, make, affine):
    x = make(dtype)
    w = torch.randn(4, dtype=dtype) if affine else None
    _check(aten.native_layer_norm.default, x, [4], w, w, 1e-5)
    _check(aten.native_layer_norm.default, x, list(x.shape[-2:]), None, None, 1e-5)
    out, mean, rstd = aten.native_layer_norm.default(x.contiguous(), [4], w, w, 1e-5)
    masks = [[True, True, True], [True, False, True]] if affine else [[True, False, False]]
    for mask in masks:
        _check(aten.native_layer_norm_backward.default, torch.randn_like(out), x.contiguous(),
               [4], mean, rstd, w, w, mask)


def test_layer_norm_cases_left_to_the_kernel():
    x = torch.randn(2, 5, 4)
    _left(aten.native_layer_norm.default, x.bfloat16(), [4], None, None, 1e-5)  # stats' dtype
    _left(aten.native_layer_norm.default, x, [5], None, None, 1e-5)  # the kernel's error
    _left(aten.native_layer_norm.default, x, [4], torch.ones(4, dtype=torch.float64), None,
          1e-5)
    out, mean, rstd = aten.native_layer_norm.default(x, [4], None, None, 1e-5)
    grad = torch.randn(2, 4, 5).transpose(1, 2)  # its layout: meta and CPU kernels disagree
    _left(aten.native_layer_norm_backward.default, grad, x, [4], mean, rstd, None, None,
          [True, False, False])


# the last two: autocast's reduced-precision input with float32 weights, where the meta kernel
# kept the statistics in the input's dtype and made the input's gradient float32
@pytest.mark.parametrize("dtype,weight_dtype", [
    (torch.float32, torch.float32), (torch.float64, torch.float64),
    (torch.bfloat16, torch.float32), (torch.float16, torch.float32)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("groups", [1, 4, 8])
def test_group_norm_and_its_backward_match_the_cpu_kernel(dtype, weight_dtype, channels_last,
                                                          groups):
    x = torch.randn(2, 8, 5, 6).to(dtype)
    if channels_last:
        x = x.to(memory_format=CL)
    w = torch.randn(8, dtype=weight_dtype)
    _check(aten.native_group_norm.default, x, w, w, 2, 8, 30, groups, 1e-5)
    if weight_dtype == dtype:
        _check(aten.native_group_norm.default, x, None, None, 2, 8, 30, groups, 1e-5)
    _, mean, rstd = aten.native_group_norm.default(x, w, w, 2, 8, 30, groups, 1e-5)
    for mask in ([True, True, True], [True, False, False]):
        _check(aten.native_group_norm_backward.default, torch.randn_like(x), x, mean, rstd, w,
               2, 8, 30, groups, mask)


def test_group_norm_cases_left_to_the_kernel():
    x = torch.randn(2, 8, 5, 6)
    _left(aten.native_group_norm.default, x, None, None, 2, 8, 30, 3, 1e-5)  # 8 % 3
    _left(aten.native_group_norm.default, x.bfloat16(), None, None, 2, 8, 30, 4, 1e-5)
    _left(aten.native_group_norm.default, x.transpose(2, 3), None, None, 2, 8, 30, 4, 1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_and_its_backward_match_the_cpu_kernel(dtype, channels_last, approximate):
    x = torch.randn(2, 8, 5, 6).to(dtype)
    if channels_last:
        x = x.to(memory_format=CL)
    _check(aten.gelu.default, x, approximate=approximate)
    _check(aten.gelu_backward.default, torch.randn_like(x), x, approximate=approximate)
    _left(aten.gelu.default, x, approximate="erf")  # the kernel's error


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape, dim", [((2, 4, 17, 17), -1), ((3, 10), 1), ((3, 10), 0),
                                        ((5,), 0)])
def test_softmax_and_log_softmax_match_the_cpu_kernel(dtype, shape, dim):
    x = torch.randn(shape).to(dtype)
    _check(aten._softmax.default, x, dim, False)
    _check(aten._safe_softmax.default, x, dim)
    _check(aten._log_softmax.default, x, dim, False)
    out = aten._softmax.default(x, dim, False)
    _check(aten._softmax_backward_data.default, torch.randn_like(out), out, dim, dtype)
    out = aten._log_softmax.default(x, dim, False)
    _check(aten._log_softmax_backward_data.default, torch.randn_like(out), out, dim, dtype)


def test_softmax_cases_left_to_the_kernel():
    x = torch.randn(3, 10)
    _left(aten._softmax.default, x, 2, False)  # out of range: the kernel's error
    _left(aten._softmax.default, x.t(), 0, False)
    _left(aten._safe_softmax.default, x, 1, torch.float64)
    _left(aten._softmax.default, x.half(), 1, True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("size", [[10, 12], [3, 3], [16, 16]])
def test_upsampling_matches_the_cpu_kernel(dtype, channels_last, size):
    x = torch.randn(2, 8, 5, 6).to(dtype)
    if channels_last:
        x = x.to(memory_format=CL)
    _check(aten.upsample_bilinear2d.default, x, size, True)
    _check(aten.upsample_bilinear2d.default, x, size, False, 2.0, 2.0)
    _check(aten.upsample_nearest2d.default, x, size, 2.0, 2.0)
    _check(aten.upsample_nearest2d.default, x, size)


def test_upsampling_cases_left_to_the_kernel():
    ambiguous = torch.randn(2, 1, 5, 6)  # row-major and channels-last at once
    _left(aten.upsample_nearest2d.default, ambiguous, [10, 12])
    _left(aten.upsample_nearest2d.default, torch.randn(2, 8, 5, 6), [0, 12])  # the error
    _left(aten.upsample_bilinear2d.default, torch.randn(2, 8, 5), [10], True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("number", [2, 0.5])
def test_ops_of_a_python_number_match_the_cpu_kernel(dtype, channels_last, number):
    x = torch.randn(2, 8, 5, 6).to(dtype)
    if channels_last:
        x = x.to(memory_format=CL)
    for op in (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
               aten.mul.Scalar, aten.div.Scalar):
        _check(op, x, number)
    _check(aten.div.Tensor, x, torch.rand_like(x) + 1)
    _check(aten.sqrt.default, x.abs())
    _check(aten.zeros_like.default, x, pin_memory=False)
    meta = x.to("meta")
    assert FAST_PATHS[aten.add_.Tensor](meta, 1e-8) is meta
    assert aten.add_.Tensor(x.clone(), 1e-8).stride() == x.stride()


def test_ops_of_a_python_number_left_to_the_kernel():
    ints = torch.arange(6).view(2, 3)
    _left(aten.div.Tensor, ints, 2)  # an int tensor divides into floats
    _left(aten.mul.Tensor, ints, 0.5)
    _left(aten.add.Tensor, torch.randn(2, 3), True)
    _left(aten.div.Tensor, ints, ints)
    _left(aten.add_.Tensor, ints, 1)


def test_a_real_tensor_in_a_shape_only_step_gets_the_kernel():
    # Adam's step counter is a real CPU tensor whose value the step reads: answering
    # step += 1 with the tensor itself left it 0, and 1 - beta1 ** 0 divided by zero
    from convscope.trace.fastpaths import run_op

    step = torch.tensor(0.0)
    run_op(aten.add_.Tensor, (step, 1), {})
    assert step.item() == 1
    assert run_op(aten.mul.Tensor, (step, 2.0), {}).item() == 2
    # with fake tensors (an amp step), the counter is a fake tensor that keeps its value
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        lifted, plain = torch.tensor(0.0), torch.empty(3)  # Adam makes its counter so
        assert lifted.constant is not None
        run_op(aten.add_.Tensor, (lifted, 1), {})
        assert lifted.constant.item() == 1
    assert FAST_PATHS[aten.add_.Tensor](plain, 1) is plain


class _ReadsAConstant(nn.Module):
    """A tensor made in forward is a real CPU tensor, even in a meta trace, and its value is
    read: every fast path, not only add's, must leave it to the kernel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        n = torch.tensor(2.0)
        n.mul_(3.0)
        return self.conv(x).relu_().repeat(int(n.item()), 1, 1, 1)


def test_a_value_made_in_forward_is_computed_by_every_fast_path_s_op():
    # mul_'s fast path answered n.mul_(3.0) with n itself: the trace repeated 2 times, not 6
    model = _ReadsAConstant()
    expected = list(model(torch.randn(1, 3, 8, 8)).shape)
    assert expected == [6, 4, 6, 6]
    assert convscope.analyze(model, (3, 8, 8)).rows[-1].output_shape == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_adam_s_in_place_ops_return_their_input(dtype, channels_last):
    x = torch.randn(2, 8, 5, 6).to(dtype)
    if channels_last:
        x = x.to(memory_format=CL)
    meta, other = x.to("meta"), torch.empty_like(x, device="meta")
    assert FAST_PATHS[aten.lerp_.Scalar](meta, other, 0.1) is meta
    assert FAST_PATHS[aten.addcmul_.default](meta, other, other, value=0.1) is meta
    assert FAST_PATHS[aten.addcdiv_.default](meta, other, other, value=-0.1) is meta
    # the CPU kernels write into x, keeping its layout
    assert aten.lerp_.Scalar(x.clone(), x, 0.1).stride() == x.stride()
    assert aten.addcmul_.default(x.clone(), x, x, value=0.1).stride() == x.stride()
    assert aten.addcdiv_.default(x.clone(), x, x + 10, value=0.1).stride() == x.stride()
    broadcast = torch.empty(8, 1, 1, device="meta", dtype=dtype)
    assert FAST_PATHS[aten.addcmul_.default](meta, broadcast, other) is NotImplemented
    assert FAST_PATHS[aten.lerp_.Scalar](meta, other.long(), 0.1) is NotImplemented


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_cross_entropy_s_ops_match_the_cpu_kernel(dtype, reduction):
    x = torch.randn(4, 10).to(dtype).log_softmax(1)
    target = torch.tensor([0, 3, 9, 2])
    _check(aten.nll_loss_forward.default, x, target, None, reduction, -100)
    loss, total = aten.nll_loss_forward.default(x, target, None, reduction, -100)
    _check(aten.nll_loss_backward.default, torch.ones_like(loss), x, target, None, reduction,
           -100, total)
    _check(aten.mean.default, x)
    _left(aten.nll_loss_forward.default, x, target, torch.ones(10, dtype=dtype), reduction,
          -100)
    _left(aten.nll_loss_forward.default, x, target[:3], None, reduction, -100)  # the error
    _left(aten.mean.default, target)


@settings(max_examples=150, deadline=None)
@given(
    batch=st.integers(1, 2), groups=st.sampled_from([1, 2, 4]), per_group=st.integers(1, 3),
    out_per_group=st.integers(1, 3), side=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    output_padding=st.tuples(st.integers(0, 2), st.integers(0, 2)), bias=st.booleans(),
)
def test_transposed_convolution_matches_the_cpu_kernel(batch, groups, per_group, out_per_group,
                                                       side, kernel, stride, padding,
                                                       dilation, output_padding, bias):
    in_channels = groups * per_group
    x = torch.randn(batch, in_channels, *side)
    weight = torch.randn(in_channels, out_per_group, *kernel)
    b = torch.randn(groups * out_per_group) if bias else None
    args = (list(stride), list(padding), list(dilation), True, list(output_padding), groups)
    fast = FAST_PATHS[aten.convolution.default](*[_meta(t) for t in (x, weight, b)], *args)
    try:
        real = aten.convolution.default(x, weight, b, *args)
    except RuntimeError:
        assert fast is NotImplemented  # the real kernel's error message reaches the user
        return
    if fast is NotImplemented:  # an empty output, left to the kernel
        assert min(real.shape) == 0
    else:
        assert _layout(fast) == _layout(real)


def test_a_channels_last_transposed_convolution_is_laid_out_as_the_cpu_lays_it():
    # the CPU kernel lays the output out channels-last, the meta kernel row-major: it was left
    # to the meta kernel, so a later .contiguous() copied nothing
    x = torch.randn(1, 8, 6, 6).to(memory_format=CL)
    weight = torch.randn(8, 8, 3, 3)
    _check(aten.convolution.default, x, weight, None, [1, 1], [1, 1], [1, 1], True, [0, 0], 1)


@pytest.mark.parametrize("tensors", [
    lambda: [torch.randn(2, 1, 64), torch.randn(2, 64, 16).transpose(1, 2)],  # ViT's cls token
    lambda: [torch.randn(3, 5).t(), torch.randn(2, 3)],
    lambda: [torch.randn(2, 3, 4)[:, :, ::2], torch.randn(2, 3, 2)],
])
def test_cat_of_other_ranks_than_4_and_5_is_row_major_whatever_the_layouts(tensors):
    made = tensors()
    dim = 1 if made[0].dim() == 3 and made[0].shape[1] != made[1].shape[1] else 0
    _check(aten.cat.default, made, dim)


@pytest.mark.parametrize("shapes", [((64,), (2, 7, 7, 64)), ((2, 7, 7, 64), (64,)),
                                    ((1, 64), (2, 7, 7, 64)), ((7, 1), (2, 7, 5))])
def test_broadcast_of_lower_rank_matches_the_cpu_kernel(shapes):
    a, b = (torch.randn(s) for s in shapes)
    for op in (aten.mul.Tensor, aten.add.Tensor):
        _check(op, a, b)


_FLASH = aten._scaled_dot_product_flash_attention_for_cpu.default
_FLASH_BACKWARD = aten._scaled_dot_product_flash_attention_for_cpu_backward.default


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 2), heads=st.integers(1, 3), queries=st.integers(1, 5),
       keys=st.integers(1, 5), dim=st.integers(1, 8),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
       order=st.sampled_from([(0, 1, 2, 3), (0, 2, 1, 3), (2, 0, 1, 3)]),
       causal=st.booleans(), mask=st.booleans())
def test_the_cpu_s_fused_attention_and_its_backward_match_the_cpu_kernel(
        batch, heads, queries, keys, dim, dtype, order, causal, mask):
    # ``order``: the dims as laid out in memory, slowest first; MultiheadAttention's query is
    # [B, L, H, E] in memory, viewed as [B, H, L, E]
    def laid_out(*shape):
        stored = torch.randn(*[shape[d] for d in order]).to(dtype)
        return stored.permute(*[order.index(d) for d in range(4)])

    q, k, v = laid_out(batch, heads, queries, dim), laid_out(batch, heads, keys, dim), \
        laid_out(batch, heads, keys, dim)
    attn_mask = torch.randn(queries, keys).to(dtype) if mask else None
    _check(_FLASH, q, k, v, 0.0, causal, attn_mask=attn_mask)
    out, logsumexp = _FLASH(q, k, v, 0.0, causal, attn_mask=attn_mask)
    _check(_FLASH_BACKWARD, torch.randn_like(out), q, k, v, out, logsumexp, 0.0, causal,
           attn_mask=attn_mask)


def test_attention_the_cpu_s_flash_kernel_would_refuse_is_left_to_the_kernel():
    q = torch.randn(2, 3, 5, 8)
    _left(_FLASH, q, torch.randn(2, 3, 4, 6), torch.randn(2, 3, 4, 6))  # head dims differ
    _left(_FLASH, q[0], q[0], q[0])  # 3-d
    _left(_FLASH, q, q.double(), q)  # dtypes differ
    strided = torch.empty(2, 3, 5, 8, device="meta")[..., ::2]  # gaps: empty_like lays it out
    assert FAST_PATHS[_FLASH](strided, strided, strided) is NotImplemented
