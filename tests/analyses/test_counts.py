"""Rows and totals on the issue's networks: parameters, MACs, folding, uncounted ops."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import convscope
from tests.conftest import flop_counter_total, real_inputs
from tests.modern_nets import GroupNormNet
from tests.nets import NETWORKS


@pytest.mark.parametrize("name", NETWORKS)
def test_parameters_equal_unique_numel(name):
    build, shapes = NETWORKS[name]
    model = build()
    report = convscope.analyze(model, shapes)
    unique = {id(p): p for p in model.parameters()}
    assert report.totals.params == sum(p.numel() for p in unique.values())
    assert sum(r.params for r in report.rows) == report.totals.params


@pytest.mark.parametrize("name", NETWORKS)
def test_macs_times_two_equal_flop_counter(name):
    build, shapes = NETWORKS[name]
    model = build().eval()
    report = convscope.analyze(model, shapes, batch_size=2)
    assert 2 * report.totals.macs == flop_counter_total(model, real_inputs(shapes, 2))
    assert report.totals.flops == 2 * report.totals.macs + report.totals.other_flops


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_folding_keeps_the_sums(name, depth):
    build, shapes = NETWORKS[name]
    model = build()
    full = convscope.analyze(model, shapes)
    folded = convscope.analyze(model, shapes, depth=depth)
    assert all(r.depth <= max(depth, 1) for r in folded.rows)
    for field in ("params", "macs", "other_flops"):
        assert sum(getattr(r, field) for r in folded.rows) == sum(
            getattr(r, field) for r in full.rows)


@pytest.mark.parametrize("name", NETWORKS)
def test_row_depth_is_the_named_module_nesting(name):
    # a row's depth counts the dots of its module's qualified name (torchinfo's depth); an op
    # outside any leaf sits one below the module it ran in
    build, shapes = NETWORKS[name]
    report = convscope.analyze(build(), shapes)
    names = {call.index: call.name for call in report.graph.calls}
    for row in report.rows:
        if row.kind == "module":
            name = names[row.calls[0]]
            assert row.depth == (0 if not name else name.count(".") + 1), row.name
        else:
            call = report.graph.nodes[row.nodes[0]].call
            inside = names.get(call, "")
            assert row.depth == (0 if call is None else
                                 (0 if not inside else inside.count(".") + 1) + 1), row.name


def test_folded_row_takes_its_container_output_and_totals():
    model = NETWORKS["inception_style"][0]()
    report = convscope.analyze(model, (8, 17, 17), depth=1)
    b3 = next(r for r in report.rows if r.name == "b3")
    # b3 = conv 1x1 8->4 (36 params) + conv 3x3 4->6 (222 params)
    assert (b3.kind, b3.type, b3.output_shape, b3.params) == ("folded", "Sequential",
                                                              [1, 6, 17, 17], 36 + 222)
    assert b3.macs == 17 * 17 * 4 * 8 + 17 * 17 * 6 * 4 * 9


class _Block(nn.Module):
    """A 3x3 conv, then a layer of the model's it was handed: not a child of its own."""

    def __init__(self, then):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.then = [then]  # a reference: named_modules() names the layer where the model put it

    def forward(self, x):
        return self.then[0](self.conv(x))


class _BlockCallsTheModelsLayer(nn.Module):
    def __init__(self, layer, again: bool):
        super().__init__()
        self.layer, self.again = layer, again
        self.b1, self.b2 = _Block(layer), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.b2(self.b1(x))
        return self.layer(x) if self.again else x


@pytest.mark.parametrize("layer,params,macs", [(nn.PReLU, 1, 0), (lambda: nn.Conv2d(4, 4, 1),
                                                                  20, 576)])
def test_a_top_level_layer_first_called_inside_a_block_keeps_its_parameters_at_depth_1(
        layer, params, macs):
    # on [1, 4, 6, 6]: a 3x3 conv 4->4 has 4*4*9 + 4 = 148 parameters, 6*6*4*4*9 = 5,184 MACs; a
    # 1x1 conv 4->4 has 20 and 6*6*4*4 = 576; PReLU has 1 and none. b1 runs conv then layer, the
    # model then b2 and layer again. Each call's MACs go to the block it ran under; the layer's
    # parameters to its own row (b1 held them, and "layer" said "(shared)")
    model = _BlockCallsTheModelsLayer(layer(), again=True)
    rows = convscope.analyze(model, (4, 6, 6), depth=1).rows
    assert [(r.name, r.params, r.macs, r.shared) for r in rows] == [
        ("b1", 148, 5_184 + macs, False), ("b2", 148, 5_184, False), ("layer", params, macs, False)]
    assert [r.params for r in rows] == [sum(p.numel() for p in m.parameters())
                                        for m in (model.b1, model.b2, model.layer)]
    assert "(shared)" not in str(convscope.analyze(model, (4, 6, 6), depth=1))
    full = convscope.analyze(model, (4, 6, 6)).rows  # unfolded: the first call holds them
    assert [(r.name, r.params, r.macs) for r in full] == [
        ("b1.conv", 148, 5_184), ("layer", params, macs), ("b2", 148, 5_184), ("layer", 0, macs)]
    assert sum(r.other_flops for r in rows) == sum(r.other_flops for r in full)


def test_a_top_level_layer_only_called_inside_a_block_is_part_of_that_block():
    # no row of its own at depth 1: its parameters and MACs stay with b1, 148 + 20 and
    # 5,184 + 576
    model = _BlockCallsTheModelsLayer(nn.Conv2d(4, 4, 1), again=False)
    rows = convscope.analyze(model, (4, 6, 6), depth=1).rows
    assert [(r.name, r.params, r.macs) for r in rows] == [("b1", 168, 5_760), ("b2", 148, 5_184)]


def test_shared_module_has_two_rows_and_counts_parameters_once():
    report = convscope.analyze(NETWORKS["shared_conv"][0](), (4, 16, 16))
    conv_rows = [r for r in report.rows if r.name == "conv"]
    assert [r.params for r in conv_rows] == [4 * 4 * 9 + 4, 0]
    assert [r.shared for r in conv_rows] == [False, True]
    assert conv_rows[0].macs == conv_rows[1].macs == 16 * 16 * 4 * 4 * 9


def test_functional_ops_outside_leaves_get_rows():
    report = convscope.analyze(NETWORKS["residual"][0](), (3, 32, 32))
    functional = [(r.name, r.type) for r in report.rows if r.kind == "function"]
    assert ("add", "aten.add") in functional
    assert ("cat", "aten.cat") not in functional
    names = [name for name, _ in functional]
    assert names.count("add") == 2 and "flatten" not in names and "view" in names
    inception = convscope.analyze(NETWORKS["inception_style"][0](), (8, 17, 17))
    cat = next(r for r in inception.rows if r.type == "aten.cat")
    assert cat.output_shape == [1, 16, 17, 17]


def test_parameters_of_a_child_never_called_count_where_they_are_read():
    # MultiheadAttention reads out_proj's weight and bias itself: out_proj is never called
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2,
                                  enable_nested_tensor=False)
    model.layers[1].self_attn.out_proj.weight.requires_grad_(False)
    report = convscope.analyze(model, (5, 16))
    assert sum(r.params for r in report.rows) == sum(p.numel() for p in model.parameters())
    attention = [r for r in report.rows if r.type == "MultiheadAttention"]
    # in_proj 3 * (16 * 16 + 16) + out_proj 16 * 16 + 16
    assert [r.params for r in attention] == [3 * 272 + 272] * 2
    assert [r.trainable_params for r in attention] == [3 * 272 + 272, 3 * 272 + 16]
    folded = convscope.analyze(model, (5, 16), depth=1).rows
    assert [r.params for r in folded] == [sum(p.numel() for p in layer.parameters())
                                          for layer in model.layers]
    unused = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    unused.forward = unused[0].forward  # unused[1] neither called nor read: in no row
    assert sum(r.params for r in convscope.analyze(unused, (4,)).rows) == 20


def test_frozen_parameters_are_counted_apart():
    model = NETWORKS["residual"][0]()
    for p in model.stem.parameters():
        p.requires_grad_(False)
    totals = convscope.analyze(model, (3, 32, 32)).totals
    # stem: conv 3->16 3x3 no bias (432) + BatchNorm (32)
    assert totals.non_trainable_params == 432 + 32
    assert totals.trainable_params == totals.params - 464


def test_uncounted_ops_are_listed_not_dropped():
    class Cumulative(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1) + torch.cummax(x, dim=1).values

    report = convscope.analyze(Cumulative(), (4, 6))
    assert report.uncounted == {"aten.cumsum.default": 1, "aten.cummax.default": 1}
    assert "aten.cumsum.default x1" in str(report)
    assert report.to_dict()["uncounted"] == {"aten.cummax.default": 1, "aten.cumsum.default": 1}


def test_activation_and_parameter_bytes():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(),
                          nn.Linear(8 * 16 * 16, 10))
    totals = convscope.analyze(model, (3, 16, 16), batch_size=4).totals
    # conv out 4x8x16x16 floats; in-place ReLU and the flatten view allocate nothing; linear 4x10
    assert totals.activation_bytes == (4 * 8 * 16 * 16 + 4 * 10) * 4
    assert totals.param_bytes == 4 * sum(p.numel() for p in model.parameters())
    assert totals.input_bytes == 4 * 3 * 16 * 16 * 4


def test_a_tensor_returned_twice_is_one_output():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            y = self.fc(x)
            return y, y, torch.relu(y)

    totals = convscope.analyze(Twice(), (4,), batch_size=2).totals
    # y and relu(y) are [2, 3] floats, 24 bytes each: 48, where y counted twice made 72
    assert totals.output_bytes == 2 * (2 * 3 * 4)


def test_a_layer_returning_one_tensor_twice_shows_its_bytes_once():
    class Pair(nn.Module):
        def forward(self, x):
            y = torch.relu(x)
            return y, y

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.pair = nn.Linear(4, 3), Pair()

        def forward(self, x):
            a, b = self.pair(self.fc(x))
            return a + b

    for depth in (None, 1):
        report = convscope.analyze(Model(), (4,), batch_size=2, depth=depth)
        rows = {row.name: row for row in report.rows}
        assert rows["pair"].output_shapes == ((2, 3), (2, 3))
        assert rows["pair"].output_bytes == 2 * 3 * 4  # one [2, 3] float tensor, not 48


class _NewStorage(TorchDispatchMode):
    """Bytes of the op outputs of a real forward that got storage of their own: what
    ``activation_bytes`` predicts."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                 if isinstance(t, torch.Tensor)}
        self.total += sum(t.nbytes for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)
                          and t.untyped_storage().data_ptr() not in given)
        return out


class _TransposedReshape(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, x):
        return self.linear(x.transpose(1, 2).reshape(x.shape[0], -1, 6))


class _SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


class _ChannelsLastConv(nn.Module):
    """A conv of a channels-last input is channels-last on the CPU: ``.contiguous()`` copies it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.conv(x.contiguous(memory_format=torch.channels_last)).contiguous()


_ALLOCATING = {
    **NETWORKS,
    # a matmul of a 3-D input, and a reshape of a transposed tensor, end in _unsafe_view: a
    # view whose schema does not say so, counted as new memory (1280 bytes for 640)
    "linear-3d": (lambda: nn.Sequential(nn.Linear(8, 16, bias=False)), [(5, 8)]),
    "transposed-reshape": (_TransposedReshape, [(6, 4)]),
    "attention": (_SelfAttention, [(5, 16)]),
    # the meta kernel laid the conv's output out row-major: the copy was missed (12,544 bytes)
    "channels-last conv": (_ChannelsLastConv, [(3, 16, 16)]),
    # convs and group norms of channels-last maps: no copy before a group norm on the CPU
    "channels-last group norm": (GroupNormNet, [(3, 32, 32)]),
}


@pytest.mark.parametrize("name", _ALLOCATING)
def test_activation_bytes_are_the_new_storage_a_real_forward_allocates(name):
    build, shapes = _ALLOCATING[name]
    model = build().eval()
    inputs = list(real_inputs(shapes, 2))
    with _NewStorage() as real:  # grad on: attention takes the path of ops the trace sees
        model(*inputs)
    assert convscope.analyze(model, shapes, batch_size=2).totals.activation_bytes == real.total


def test_a_folded_block_that_calls_a_shared_layer_first_still_shows_its_own_parameters():
    # M.conv (3x3, 8->8: 584 params) runs, then stage runs M.conv again and its own conv (584)
    class Stage(nn.Module):
        def __init__(self, shared):
            super().__init__()
            self.shared, self.own = shared, nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return self.own(self.shared(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.stage = Stage(self.conv)

        def forward(self, x):
            return self.stage(self.conv(x))

    model = Model()
    rows = convscope.analyze(model, (8, 8, 8), depth=1).rows
    assert [(r.name, r.params, r.shared) for r in rows] == [("conv", 584, False),
                                                            ("stage", 584, False)]
    assert "(shared)" not in str(convscope.analyze(model, (8, 8, 8), depth=1))
    # a later call of a block whose every parameter was counted before stays "shared"
    loop = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = loop

        def forward(self, x):
            return self.block(self.block(x))

    rows = convscope.analyze(Twice(), (8, 8, 8), depth=1).rows
    assert [(r.name, r.params, r.shared) for r in rows] == [("block", 584, False),
                                                            ("block", 0, True)]


def test_a_folded_module_that_owns_a_parameter_and_has_children_is_one_row():
    # block owns gamma itself and holds conv: its own row and its children's fold into one
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.gamma = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.conv(x) * self.gamma

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.scale = Block(), nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.block(x) * self.scale

    rows = convscope.analyze(Net(), (8, 8, 8), depth=1).rows
    assert [(r.name, r.kind, r.params, r.macs) for r in rows] == [
        ("Net", "module", 1, 0), ("block", "folded", 585, 8 * 8 * 8 * 8 * 9)]
    assert [(r.name, r.params) for r in convscope.analyze(Net(), (8, 8, 8), depth=0).rows] == [
        ("Net", 586)]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_an_embedding_bag_s_bytes_are_the_new_storage_a_real_forward_allocates(mode,
                                                                                padding_idx):
    # its bookkeeping outputs had the meta kernel's shapes, not the CPU's: 112 bytes for 128
    model = nn.Sequential(nn.EmbeddingBag(20, 6, mode=mode, padding_idx=padding_idx),
                          nn.Linear(6, 3)).eval()
    ids = torch.randint(0, 20, (2, 5))
    with _NewStorage() as real:
        model(ids)
    report = convscope.analyze(model, (5,), batch_size=2, dtype=torch.int64)
    assert report.totals.activation_bytes == real.total
