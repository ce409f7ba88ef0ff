"""Receptive fields: the graph computation equals the field measured with gradients.

``receptive_field.measure`` is the oracle: a linearised float64 copy of the model (positive
weights, activations as identity, max pooling as averaging) backpropagated from one interior
unit. Every test here compares r, S and P on both axes, computed against measured, except where
a fractional stride makes the computed field an estimate (then it must be within one position).
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import convscope
from convscope import receptive_field as rf
from convscope import zoo
from convscope.analyses.field import Axis, union
from convscope.analyses.receptive_field import receptive_fields
from convscope.errors import ModelError, UsageError
from tests.conftest import assert_same_model, snapshot


def computed(model, size, layers):
    """Field of each named module's (first call's) output, from one trace at ``size``."""
    graph = convscope.analyze(model, size).graph
    fields = receptive_fields(graph)
    calls = {c.name: c for c in reversed(graph.calls)}
    return {layer: fields.of(calls[layer].output_refs[0]) for layer in layers}


def triples(field):
    return [(a.size, a.stride, a.padding, a.whole) for a in field.axes]


def assert_matches(model, size, layers):
    measured_fields = rf.measure_layers(model, size, layers)
    for layer, field in computed(model, size, layers).items():
        measured = measured_fields[layer]
        assert field.exact, f"{layer}: {field.short()} is an estimate"
        assert triples(field) == triples(measured), (
            f"{layer}: {field.short()} vs {measured.short()}")


# -- the notes ------------------------------------------------------------------------------

def test_seed_002_three_stacked_3x3_convs_see_7x7():
    model = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)])
    field = computed(model, (2, 16, 16), ["2"])["2"]
    assert (field.short(), triples(field)[0][:3]) == ("7 s1", (7, 1, 3))  # 1 + 2 + 2 + 2
    assert_matches(model, (2, 16, 16), ["0", "1", "2"])


def test_seed_003_two_stride_2_convs_of_simple_cnn_see_7x7():
    # the book's figure: a conv2 cell reads 3x3 conv1 cells 2 apart, each 3x3: 3 + 2*2 = 7
    model = zoo.create("simple_cnn")
    assert computed(model, (1, 28, 28), ["1.0"])["1.0"].short() == "7 s4"
    assert_matches(model, (1, 28, 28), ["0.0", "1.0"])


# -- pinned numbers (the published receptive fields of these networks) ----------------------

@pytest.mark.parametrize("name,layer,size,short,padding", [
    # five stages of 3x3 convs and 2x2 pools: 1 + 2*(2*1 + 2*2 + 3*4 + 3*8 + 3*16) + 1*(1+2+4+8+16)
    ("vgg16", "features.30", (3, 224, 224), "212 s32", 90),
    # 7x7/2 stem, 3x3/2 pool, eight blocks of two 3x3 convs; symmetric padding: P = (r - 1)/2
    ("resnet18", "layer4", (3, 224, 224), "435 s32", 217),
    # P: 2 (11x11/4, pad 2) + 2*8 (5x5, pad 2) + 1*16 * 3 (three 3x3, pad 1) = 66
    ("alexnet", "features.12", (3, 224, 224), "195 s32", 66),
    ("mobilenet_v1", "features.13", (3, 224, 224), "315 s32", 157),  # Araujo et al. 2019
    ("inception_v3", "Mixed_7c", (3, 299, 299), "1311 s32", 618),  # Araujo et al. 2019
])
def test_published_fields(name, layer, size, short, padding):
    with torch.device("meta"):
        model = zoo.create(name)
    field = computed(model, size, [layer])[layer]
    assert (field.short(), field.axes[0].padding) == (short, padding)


# -- random sequential stacks ---------------------------------------------------------------

def _conv():
    pair = st.tuples(st.integers(1, 5), st.integers(1, 5))
    return st.builds(lambda k, s, d, pad: nn.Conv2d(2, 2, k, stride=s, dilation=d,
                                                    padding=tuple(min(p, dd * (kk - 1))
                                                                  for p, kk, dd in zip(pad, k, d))),
                     pair, st.tuples(st.integers(1, 2), st.integers(1, 2)),
                     st.tuples(st.integers(1, 3), st.integers(1, 3)),
                     st.tuples(st.integers(0, 4), st.integers(0, 4)))


def _pool():
    def build(avg, k, s, p, d, ceil):
        if avg:
            return nn.AvgPool2d(k, s, min(p, k // 2), ceil_mode=ceil)
        return nn.MaxPool2d(k, s, min(p, k // 2), dilation=d, ceil_mode=ceil)

    return st.builds(build, st.booleans(), st.integers(1, 4), st.integers(1, 2),
                     st.integers(0, 2), st.integers(1, 2), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_conv(), _pool()), min_size=1, max_size=4))
def test_random_stacks_of_convs_and_pools(layers):
    model = nn.Sequential(*layers)
    last = str(len(layers) - 1)
    field = computed(model, (2, 200, 200), [last])[last]
    # an input where the middle unit and its neighbour fit: r + 3S + 4 per axis
    side = [int(a.size + 3 * a.stride + 4) for a in field.axes]
    assert_matches(model, (2, *side), [str(i) for i in range(len(layers))])


def test_conv1d_stack_on_a_signal():
    model = nn.Sequential(nn.Conv1d(1, 2, 5, stride=2, padding=2), nn.ReLU(),
                          nn.MaxPool1d(3, 2), nn.Conv1d(2, 2, 3, dilation=3))
    assert computed(model, (1, 64), ["3"])["3"].short() == "33 s4"  # 5 + 2*2 + (3*2)*4
    assert_matches(model, (1, 64), ["0", "2", "3"])


# -- several paths --------------------------------------------------------------------------

class Merge(nn.Module):
    """Branches applied to one input and merged by ``how`` (add, cat); a stride-2 stem first."""

    def __init__(self, how, *branches):
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, stride=2, padding=1)  # r=3, S=2, P=1
        self.branches = nn.ModuleList(branches)
        self.how = how
        self.block = nn.Identity()

    def forward(self, x):
        x = F.relu(self.stem(x))
        outs = [b(x) for b in self.branches]
        return self.block(torch.cat(outs, 1) if self.how == "cat" else sum(outs))


class Shifted(nn.Module):
    """``conv`` read one position to the left: F.pad with a crop on the right."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(F.pad(x, (1, -1, 1, -1)))


def _conv2d(k, s=1, p=0):
    return nn.Conv2d(4, 4, k, stride=s, padding=p)


MULTI_PATH = {
    # 3x3 and 5x5 after the stem: [-3, 3] and [-5, 5]: the union is the 5x5's
    "add_two_kernels": (Merge("add", _conv2d(3, p=1), _conv2d(5, p=2)), "11 s2", True),
    "cat_1x1_3x3_5x5": (Merge("cat", _conv2d(1), _conv2d(3, p=1), _conv2d(5, p=2)), "11 s2", True),
    # main path 3x3 s2 then 3x3: [-7, 7]; shortcut 1x1 s2: [-1, 1]; both centred on 0
    "strided_shortcut": (Merge("add", nn.Sequential(_conv2d(3, 2, 1), nn.ReLU(), _conv2d(3, p=1)),
                               _conv2d(1, 2)), "15 s4", True),
    # 2x2 s2 sees [-1, 3], the shifted one [-3, 1]: centres 1 and -1, the union [-3, 3]
    "misaligned": (Merge("add", _conv2d(2, 2), Shifted(_conv2d(2, 2))), "7 s4 misaligned", False),
    # 1x7 then 7x1 next to a 7x1 alone: height 3 + 6*2, width 3 + 6*2 from the first branch
    "factorised_7x7": (Merge("cat", nn.Sequential(nn.Conv2d(4, 4, (1, 7), padding=(0, 3)),
                                                  nn.Conv2d(4, 4, (7, 1), padding=(3, 0))),
                             nn.Conv2d(4, 4, (7, 1), padding=(3, 0))), "15 s2", True),
}


@pytest.mark.parametrize("case", MULTI_PATH)
def test_multi_path_networks(case):
    model, short, aligned = MULTI_PATH[case]
    field = computed(model, (2, 48, 48), ["block"])["block"]
    assert (field.short(), field.aligned) == (short, aligned)
    measured = rf.measure(model, (2, 48, 48), "block")
    assert triples(field) == triples(measured)


def test_one_by_seven_kernels_give_different_height_and_width():
    model = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.MaxPool2d((3, 1), (2, 1)))
    field = computed(model, (2, 32, 32), ["1"])["1"]
    assert field.short() == "3x7 s2x1"
    assert_matches(model, (2, 32, 32), ["0", "1"])


def test_union_of_different_strides_is_misaligned_and_an_estimate():
    axis, aligned = union([Axis(Fraction(3), Fraction(1), Fraction(1)),
                           Axis(Fraction(3), Fraction(2), Fraction(0))], 32)
    assert (aligned, axis.exact, axis.size, axis.padding) == (False, False, 4, 1)  # [-1, 2]


@pytest.mark.parametrize("centres", [(Fraction(3), Fraction(1), Fraction(3), Fraction(1)),
                                     (5, 2, 3, 1), (4, 1, 2, 0), (Fraction(7, 2), 1, 3, 1)])
def test_union_is_aligned_exactly_when_the_centres_are_equal(centres):
    size_a, pad_a, size_b, pad_b = centres
    a, b = Axis(size_a, 1, pad_a), Axis(size_b, 1, pad_b)
    assert union([a, b], 32)[1] == (a.centre == b.centre)


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18", "googlenet"])
def test_elementwise_ops_passed_through_get_what_their_rule_gives(name):
    """The loop hands a unary elementwise op (relu, batch norm) its argument's field without
    calling the rule: it must be what the rule would have given."""
    from convscope.analyses.field_rules import find_field_rule
    from convscope.analyses.field_rules.elementwise import elementwise
    from convscope.analyses.receptive_field import _passes_through
    from convscope.graph import Ref

    graph = convscope.analyze(zoo.create(name), (3, 64, 64)).graph
    fields = receptive_fields(graph)

    def field(value):
        return fields.of(value) if type(value) is Ref else None

    passed = 0
    for node in graph.nodes:
        incoming = [fields.of(r) for r in node.refs]
        if (not node.outputs or not any(incoming) or find_field_rule(node) is not elementwise
                or not _passes_through(node, incoming)):
            continue
        passed += 1
        by_rule = elementwise(node, field)
        for slot, meta in enumerate(node.outputs):
            want = by_rule[slot].settled(meta.shape) if by_rule[slot] is not None else None
            assert fields.of_node(node.index, slot) == want, (node.op, slot)
    assert passed > 20  # relus and batch norms


# -- functional ops -------------------------------------------------------------------------

class Functional(nn.Module):
    """A conv, then ``fn``, recorded as the output of module ``block``."""

    def __init__(self, fn, channels=2):
        super().__init__()
        self.conv = nn.Conv2d(2, channels, 3, padding=1)
        self.fn = fn
        self.block = nn.Identity()

    def forward(self, x):
        return self.block(self.fn(self.conv(x)))


EXACT = {
    "asymmetric_pad": (lambda x: F.conv2d(F.pad(x, (2, 0, 1, 0)), torch.ones(2, 2, 3, 3)), "5 s1"),
    "functional_max_pool_ceil": (lambda x: F.max_pool2d(F.relu(x), 3, 2, ceil_mode=True), "5 s2"),
    "dilated_max_pool": (lambda x: F.max_pool2d(x, 3, 2, 1, dilation=2), "7 s2"),
    "depthwise": (lambda x: F.conv2d(x, torch.ones(2, 1, 5, 5), padding=2, groups=2), "7 s1"),
    "adaptive_even": (lambda x: F.adaptive_avg_pool2d(x, 8), "6 s4"),  # 32 -> 8: 4x4 windows
    "mean_over_h_and_w": (lambda x: x.mean((2, 3)), "global"),
    "flatten_then_linear": (lambda x: F.linear(x.flatten(1), torch.ones(3, 2 * 32 * 32)), "global"),
    "global_max_pool": (lambda x: F.adaptive_max_pool2d(x, 1), "global"),
    "squeeze_excite": (lambda x: x * torch.sigmoid(x.mean((2, 3), keepdim=True)), "global"),
    "crop_and_strided_slice": (lambda x: x[:, :, 2:-2:2, 1::2], "3 s2"),
    "channel_shuffle": (lambda x: x.view(1 if x.shape[0] == 1 else 2, 2, 1, 32, 32)
                        .transpose(1, 2).reshape(x.shape), "3 s1"),
    "transposed_stride_1": (lambda x: F.conv_transpose2d(x, torch.ones(2, 2, 3, 3), padding=1),
                            "5 s1"),
    # a Linear on channels-last works on [N*H*W, C]: the view back gives each unit its field
    "pointwise_linear_channels_last": (lambda x: F.conv2d(F.linear(
        x.permute(0, 2, 3, 1), torch.ones(2, 2)).permute(0, 3, 1, 2), torch.ones(2, 2, 3, 3)),
        "5 s1"),
    "flatten_and_view_back": (lambda x: F.conv2d((x.flatten(2) * 2).view(x.shape),
                                                 torch.ones(2, 2, 3, 3)), "5 s1"),
    "einsum_over_channels": (lambda x: torch.einsum("bchw,cd->bdhw", x, torch.ones(2, 2)),
                             "3 s1"),
    "matmul_over_width": (lambda x: x @ torch.ones(32, 32), "3xall s1x-"),
    # a scale factor given is what the kernel steps by (1/0.5 = 2), not 32/16: exact
    "nearest_scale_one_half": (lambda x: F.interpolate(x, scale_factor=0.5), "3 s2"),
    "nearest_scale_one_third": (lambda x: F.interpolate(x, scale_factor=1 / 3), "3 s3"),
    # rows as heads, columns as the sequence: the CPU's fused attention op (trace.attention)
    "attention_along_rows": (lambda x: F.scaled_dot_product_attention(
        *[x.permute(0, 2, 3, 1).contiguous()] * 3).permute(0, 3, 1, 2), "3xall s1x-"),
}


@pytest.mark.parametrize("case", EXACT)
def test_functional_ops(case):
    fn, short = EXACT[case]
    model = Functional(fn)
    field = computed(model, (2, 32, 32), ["block"])["block"]
    assert field.short() == short
    assert triples(field) == triples(rf.measure(model, (2, 32, 32), "block"))


ESTIMATES = {
    "upsample_nearest": (lambda x: F.interpolate(x, scale_factor=2), "~3 s1/2"),
    "upsample_bilinear": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), "~4 s1/2"),
    "transposed_stride_2": (lambda x: F.conv_transpose2d(x, torch.ones(2, 2, 3, 3), stride=2,
                                                         padding=1), "~4 s1/2"),
    "adaptive_uneven": (lambda x: F.adaptive_avg_pool2d(x, 5), "~10 s6.4"),
    # 32 * 0.34 -> 10 rows, but the kernel steps by 1/0.34 = 50/17, not 32/10
    "nearest_scale_0.34": (lambda x: F.interpolate(x, scale_factor=0.34), "~3 s2.941"),
    "bilinear_scale_0.34": (lambda x: F.interpolate(x, scale_factor=0.34, mode="bilinear"),
                            "~4 s2.941"),
    "pixel_shuffle": (lambda x: F.pixel_shuffle(torch.cat([x, x], 1), 2), "~3 s1/2"),
}


@pytest.mark.parametrize("case", ESTIMATES)
def test_fractional_strides_are_reported_as_estimates_within_one_position(case):
    fn, short = ESTIMATES[case]
    model = Functional(fn)
    report = convscope.analyze(model, (2, 32, 32))
    field = computed(model, (2, 32, 32), ["block"])["block"]
    assert (field.short(), field.exact) == (short, False)
    measured = rf.measure(model, (2, 32, 32), "block")
    length = next(r for r in report.rows if r.name == "block").output_shape[2]
    u = (length - 1) // 2  # the unit measure() backpropagates from
    for c, m in zip(field.axes, measured.axes):
        lo_c, lo_m = u * c.stride - c.padding, u * m.stride - m.padding
        assert abs(lo_c - lo_m) <= 1 and abs((lo_c + c.size) - (lo_m + m.size)) <= 1


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, then layer norm and two Linears on channels-last, added to its input."""

    def __init__(self, channels=4):
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.pw1, self.pw2 = nn.Linear(channels, 4 * channels), nn.Linear(4 * channels, channels)

    def forward(self, x):
        y = self.pw2(F.gelu(self.pw1(self.norm(self.dw(x).permute(0, 2, 3, 1)))))
        return x + y.permute(0, 3, 1, 2)


def _convnext_like():
    return nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 4, 4, stride=4), block1=ConvNeXtBlock(),
                                     down=nn.Conv2d(4, 4, 2, stride=2), block2=ConvNeXtBlock()))


def test_convnext_blocks_keep_exact_fields_through_their_channels_last_linears():
    model = _convnext_like()
    assert_matches(model, (3, 224, 224), ["block1", "down", "block2"])
    fields = {name: f.short() for name, f in computed(
        model, (3, 224, 224), ["block1", "down", "block2"]).items()}
    assert fields == {"block1": "28 s4", "down": "32 s8", "block2": "80 s8"}
    # the batch is merged with the positions too ([N*H*W, C]): the same fields at batch 3
    rows = convscope.analyze(model, (3, 224, 224), batch_size=3, depth=1).rows
    assert {r.name: r.rf.short() for r in rows if r.name in fields} == fields


class _TokensPooledThenMixed(nn.Module):
    """Tokens [N, 64, C] pooled over channels (a window on another dim), then a conv along the
    64 tokens: neighbouring tokens wrap from the end of one row to the next."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Conv1d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.mix(F.max_pool1d(x.flatten(2).transpose(1, 2), 2).transpose(1, 2))


class _RowsOfAnotherWidth(nn.Module):
    """[12, 10] seen as [8, 15]: a width of 10 does not fit rows of 15 whole."""

    def __init__(self):
        super().__init__()
        self.out = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        y = x.view(x.shape[0], 1, 8, 15)
        return self.out((y + y.roll(1, 2)).view(x.shape[0], 1, 12, 10))


class _NonLocal(nn.Module):
    """Attention written with matmuls: queries' positions in the rows, keys' in the columns."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Conv2d(4, 4, 1) for _ in range(4))

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.q(x).flatten(2).transpose(1, 2), self.k(x).flatten(2), self.v(x).flatten(2)
        return self.out((v @ (q @ k).softmax(-1).transpose(1, 2)).view(n, c, h, w))


@pytest.mark.parametrize("model,size,short", [
    (_TokensPooledThenMixed(), (4, 8, 8), "global"),  # was an exact 3 s1: window kept no merge
    (_RowsOfAnotherWidth(), (1, 12, 10), "global"),  # was 1 wide: the width straddles rows
    (_NonLocal(), (4, 8, 8), "global"),  # was "?": q's and k's positions along two dims
])
def test_merged_positions_a_field_cannot_follow_are_spread_never_claimed_exact(model, size,
                                                                                short):
    # global holds whatever the units see (the oracle: global, 3x6 s2x-4, global)
    layer = "mix" if isinstance(model, _TokensPooledThenMixed) else "out"
    assert rf.compute(model, size, layer).short() == short


@pytest.mark.parametrize("scale,size,side", [(0.5, None, 31), (0.25, None, 33), (1 / 3, None, 30),
                                             (None, 16, 32)])
def test_nearest_exact_downsampling_is_exact_with_its_half_step_offset(scale, size, side):
    # floor((u + 1/2) * s) = u*s + s // 2: the padding was 1/2 - s/2, off by a half, yet exact
    model = Functional(lambda x: F.interpolate(x, scale_factor=scale, size=size,
                                               mode="nearest-exact"))
    field = computed(model, (2, side, side), ["block"])["block"]
    assert field.exact
    assert triples(field) == triples(rf.measure(model, (2, side, side), "block"))


class _Views(nn.Module):
    """A conv, then its map viewed as each of ``shapes`` in turn (in the ``order`` of dims,
    scaled between views), viewed back, and a second conv."""

    def __init__(self, order, shapes):
        super().__init__()
        self.first, self.last = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.order, self.shapes = order, shapes

    def forward(self, x):
        y = self.first(x).permute(*self.order)
        shape = y.shape
        for viewed in self.shapes:
            y = y.reshape(shape[0], *viewed) * 2
        back = [self.order.index(d) for d in range(4)]
        return self.last(y.reshape(shape).permute(*back))


def _factorings(n: int) -> list[tuple[int, ...]]:
    pairs = [(a, n // a) for a in range(2, n) if n % a == 0]
    return [(n,)] + pairs


@st.composite
def _view_chains(draw):
    h, w = draw(st.integers(9, 14)), draw(st.integers(9, 14))  # room for a field and the next
    order = draw(st.sampled_from([(0, 1, 2, 3), (0, 2, 3, 1), (0, 3, 1, 2), (0, 1, 3, 2)]))
    dims = [{1: 2, 2: h, 3: w}[d] for d in order[1:]]  # one image's dims, in that order
    total = dims[0] * dims[1] * dims[2]
    shapes = draw(st.lists(st.sampled_from(
        [(dims[0], dims[1] * dims[2]), (dims[0] * dims[1], dims[2]), (total,)]
        + [(dims[0], *f) for f in _factorings(dims[1] * dims[2]) if len(f) == 2]),
        min_size=1, max_size=3))
    return (h, w), order, shapes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_view_chains())
def test_views_that_come_back_keep_a_field_that_holds_the_measured_one(chain):
    """However the map is viewed on the way (channels-last, flattened, refactored), each axis of
    the field after the view back is global (spread where a view could not be followed) or
    exactly the field the gradient oracle measures: never narrower, never a wrong exact."""
    (h, w), order, shapes = chain
    model, size = _Views(order, shapes), (2, h, w)
    field = computed(model, size, ["last"])["last"]
    measured = rf.measure(model, size, "last") if not field.is_global else None
    if measured is None:
        return
    for c, m in zip(field.axes, measured.axes):
        if c.whole:  # spread where the views could not be followed: holds any field
            continue
        assert c.exact and (c.size, c.stride, c.padding) == (m.size, m.stride, m.padding)


def test_measure_sees_through_a_layer_norm_over_channels():
    """A constant input, or equal weights, would make the layer norm's output a constant and
    hide the residual branch (measured 8 s8): the real gradient of a random model says 32 s8."""
    torch.manual_seed(0)
    model = _convnext_like()[:3]
    x = torch.rand(1, 3, 96, 96, requires_grad=True)
    model(x)[0, :, 6, 6].sum().backward()
    rows = x.grad[0].abs().sum((0, 2)).nonzero().flatten()
    assert (rows[0].item(), rows[-1].item()) == (36, 67)  # 32 rows, from 6 * 8 - 12
    assert rf.measure(model, (3, 96, 96), "down").short() == "32 s8"


def test_ops_it_cannot_follow_are_unknown_and_listed():
    model = Functional(lambda x: torch.flip(x, [3]) + torch.roll(x, 1, 2))
    report = convscope.analyze(model, (2, 16, 16))
    fields = receptive_fields(report.graph)
    assert computed(model, (2, 16, 16), ["block"])["block"].short() == "?"
    assert set(fields.unknown) == {"aten.flip.default", "aten.roll.default"}


def _scaled_channels(x):
    y = x.clone()
    y[:, :1].mul_(2)  # in place, through a view over channels: each position keeps its field
    return y


def _written_into_a_new_tensor(x):
    y = x.new_zeros(x.shape)
    y[..., 1:].copy_(x[..., :-1])  # shifted along the width: no longer the field y had
    return y


def test_writes_through_a_view_reach_the_tensor_later_ops_read():
    assert computed(Functional(_scaled_channels), (2, 16, 16), ["block"])["block"].short() == (
        "3 s1")
    model = Functional(_written_into_a_new_tensor)
    assert computed(model, (2, 16, 16), ["block"])["block"].short() == "?"  # not "-"
    assert receptive_fields(convscope.analyze(model, (2, 16, 16)).graph).unknown == {
        "aten.copy_.default": 1}
    circular = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"), nn.ReLU())
    report = convscope.analyze(circular, (2, 16, 16))  # PyTorch builds it from copied slices
    assert [r.rf.short() for r in report.rows] == ["?", "?"]


def test_ops_without_a_rule_of_unchanged_shape_are_assumed_elementwise_and_listed():
    model = Functional(lambda x: torch.erfinv(torch.tanh(x)))
    fields = receptive_fields(convscope.analyze(model, (2, 16, 16)).graph)
    assert computed(model, (2, 16, 16), ["block"])["block"].short() == "3 s1"
    assert fields.assumed == {"aten.erfinv.default": 1}


def test_models_without_a_spatial_input_have_no_field():
    report = convscope.analyze(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), (8,))
    assert all(r.rf is None for r in report.rows)


# -- rows, JSON, errors ---------------------------------------------------------------------

def test_rows_carry_fields_and_folded_rows_take_their_module_output():
    with torch.device("meta"):
        model = zoo.create("resnet18")
    rows = {r.name: r for r in convscope.analyze(model, (3, 224, 224), depth=1).rows}
    assert rows["layer4"].kind == "folded" and rows["layer4"].rf.short() == "435 s32"
    assert rows["fc"].rf.is_global and rows["conv1"].rf.short() == "7 s2"


def test_the_depth_0_row_takes_the_model_output():
    # the one row of --depth 0 is named after the model's class, while the model's own call is
    # named "": its field was looked up under the class name and came out null, not global
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    pooled = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    (row,) = convscope.analyze(model, (3, 16, 16), depth=0).rows
    assert row.name == "Sequential" and row.rf.is_global
    (row,) = convscope.analyze(pooled, (3, 16, 16), depth=0).rows
    assert row.rf.short() == "4 s2"


def test_json_object_follows_the_documented_keys():
    with torch.device("meta"):
        model = zoo.create("vgg16")
    rows = convscope.analyze(model, (3, 224, 224)).to_dict()["rows"]
    pool5 = next(r for r in rows if r["name"] == "features.30")["rf"]
    assert pool5 == {"known": True, "size": [212, 212], "stride": [32, 32], "padding": [90, 90],
                     "centre": [15.5, 15.5], "global": False, "aligned": True, "exact": True,
                     "exceeds_input": [False, False]}
    head = rows[-1]["rf"]
    assert (head["global"], head["size"], head["stride"]) == (True, [224, 224], [None, None])


def test_measure_names_the_closest_layers_and_asks_for_a_larger_input():
    model = nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 2, 9), conv2=nn.Conv2d(2, 2, 9)))
    with pytest.raises(UsageError, match=r"'conv3'.*Did you mean: conv2, conv1\?"):
        rf.measure(model, (1, 32, 32), "conv3")
    with pytest.raises(UsageError, match=r"'fc'.*Its layers: conv1, conv2\."):
        rf.compute(model, (1, 32, 32), "fc")
    with pytest.raises(ModelError, match="conv2 reaches the edge.*larger input"):
        rf.measure(model, (1, 18, 18), "conv2")  # 17 wide in an 18-wide input: it touches the edge


def test_measure_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.MaxPool2d(2)).train()
    before = snapshot(model)
    assert rf.measure(model, (3, 16, 16), "3").short() == "4 s2"
    assert_same_model(model, before)


@pytest.mark.parametrize("norm", [torch.nn.utils.spectral_norm,
                                  torch.nn.utils.parametrizations.spectral_norm],
                         ids=["hook", "parametrization"])
def test_measure_follows_a_spectral_norm_discriminator(norm):
    # spectral norm divides the weight by u . (W v) of its buffers u and v: the twin's buffers
    # were zeros, every weight became inf, and every layer measured "global". Two 4x4 stride-2
    # convs see 4 + 3 * 2 = 10 positions, 4 apart
    model = nn.Sequential(norm(nn.Conv2d(3, 8, 4, 2, 1)), nn.LeakyReLU(0.2),
                          norm(nn.Conv2d(8, 16, 4, 2, 1)), nn.LeakyReLU(0.2))
    before = snapshot(model)
    assert rf.measure(model, (3, 64, 64), "2").short() == "10 s4"
    assert rf.compute(model, (3, 64, 64), "2").short() == "10 s4"
    assert_same_model(model, before)


def test_a_layer_that_returns_its_tensor_in_a_dataclass_is_measured_and_computed_alike():
    @dataclasses.dataclass
    class Out:
        y: torch.Tensor

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2)

        def forward(self, x):
            return Out(self.conv(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return self.block(x).y

    measured = rf.measure(Net(), (3, 16, 16), "block")
    computed = convscope.analyze(Net(), (3, 16, 16), depth=1).rows[0].rf
    assert (measured.short(), computed.short()) == ("3 s2", "3 s2")


@pytest.mark.parametrize("dilation", [1, 2])
def test_a_pointwise_convolution_keeps_the_field_the_window_rule_gives(monkeypatch, dilation):
    # the 1x1 shortcut (kernel 1, stride 1, no padding) against the rule it skips; a strided
    # and a padded 1x1 convolution still go through the rule
    from convscope.analyses.field_rules import windows

    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Conv2d(4, 4, 1, dilation=dilation),
                          nn.Conv2d(4, 4, 1, stride=2), nn.Conv2d(4, 4, 1, padding=1),
                          nn.Conv2d(4, 4, 1)).eval()
    graph = convscope.analyze(model, (3, 33, 33)).graph
    shortcut = receptive_fields(graph)
    monkeypatch.setattr(windows, "_pointwise", lambda node, n: False)
    assert receptive_fields(graph).by_ref == shortcut.by_ref
    assert [triples(shortcut.of_node(i)) for i in range(5)] == [
        [(3, 2, 0, False)] * 2, [(3, 2, 0, False)] * 2, [(3, 4, 0, False)] * 2,
        [(3, 4, 4, False)] * 2, [(3, 4, 4, False)] * 2]
