"""Random layer configurations: our shapes, parameters and MACs against PyTorch's own."""
from __future__ import annotations

from math import floor, inf, prod

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import convscope
from convscope.rules import Cost, cost_of
from tests.conftest import flop_counter_total

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _out_size(size, kernel, stride, padding, dilation, ceil_mode=False):
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    return (-(-span // stride) if ceil_mode else span // stride) + 1


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 4))
    c_out = groups * draw(st.integers(1, 4))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding_mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = draw(st.one_of(
        st.just("valid"), st.just("same"),
        st.tuples(st.integers(0, 3), st.integers(0, 3)),
    ))
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = (draw(st.integers(4, 20)), draw(st.integers(4, 20)))
    return dict(in_channels=c_in, out_channels=c_out, kernel_size=kernel, stride=stride,
                padding=padding, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), padding_mode=padding_mode), size


@SETTINGS
@given(conv_configs(), st.integers(1, 3))
def test_conv2d_shape_params_and_macs_equal_torch(config, batch):
    kwargs, (height, width) = config
    pads = kwargs["padding"] if isinstance(kwargs["padding"], tuple) else (0, 0)
    if kwargs["padding_mode"] != "zeros":
        assume(all(p < s for p, s in zip(pads, (height, width))))  # reflect needs pad < size
    layer = nn.Conv2d(**kwargs)
    x = torch.randn(batch, kwargs["in_channels"], height, width)
    try:
        expected = layer(x)
    except RuntimeError:
        assume(False)  # the kernel does not fit: validation tests cover this case
    report = convscope.analyze(layer, (kwargs["in_channels"], height, width), batch_size=batch)
    assert report.rows[-1].output_shape == list(expected.shape)
    assert report.totals.params == sum(p.numel() for p in layer.parameters())
    n, c_out, h_out, w_out = expected.shape
    kh, kw = kwargs["kernel_size"]
    # N * C_out * H_out * W_out * (C_in / groups) * kH * kW
    assert report.totals.macs == n * c_out * h_out * w_out * (
        kwargs["in_channels"] // kwargs["groups"]) * kh * kw
    assert 2 * report.totals.macs == flop_counter_total(layer, [x])


@st.composite
def pool_configs(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    size = (draw(st.integers(4, 20)), draw(st.integers(4, 20)))
    return kernel, stride, padding, draw(st.booleans()), size


@SETTINGS
@given(pool_configs(), st.sampled_from(["max", "avg"]), st.integers(1, 4))
def test_pooling_shape_equals_torch(config, kind, channels):
    kernel, stride, padding, ceil_mode, (height, width) = config
    if kind == "max":
        dilation = (1, 1)
        layer = nn.MaxPool2d(kernel, stride, padding, dilation=dilation, ceil_mode=ceil_mode)
    else:
        layer = nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    expected = layer(torch.randn(2, channels, height, width))
    report = convscope.analyze(layer, (channels, height, width), batch_size=2)
    assert report.rows[-1].output_shape == list(expected.shape)
    assert report.totals.params == 0 and report.totals.macs == 0
    # one comparison (max) or addition (avg) per window element
    assert report.totals.other_flops == expected.numel() * kernel[0] * kernel[1]
    if not ceil_mode:  # the notes' formula, floor((W - F + 2P) / S) + 1
        assert expected.shape[2] == floor((height - kernel[0] + 2 * padding[0]) / stride[0]) + 1


@SETTINGS
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 8), st.booleans())
def test_linear_params_and_macs(features_in, features_out, batch, bias):
    layer = nn.Linear(features_in, features_out, bias=bias)
    report = convscope.analyze(layer, (features_in,), batch_size=batch)
    assert report.totals.params == features_in * features_out + features_out * bias
    assert report.totals.macs == batch * features_in * features_out
    assert report.totals.other_flops == batch * features_out * bias
    assert 2 * report.totals.macs == flop_counter_total(layer, [torch.randn(batch, features_in)])


def test_transposed_and_dilated_convolutions_agree_with_flop_counter():
    for layer, size in [
        (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (4, 7, 9)),
        (nn.ConvTranspose2d(4, 6, 4, stride=2, groups=2), (4, 5, 5)),
        (nn.Conv2d(6, 6, 3, dilation=3, groups=6), (6, 15, 15)),
        (nn.Conv1d(3, 5, 4, stride=2), (3, 20)),
        (nn.Conv3d(2, 4, 3, padding=1), (2, 6, 6, 6)),
    ]:
        x = torch.randn(2, *size)
        report = convscope.analyze(layer, size, batch_size=2)
        assert report.rows[-1].output_shape == list(layer(x).shape)
        assert 2 * report.totals.macs == flop_counter_total(layer, [x])


def test_matrix_products_agree_with_flop_counter():
    class Products(nn.Module):
        def forward(self, a, b):
            x = torch.einsum("bij,bjk->bik", a, b)
            y = torch.matmul(a, b) + torch.bmm(a, b)
            z = torch.nn.functional.scaled_dot_product_attention(a, a, a)
            return x + y, z

    model, shapes = Products(), [(5, 7), (7, 3)]
    inputs = [torch.randn(2, *s) for s in shapes]
    report = convscope.analyze(model, shapes, batch_size=2)
    assert 2 * report.totals.macs == flop_counter_total(model, inputs)
    # three [2,5,7] @ [2,7,3] products; attention: scores [2,5,5] x E=7, then weights @ V (7)
    assert report.totals.macs == 3 * (2 * 5 * 7 * 3) + 2 * 5 * 5 * 7 * 2
    assert prod(report.rows[-1].output_shape[1]) == 2 * 5 * 7


@pytest.mark.parametrize("layer", [nn.Hardshrink(), nn.Softshrink(), nn.RReLU()])
def test_shrinks_and_the_random_leaky_relu_are_one_flop_an_element(layer):
    # listed as uncounted
    report = convscope.analyze(nn.Sequential(layer), (3, 4, 4), batch_size=2, train=True)
    assert not report.uncounted and report.totals.other_flops == 2 * 3 * 4 * 4


def test_the_sum_of_batched_products_counts_each_product():
    class SummedProducts(nn.Module):  # listed as uncounted once
        def forward(self, a, b):
            return torch.addbmm(torch.zeros(5, 3), a, b)

    report = convscope.analyze(SummedProducts(), input_data=(torch.randn(4, 5, 7),
                                                            torch.randn(4, 7, 3)))
    assert not report.uncounted
    # four [5, 7] @ [7, 3] products, summed; the zeros added: 5 x 3 FLOPs
    assert report.totals.macs == 4 * 5 * 7 * 3 and report.totals.other_flops == 5 * 3


def test_dropout_counts_the_scaling_and_the_multiply_not_the_random_draw():
    report = convscope.analyze(nn.Dropout(0.5), (4, 6, 6), batch_size=2, train=True)
    ops = [n.op for n in report.graph.nodes]
    assert ops == ["aten.empty_like.default", "aten.bernoulli_.float", "aten.div_.Scalar",
                   "aten.mul.Tensor"]  # nn.Dropout on the CPU
    assert report.totals.other_flops == 2 * (2 * 4 * 6 * 6)
    channels = convscope.analyze(nn.Dropout2d(0.5), (4, 6, 6), batch_size=2, train=True)
    assert channels.totals.other_flops == 2 * 4 + 2 * 4 * 6 * 6  # a mask per channel
    assert convscope.analyze(nn.Dropout(0.5), (4, 6, 6)).totals.other_flops == 0  # eval


def test_attention_softmax_and_recurrent_splits_are_counted():
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True).eval()
    # in eval the CPU fuses the attention (trace.attention): Q K^T and P V for a batch of 2,
    # 2 heads, 5 queries, 5 keys, 8 features each, and 3 FLOPs a score for the softmax inside
    report = convscope.analyze(layer, (5, 16), batch_size=2)
    fused = [n for n in report.graph.nodes
             if n.op == "aten._scaled_dot_product_flash_attention_for_cpu.default"]
    assert [cost_of(n) for n in fused] == [Cost(macs=2 * 2 * 5 * 5 * (8 + 8), flops=3 * 100)]
    assert not report.uncounted
    # training with dropout in the attention: the CPU runs the math decomposition
    report = convscope.analyze(layer, (5, 16), batch_size=2, train=True)
    softmax = [n for n in report.graph.nodes if n.op == "aten._safe_softmax.default"]
    assert [n.outputs[0].shape for n in softmax] == [(2, 2, 5, 5)]  # batch, heads, L, S
    assert not report.uncounted
    lstm = convscope.analyze(nn.LSTM(8, 6, batch_first=True), (5, 8))
    assert not lstm.uncounted


def test_a_grouped_conv2d_node_is_not_read_as_transposed():
    # aten.conv2d keeps groups where aten.convolution keeps ``transposed``
    from convscope.graph import Node, Ref, TensorMeta

    def ref(*shape):
        return Ref("node", 0, 0, TensorMeta(shape, "float32", 4))

    x, weight = ref(1, 4, 8, 8), ref(6, 2, 3, 3)
    conv2d = Node(1, "aten.conv2d.default", (x, weight, None, [1, 1], [1, 1], [1, 1], 2), {},
                  (TensorMeta((1, 6, 8, 8), "float32", 4),), None)
    assert cost_of(conv2d).macs == 1 * 6 * 8 * 8 * (2 * 3 * 3)  # read as transposed: 4,608


class _AffineGrid(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, theta):
        return nn.functional.affine_grid(theta, self.size, align_corners=False)


@pytest.mark.parametrize("size", [(2, 3, 5, 7), (1, 1, 2, 3, 4)])
def test_affine_grid_is_a_matrix_product_per_output_point(size):
    dims = len(size) - 2
    theta = torch.randn(size[0], dims, dims + 1)
    report = convscope.analyze(_AffineGrid(size), input_data=theta)
    points = prod(size[:1] + size[2:])
    # each point's [x, y, 1] times theta^T [3, 2] (3-D: [x, y, z, 1] times [4, 3])
    assert report.totals.macs == points * dims * (dims + 1) and not report.uncounted


@pytest.mark.parametrize("mode,weighted", [("sum", False), ("mean", False), ("max", False),
                                           ("sum", True)])
def test_embedding_bag_counts_one_per_value_read(mode, weighted):
    bag = nn.EmbeddingBag(10, 4, mode=mode)
    indices = torch.randint(0, 10, (3, 5))
    data = (indices, None, torch.rand(3, 5)) if weighted else (indices,)
    report = convscope.analyze(bag, input_data=data)
    assert report.rows[0].output_shape == list(bag(*data).shape) == [3, 4]
    reads = 3 * 5 * 4
    expected = reads * (2 if weighted else 1) + (3 * 4 if mode == "mean" else 0)
    assert report.totals.other_flops == expected and not report.uncounted


def test_log_sigmoid_and_max_unpool_are_counted():
    class Unpool(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)

        def forward(self, x):
            return nn.functional.logsigmoid(self.unpool(*self.pool(x)))

    report = convscope.analyze(Unpool(), (3, 8, 8))
    # max pool: 4 compares per output (3 x 4 x 4); unpool moves data; logsigmoid: 1 per element
    assert report.totals.other_flops == 3 * 4 * 4 * 4 + 3 * 8 * 8 and not report.uncounted


def test_fold_adds_every_patch_value_into_its_position():
    fold = nn.Fold((8, 8), 3, padding=1)
    report = convscope.analyze(fold, (18, 64), batch_size=2)  # 2 channels x 3 x 3, 64 patches
    assert report.rows[0].output_shape == list(fold(torch.rand(2, 18, 64)).shape) == [2, 2, 8, 8]
    assert report.totals.other_flops == 2 * 18 * 64 and not report.uncounted


def test_index_put_with_accumulate_counts_the_positions_its_indices_name():
    # it counted the values tensor: 1 add for a scalar broadcast to 256 positions
    class Scatter(nn.Module):
        def forward(self, x):
            return torch.zeros(256).index_put((torch.zeros(256, dtype=torch.long),), x.sum(),
                                              accumulate=True)

    report = convscope.analyze(Scatter(), (4, 8, 8))
    assert [cost_of(n).flops for n in report.graph.nodes if "index_put" in n.op] == [256]
    from convscope.graph import Ref, TensorMeta
    from convscope.rules.pooling import _indexed_positions

    def index(*shape):
        return Ref("node", 0, 0, TensorMeta(shape, "int64", 8))

    y, i, j = torch.zeros(2, 3, 4, 4), torch.tensor([0, 1]), torch.tensor([[1], [2]])
    assert _indexed_positions(y.shape, [index(2), None, index(2, 1)]) == y[i, :, j].numel() == 48


class _Writes(nn.Module):
    """Every way of writing values into positions of a [2, 3, 4, 4] tensor: the ones that add
    (or multiply) count one FLOP per value written, the plain ones copy."""

    def forward(self, x):
        y, index = torch.zeros_like(x), torch.zeros(x.shape, dtype=torch.long)
        first = torch.tensor([0])
        return [y.scatter(1, index, x, reduce="add"), y.scatter_add(1, index, x),
                y.scatter_reduce(1, index, x, "amax"), y.scatter(1, index, 2.0, reduce="multiply"),
                y.index_put((first,), x[:1], accumulate=True),
                y.index_add(1, torch.tensor([0, 1]), x[:, :2]),
                y.index_add(1, torch.tensor([0, 1]), x[:, :2], alpha=3.0),
                y.scatter(1, index, x), y.index_put((first,), x[:1])]


def test_writes_that_add_into_positions_count_one_flop_per_value_and_copies_none():
    report = convscope.analyze(_Writes(), (3, 4, 4), batch_size=2)
    per_node = {n.op: cost_of(n).flops for n in report.graph.nodes if cost_of(n).flops}
    everything = 2 * 3 * 4 * 4
    assert per_node == {"aten.scatter.reduce": everything, "aten.scatter_add.default": everything,
                        "aten.scatter_reduce.two": everything,
                        "aten.scatter.value_reduce": everything,
                        "aten.index_put.default": everything // 2,  # x[:1]: one of two images
                        # the second index_add, with alpha's multiply: 2 per value
                        "aten.index_add.default": 2 * 2 * 4 * 4 * 2}
    assert report.totals.other_flops == 4 * everything + everything // 2 + 2 * 2 * 4 * 4 * 3
    assert not report.uncounted


@pytest.mark.parametrize("train", [False, True])
def test_spectral_norm_power_iteration_counts_its_matrix_vector_products(train):
    layer = nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3))
    report = convscope.analyze(layer, (3, 8, 8), train=train)
    conv = 4 * 6 * 6 * (3 * 3 * 3)
    rows, cols = 4, 3 * 3 * 3  # the weight as a [4, 27] matrix
    # sigma = u . (W v): one mv and one dot; training first runs one power iteration, two mvs
    # (W^T u, then W v)
    iteration = 2 * rows * cols if train else 0
    assert report.totals.macs == conv + iteration + rows * cols + rows
    assert not report.uncounted
    ops = [n.packet for n in report.graph.nodes if n.packet in ("aten.mv", "aten.vdot")]
    assert ops == ["aten.mv"] * (3 if train else 1) + ["aten.vdot"]


def _profiled_events(fn, *args) -> list:
    with torch.profiler.profile(record_shapes=True) as profiled:
        fn(*args)
    return list(profiled.events())


def _profiled_product_macs(fn, *args) -> int:
    """The MACs of the mm and bmm calls a real CPU forward makes inside ops our mode sees as one:
    [M, K] @ [K, N] or [B, M, K] @ [B, K, N]."""
    return sum(prod(a) * b[-1] for a, b in (e.input_shapes[:2] for e in _profiled_events(
        fn, *args) if e.name in ("aten::mm", "aten::bmm")))


class _Bilinear(nn.Module):
    def __init__(self, in1, in2, out):
        super().__init__()
        self.in1, self.bilinear = in1, nn.Bilinear(in1, in2, out)

    def forward(self, x):
        return self.bilinear(x[..., :self.in1], x[..., self.in1:])


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(1, 3),
       st.lists(st.integers(1, 3), max_size=1))
def test_bilinear_counts_the_products_the_cpu_kernel_makes(in1, in2, out, batch, inner):
    model = _Bilinear(in1, in2, out)
    x = torch.randn(batch, *inner, in1 + in2)
    report = convscope.analyze(model, input_data=x)
    # per output feature: [B, 1, in1] @ [1, in1, in2], then [B, 1, in2] @ [B, in2, 1]
    rows = batch * prod(inner)
    assert report.totals.macs == _profiled_product_macs(model, x) == rows * out * (in1 + 1) * in2
    assert not report.uncounted


class _GridSample(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x, grid):
        return nn.functional.grid_sample(x, grid, mode=self.mode, align_corners=False)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("grid_size", [(4, 5), (4, 5, 3)])  # grid_sampler_2d, grid_sampler_3d
def test_grid_sample_is_four_flops_an_output_element_on_4d_and_5d_inputs(grid_size, mode):
    dims = len(grid_size)
    x, grid = torch.randn(2, 3, *[6] * dims), torch.rand(2, *grid_size, dims) * 2 - 1
    model = _GridSample(mode)
    expected = model(x, grid)
    report = convscope.analyze(model, input_data=(x, grid))
    assert report.rows[-1].output_shape == list(expected.shape) == [2, 3, *grid_size]
    assert not report.uncounted
    # a weighted sum of neighbours per output point, 4 as bilinear upsampling: N x C x (D') H' W'
    assert report.totals.other_flops == 4 * expected.numel() == 4 * 2 * 3 * prod(grid_size)
    assert report.totals.macs == 0 == flop_counter_total(model, [x, grid])


class _Antialiased(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        return nn.functional.interpolate(x, scale_factor=0.5, mode=self.mode, antialias=True)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialiased_resizing_is_four_flops_an_output_element_as_without(mode):
    report = convscope.analyze(_Antialiased(mode), (3, 8, 8), batch_size=2)
    assert report.rows[-1].output_shape == [2, 3, 4, 4] and not report.uncounted
    assert report.totals.other_flops == 4 * 2 * 3 * 4 * 4


@pytest.mark.parametrize("layer,size,kernel", [
    (nn.FractionalMaxPool2d(2, output_size=4), (3, 8, 8), (2, 2)),
    (nn.FractionalMaxPool2d((3, 2), output_ratio=(0.5, 0.75)), (3, 9, 8), (3, 2)),
    (nn.FractionalMaxPool3d((2, 3, 2), output_size=(4, 3, 4)), (3, 8, 8, 8), (2, 3, 2)),
])
def test_fractional_max_pooling_is_one_compare_per_window_element(layer, size, kernel):
    x = torch.randn(2, *size)
    expected = layer(x)
    report = convscope.analyze(layer, size, batch_size=2)
    assert report.rows[-1].output_shape == list(expected.shape) and not report.uncounted
    # out [N, C, H', W'] x kH*kW compares, as max pooling: the windows only start unevenly
    assert report.totals.other_flops == expected.numel() * prod(kernel)
    assert report.totals.macs == 0 == flop_counter_total(layer, [x])


def test_fractional_max_pooling_with_even_strides_costs_what_max_pooling_does():
    # 8 -> 4 with 2x2 windows: the fractional strides are all 2, max pooling's windows
    fractional = convscope.analyze(nn.FractionalMaxPool2d(2, output_size=4), (3, 8, 8))
    plain = convscope.analyze(nn.MaxPool2d(2), (3, 8, 8))
    assert fractional.totals.other_flops == plain.totals.other_flops == 3 * 4 * 4 * 2 * 2


def test_kl_divergence_counts_its_x_log_y():
    x, target = torch.randn(4, 5).log_softmax(1), torch.rand(4, 5).softmax(1)
    report = convscope.analyze(nn.KLDivLoss(reduction="batchmean"), input_data=(x, target))
    # target * log(target) (xlogy), target * x, their difference and its sum: 1 per element
    # each of the 4 x 5; then / batch: 1
    assert report.totals.other_flops == 4 * (4 * 5) + 1 and not report.uncounted


def test_cross_map_lrn_resizes_its_buffers_for_free():
    report = convscope.analyze(nn.CrossMapLRN2d(3), (4, 6, 6), batch_size=2)
    resized = [n for n in report.graph.nodes if n.packet == "aten.resize_as_"]
    assert resized and [cost_of(n) for n in resized] == [Cost()] * len(resized)
    assert not report.uncounted


def _weight_norm(layer, dim):
    return nn.utils.parametrizations.weight_norm(layer, dim=dim)


def _old_weight_norm(layer, dim):
    return nn.utils.weight_norm(layer, dim=dim)


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
@pytest.mark.parametrize("wrap", [_weight_norm, _old_weight_norm])
@pytest.mark.parametrize("plain,size,dim", [
    (lambda: nn.Conv2d(3, 4, 3), (3, 8, 8), 0),  # one fused _weight_norm_interface
    (lambda: nn.Linear(3, 4), (3,), 0),
    (lambda: nn.Conv2d(3, 4, 3), (3, 8, 8), 1),  # norm, div and mul
    (lambda: nn.Conv2d(3, 4, 3), (3, 8, 8), None),
])
def test_weight_norm_counts_the_norms_and_the_rescale(wrap, plain, size, dim):
    layer, unnormed = wrap(plain(), dim), plain()
    report = convscope.analyze(layer, size, batch_size=2)
    bare = convscope.analyze(unnormed, size, batch_size=2)
    assert not report.uncounted and report.totals.macs == bare.totals.macs
    assert 2 * report.totals.macs == flop_counter_total(layer, [torch.randn(2, *size)])
    v = unnormed.weight  # conv [4, 3, 3, 3] or linear [4, 3]
    g = v.shape[0] if dim == 0 else v.shape[1] if dim == 1 else 1  # one norm per slice
    # w = v * (g / ||v||): every element of v read by a norm and rescaled, one divide per norm
    assert report.totals.other_flops - bare.totals.other_flops == 2 * v.numel() + g
    if dim == 0 and v.dim() == 4:
        assert report.totals.other_flops - bare.totals.other_flops == 2 * 108 + 4


class _Distances(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, a, b):
        return torch.cdist(a, b, p=self.p)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.0, inf])
def test_cdist_counts_every_distance_over_its_features(p):
    # 5 and 4 points of 3 features, 2 sets: 40 distances, the CPU's own kernel (_cdist_forward)
    a, b, model = torch.randn(2, 5, 3), torch.randn(2, 4, 3), _Distances(p)
    report = convscope.analyze(model, input_data=(a, b))
    assert report.rows[-1].output_shape == list(model(a, b).shape) == [2, 5, 4]
    assert not report.uncounted
    if p == 2:  # per feature a subtract and the square accumulated (a MAC); a sqrt per distance
        assert (report.totals.macs, report.totals.other_flops) == (40 * 3, 40 * (3 + 1))
    else:  # per feature a subtract, |d|^p and an add (max for inf); a root only for p = 3
        assert report.totals.macs == 0
        assert report.totals.other_flops == 40 * (3 * 3 + (p == 3))
    assert flop_counter_total(model, [a, b]) == 0  # no formula for cdist


# the ops torch.cdist's matrix-product path runs on the CPU that cost 1 per element of their input
_EUCLIDEAN_ELEMENTWISE = ("aten::pow", "aten::sum", "aten::mul", "aten::clamp_min_", "aten::sqrt_")


@pytest.mark.parametrize("batch", [(), (2,)])
def test_cdist_of_more_than_25_points_counts_the_matrix_product_the_cpu_runs(batch):
    a, b, model = torch.randn(*batch, 30, 3), torch.randn(*batch, 26, 3), _Distances(2.0)
    report = convscope.analyze(model, input_data=(a, b))
    assert [n.packet for n in report.graph.nodes if "dist" in n.packet] == ["aten._euclidean_dist"]
    assert not report.uncounted
    distances = prod(batch) * 30 * 26
    # [30, 3 + 2] @ [3 + 2, 26] per set: each point's features, its squared norm and a 1
    assert report.totals.macs == _profiled_product_macs(model, a, b) == distances * (3 + 2)
    # squares and sums of both point sets, -2 * a, then clamp and sqrt per distance
    inside = sum(prod(e.input_shapes[0]) for e in _profiled_events(model, a, b)
                 if e.name in _EUCLIDEAN_ELEMENTWISE)
    assert report.totals.other_flops == inside == prod(batch) * (
        3 * 30 * 3 + 2 * 26 * 3) + 2 * distances
    # FlopCounterMode sees one op without a formula: the mm inside it runs below the mode
    assert flop_counter_total(model, [a, b]) == 0


class _PairwiseDistances(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return nn.functional.pdist(x, p=self.p)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_pdist_counts_each_pair_as_cdist_does(p):
    report = convscope.analyze(_PairwiseDistances(p), input_data=torch.randn(6, 3))
    assert report.rows[-1].output_shape == [15] and not report.uncounted  # 6 * 5 / 2 pairs
    macs, flops = (15 * 3, 15 * (3 + 1)) if p == 2 else (0, 15 * (3 * 3 + (p == 3)))
    assert (report.totals.macs, report.totals.other_flops) == (macs, flops)
