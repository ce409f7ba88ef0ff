"""The cs231n notes' VGG16 table (seed 002), every row computed from the traced model."""
from __future__ import annotations

import re
from math import prod

import torch
import torch.nn.functional as F
from torch import nn

import convscope
from convscope import zoo
from convscope.analyses.cs231n import cs231n_table
from convscope.render.explain import render_cs231n, short

# Copied from ../shared/seeds/002 (the notes' own text, spacing included).
NOTES_ROWS = """\
INPUT: [224x224x3]        memory:  224*224*3=150K   weights: 0
CONV3-64: [224x224x64]  memory:  224*224*64=3.2M   weights: (3*3*3)*64 = 1,728
CONV3-64: [224x224x64]  memory:  224*224*64=3.2M   weights: (3*3*64)*64 = 36,864
POOL2: [112x112x64]  memory:  112*112*64=800K   weights: 0
CONV3-128: [112x112x128]  memory:  112*112*128=1.6M   weights: (3*3*64)*128 = 73,728
CONV3-128: [112x112x128]  memory:  112*112*128=1.6M   weights: (3*3*128)*128 = 147,456
POOL2: [56x56x128]  memory:  56*56*128=400K   weights: 0
CONV3-256: [56x56x256]  memory:  56*56*256=800K   weights: (3*3*128)*256 = 294,912
CONV3-256: [56x56x256]  memory:  56*56*256=800K   weights: (3*3*256)*256 = 589,824
CONV3-256: [56x56x256]  memory:  56*56*256=800K   weights: (3*3*256)*256 = 589,824
POOL2: [28x28x256]  memory:  28*28*256=200K   weights: 0
CONV3-512: [28x28x512]  memory:  28*28*512=400K   weights: (3*3*256)*512 = 1,179,648
CONV3-512: [28x28x512]  memory:  28*28*512=400K   weights: (3*3*512)*512 = 2,359,296
CONV3-512: [28x28x512]  memory:  28*28*512=400K   weights: (3*3*512)*512 = 2,359,296
POOL2: [14x14x512]  memory:  14*14*512=100K   weights: 0
CONV3-512: [14x14x512]  memory:  14*14*512=100K   weights: (3*3*512)*512 = 2,359,296
CONV3-512: [14x14x512]  memory:  14*14*512=100K   weights: (3*3*512)*512 = 2,359,296
CONV3-512: [14x14x512]  memory:  14*14*512=100K   weights: (3*3*512)*512 = 2,359,296
POOL2: [7x7x512]  memory:  7*7*512=25K  weights: 0
FC: [1x1x4096]  memory:  4096  weights: 7*7*512*4096 = 102,760,448
FC: [1x1x4096]  memory:  4096  weights: 4096*4096 = 16,777,216
FC: [1x1x1000]  memory:  1000 weights: 4096*1000 = 4,096,000
""".splitlines()


def vgg16_table():
    with torch.device("meta"):
        model = zoo.create("vgg16")
    return cs231n_table(convscope.analyze(model, (3, 224, 224), name="vgg16"))


def test_every_row_equals_the_notes_row():
    text = render_cs231n(vgg16_table()).splitlines()
    assert len(text) >= len(NOTES_ROWS)
    for ours, notes in zip(text, NOTES_ROWS):
        # same words and numbers; the notes' spacing wanders (8 spaces after INPUT, 1 before the
        # last FC's "weights"), ours is regular
        assert ours.split() == notes.split()
    assert text[1] == "CONV3-64: [224x224x64]  memory:  224*224*64=3.2M   weights: (3*3*3)*64 = 1,728"


def test_rows_are_computed_not_copied():
    table = vgg16_table()
    assert table.rows[1].memory == 224 * 224 * 64 and table.rows[1].weights == 1_728
    assert table.rows[-3].weight_factors == (7, 7, 512, 4096)
    # the notes' rounding: two significant figures in K or M, FC rows as plain counts
    assert [short(v) for v in (150_528, 3_211_264, 802_816, 25_088)] == ["150K", "3.2M", "800K",
                                                                       "25K"]


def test_totals_are_the_sums_of_the_rows_with_a_remark_where_the_notes_disagree():
    table = vgg16_table()
    notes_memory = sum(eval(m) for m in re.findall(r"memory:\s+([\d*]+)", "\n".join(NOTES_ROWS)))
    notes_weights = sum(int(w.replace(",", "")) for w in
                        re.findall(r"= ([\d,]+)$", "\n".join(NOTES_ROWS), re.M))
    assert table.memory == notes_memory == 15_237_608  # the notes print 24M
    assert table.weights == notes_weights == 138_344_128  # biases excluded, as in the rows
    assert table.params == 138_357_544 and table.biases == 13_416
    text = render_cs231n(table)
    assert ("TOTAL memory: 15.2M * 4 bytes ~= 61MB / image (only forward! ~*2 for bwd)   "
            "[15,237,608 values, 58.13 MiB]") in text
    assert ("TOTAL params: 138M parameters   [138,344,128 weights in the rows + 13,416 biases = "
            "138,357,544]") in text
    remark = [line for line in text.splitlines() if line.startswith("remark:")]
    assert len(remark) == 1 and "24M" in remark[0] and "15,237,608" in remark[0]


def test_other_models_get_the_table_without_the_vgg16_remark():
    table = cs231n_table(convscope.analyze(zoo.create("lenet5"), (1, 32, 32), name="lenet5"))
    text = render_cs231n(table)
    assert "CONV5-6: [28x28x6]  memory:  28*28*6=4.7K   weights: (5*5*1)*6 = 150" in text
    assert "FC: [1x1x120]  memory:  120   weights: 5*5*16*120 = 48,000" in text
    assert "remark" not in text


def test_a_linear_without_bias_and_a_global_pooling_get_their_rows():
    # a bias-free Linear (aten.mm, not addmm) had no FC row, and its weights were counted as
    # biases; AdaptiveAvgPool2d(1) (a mean on the CPU) had no POOL row and no memory
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 10, bias=False))
    table = cs231n_table(convscope.analyze(model, (3, 8, 8)))
    assert [(r.label, r.shape, r.memory, r.weights) for r in table.rows] == [
        ("INPUT", (8, 8, 3), 192, 0), ("CONV3-8", (6, 6, 8), 288, 216),
        ("POOL6", (1, 1, 8), 8, 0), ("FC", (1, 1, 10), 10, 80)]
    assert (table.memory, table.weights, table.biases) == (498, 296, 0)


class SharedConv(nn.Module):
    """One conv called twice: the second call reads the same weights."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 12, 3, padding=1)
        self.shared = nn.Conv2d(12, 12, 3, padding=1)

    def forward(self, x):
        return self.shared(self.shared(self.first(x)))


def test_a_module_called_twice_counts_its_weights_once():
    # weights (3*3*3)*12 + (3*3*12)*12 = 324 + 1,296 = 1,620, biases 12 + 12 = 24, params 1,644;
    # the second CONV3-12 row was counted again: 2,916 weights and -1,272 biases
    table = cs231n_table(convscope.analyze(SharedConv(), (3, 8, 8)))
    assert [(r.label, r.weights, r.shared) for r in table.rows[1:]] == [
        ("CONV3-12", 324, False), ("CONV3-12", 1_296, False), ("CONV3-12", 1_296, True)]
    assert (table.weights, table.biases, table.params) == (1_620, 24, 1_644)
    assert table.memory == 192 + 3 * 768  # the second call runs: its output is memory
    text = render_cs231n(table)
    assert "weights: (3*3*12)*12 = 1,296 (shared: counted above)" in text
    assert "[1,620 weights in the rows + 24 biases = 1,644]" in text


def test_parameters_of_layers_without_a_row_are_counted_apart_from_the_biases():
    # BatchNorm2d(8): 8 scales + 8 shifts, no row; the bias-free conv has (3*3*3)*8 = 216 weights
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 10))
    table = cs231n_table(convscope.analyze(model, (3, 8, 8)))
    assert (table.weights, table.biases, table.other_params) == (216 + 2_880, 10, 16)
    assert table.weights + table.biases + table.other_params == table.params == 3_122
    assert "[3,096 weights in the rows + 10 biases + 16 other parameters = 3,122]" in \
        render_cs231n(table)


def test_a_1d_network_keeps_its_channels_length_first():
    # [N, C, L] read as (1, 1, L): "[1x1x50] memory: 1*1*50=100" for a 2x50 input; the notes'
    # order is W x C, so a signal is L x C. MaxPool1d runs as a 2-d pool of kernel 1x2: a POOL2
    model = nn.Sequential(nn.Conv1d(2, 4, 5, stride=2), nn.MaxPool1d(2))
    table = cs231n_table(convscope.analyze(model, (2, 50)))
    assert [(r.label, r.shape, r.memory) for r in table.rows] == [
        ("INPUT", (50, 2), 100), ("CONV5-4", (23, 4), 92), ("POOL2", (11, 4), 44)]
    assert render_cs231n(table).splitlines()[:3] == [
        "INPUT: [50x2]  memory:  50*2=100   weights: 0",
        "CONV5-4: [23x4]  memory:  23*4=92   weights: (5*2)*4 = 40",
        "POOL2: [11x4]  memory:  11*4=44   weights: 0"]


def test_an_fc_after_a_1d_pool_has_the_factors_of_its_pools_output():
    # a 1-d pool runs as a 2-d one on [N, C, 1, L] and squeezes the 1 away: the FC's factors
    # came from the 2-d output, "1*1*64*10" for a global pool (the 2-d case's 1*1*64*10 is H, W,
    # C) and "1*3*64*10" after MaxPool1d(2). L x C x outputs, as the POOL rows above them say
    head = [nn.Conv1d(2, 64, 3)]  # [1, 2, 8] -> [1, 64, 6]
    for pool, length in ((nn.AdaptiveAvgPool1d(1), 1), (nn.MaxPool1d(2), 3),
                         (nn.AvgPool1d(2), 3), (nn.AdaptiveMaxPool1d(2), 2)):
        model = nn.Sequential(*head, pool, nn.Flatten(), nn.Linear(64 * length, 10))
        table = cs231n_table(convscope.analyze(model, (2, 8)))
        assert table.rows[-2].shape == (length, 64)
        assert table.rows[-1].weight_factors == (length, 64, 10), pool
        assert f"weights: {length}*64*10 = {640 * length:,}" in render_cs231n(table)
    # the same logic in 2-d and 3-d: every spatial axis is the model's, none is dropped
    for conv, pool, shape, factors in (
            (nn.Conv2d(2, 64, 3), nn.AdaptiveAvgPool2d(1), (2, 8, 8), (1, 1, 64, 10)),
            (nn.Conv2d(2, 64, 3), nn.MaxPool2d(2), (2, 8, 8), (3, 3, 64, 10)),
            (nn.Conv3d(2, 64, 3), nn.AdaptiveAvgPool3d(1), (2, 8, 8, 8), (1, 1, 1, 64, 10)),
            (nn.Conv3d(2, 64, 3), nn.MaxPool3d(2), (2, 8, 8, 8), (3, 3, 3, 64, 10))):
        model = nn.Sequential(conv, pool, nn.Flatten(), nn.Linear(prod(factors[:-1]), 10))
        assert cs231n_table(convscope.analyze(model, shape)).rows[-1].weight_factors == factors


def test_a_3d_network_keeps_its_depth():
    # [N, C, D, H, W] read as (H, W, C): the depth was lost, "[6x7x2] memory: 6*7*2=672"
    table = cs231n_table(convscope.analyze(nn.Conv3d(2, 4, 3), (2, 6, 7, 8)))
    assert [(r.label, r.shape, r.memory) for r in table.rows] == [
        ("INPUT", (6, 7, 8, 2), 672), ("CONV3-4", (4, 5, 6, 4), 480)]
    assert "CONV3-4: [4x5x6x4]  memory:  4*5*6*4=480   weights: (3*3*3*2)*4 = 216" in \
        render_cs231n(table)


class ChannelsLastLinear(nn.Module):
    """A Linear on every pixel: [1, 12, 8, 6] -> [1, 8, 6, 12] -> Linear(12, 16) -> [1, 8, 6, 16]"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.fc = nn.Linear(12, 16)

    def forward(self, x):
        return self.fc(self.conv(x).permute(0, 2, 3, 1))


def test_a_linear_on_every_pixel_counts_every_value_of_its_output():
    # printed "FC: [6x16x8] memory: 16" (the last dim as channels, the count of one pixel), while
    # the TOTAL added the output's 8*6*16 = 768 values
    table = cs231n_table(convscope.analyze(ChannelsLastLinear(), (3, 8, 6)))
    fc = table.rows[-1]
    assert (fc.label, fc.shape, fc.memory) == ("FC", (8, 6, 16), 768)
    assert table.memory == 144 + 576 + 768
    assert "FC: [8x6x16]  memory:  8*6*16=768   weights: 12*16 = 192" in render_cs231n(table)


def test_the_bias_a_linear_adds_after_its_matmul_is_a_bias():
    # on a non-contiguous [1, 8, 6, 12] a Linear runs mm then add(bias): the bias was not the
    # matmul's argument, and the 16 biases were counted as parameters of layers without a row
    table = cs231n_table(convscope.analyze(ChannelsLastLinear(), (3, 8, 6)))
    assert (table.weights, table.biases, table.other_params) == (324 + 192, 12 + 16, 0)


def test_small_totals_keep_three_significant_figures():
    # LeNet-5 printed "~= 0MB / image" and "0M parameters" for 61,706 parameters: 9,118 values
    # * 4 bytes = 36,472 bytes ~= 36.5KB, 61,706 ~= 61.7K (VGG16 keeps 61MB and 138M)
    table = cs231n_table(convscope.analyze(zoo.create("lenet5"), (1, 32, 32), name="lenet5"))
    text = render_cs231n(table)
    assert "TOTAL memory: 9.12K * 4 bytes ~= 36.5KB / image (only forward! ~*2 for bwd)" in text
    assert "TOTAL params: 61.7K parameters   [61,470 weights" in text
    # rounded before the unit is chosen: 999,999 is 1M, not 1000K; below 1,000 the count is exact
    assert [short(v, 3) for v in (999_999, 3_504_872, 1_234_567_890, 944)] == [
        "1M", "3.5M", "1.23G", "944"]


class FunctionalLayers(nn.Module):
    """Pools, a conv and a Linear called as functions, and a product of two activations."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv(x), 2)  # [1, 8, 4, 4]
        x = F.conv2d(x, self.conv.weight[:, :3].repeat(1, 1, 1, 1)[:, :1].expand(8, 8, 3, 3),
                     padding=1)  # a weight computed from a parameter: still a conv
        x = F.avg_pool1d(x.flatten(2), 2)  # [1, 8, 8]
        x = F.linear(x.transpose(1, 2), self.fc.weight, self.fc.bias)  # [1, 8, 10]
        return x @ x.transpose(1, 2)  # [1, 8, 8]: no layer


def test_functional_convs_pools_and_linears_get_rows():
    # rows were kept only for modules: F.max_pool2d had no row, and its 128 values were missing
    # from TOTAL memory
    table = cs231n_table(convscope.analyze(FunctionalLayers(), (3, 8, 8)))
    assert [(r.label, r.shape, r.memory) for r in table.rows] == [
        ("INPUT", (8, 8, 3), 192), ("CONV3-8", (8, 8, 8), 512), ("POOL2", (4, 4, 8), 128),
        ("CONV3-8", (4, 4, 8), 128), ("POOL2", (8, 8), 64), ("FC", (8, 10), 80)]
    assert table.memory == 192 + 512 + 128 + 128 + 64 + 80
    # the computed conv weight is no parameter: the sums leave it out, and stay exact. F.linear
    # on a transposed input adds its bias in an op of its own after the mm: still the FC's bias
    # (it was counted as 10 other parameters)
    assert (table.weights, table.biases, table.other_params) == (216 + 80, 8 + 10, 0)
    assert table.rows[-1].bias_sizes == (("fc.bias", 10),)
    text = render_cs231n(table)
    assert "CONV3-8: [4x4x8]  memory:  4*4*8=128   weights: (3*3*8)*8 = 576 (computed: not a " \
        "parameter)" in text
    assert "FC: [8x10]  memory:  8*10=80   weights: 8*10 = 80" in text


class TwiceThroughOneWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        return F.conv2d(x, self.conv.weight, self.conv.bias, padding=1)


def test_a_weight_passed_to_a_functional_conv_again_is_shared():
    table = cs231n_table(convscope.analyze(TwiceThroughOneWeight(), (4, 6, 6)))
    assert [(r.label, r.shared) for r in table.rows[1:]] == [("CONV3-4", False), ("CONV3-4", True)]
    assert (table.weights, table.biases, table.params) == (144, 4, 148)


class _TiedLinears(nn.Module):
    """Two Linears sharing one weight, each with its own bias."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(48, 48), nn.Linear(48, 48)
        self.fc2.weight = self.fc1.weight

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def test_a_weight_two_layers_share_with_a_bias_each_is_counted_once():
    # each row counted it, as its own bias made it no shared row: "[4,608 weights in the rows +
    # 96 biases + -2,304 other parameters = 2,400]"
    text = render_cs231n(cs231n_table(convscope.analyze(_TiedLinears(), (3, 4, 4))))
    assert "weights: 48*48 = 2,304 (shared: counted above)" in text
    assert "[2,304 weights in the rows + 96 biases = 2,400]" in text


class TransposedLinear(nn.Module):
    """F.linear on [N, C, L] transposed to [N, L, C], with parameters named w and b: the model's
    own (it is the row), or a child's (``in_child``), a leaf that is the row."""

    def __init__(self, in_child: bool = False):
        super().__init__()
        self.proj = _Projection() if in_child else None
        if not in_child:
            self.w, self.b = nn.Parameter(torch.randn(5, 8)), nn.Parameter(torch.randn(5))

    def forward(self, x):
        if self.proj is not None:
            return self.proj(x)
        return F.linear(x.transpose(1, 2), self.w, self.b)


class _Projection(nn.Module):
    def __init__(self):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.randn(5, 8)), nn.Parameter(torch.randn(5))

    def forward(self, x):
        return F.linear(x.transpose(1, 2), self.w, self.b)


def test_the_bias_f_linear_adds_after_its_matmul_is_the_fcs_bias():
    # [1, 8, 16] -> transpose -> [1, 16, 8] (not contiguous): mm on [16, 8] x [8, 5], a view to
    # [1, 16, 5], then add(b). weights 8*5 = 40, biases 5, params 45. b was no argument of the
    # mm and not named "bias": "[40 weights in the rows + 0 biases + 5 other parameters = 45]"
    for model, bias in ((TransposedLinear(), "b"), (TransposedLinear(in_child=True), "proj.b")):
        table = cs231n_table(convscope.analyze(model, (8, 16)))
        assert [(r.label, r.shape, r.memory, r.weights) for r in table.rows] == [
            ("INPUT", (16, 8), 128, 0), ("FC", (16, 5), 80, 40)]
        assert table.rows[1].bias_sizes == ((bias, 5),)
        assert (table.weights, table.biases, table.other_params, table.params) == (40, 5, 0, 45)
        assert "[40 weights in the rows + 5 biases = 45]" in render_cs231n(table)


def test_a_parameter_added_after_a_product_it_does_not_fit_is_no_bias():
    # x @ W^T + s with s of 1 value: not the 5 outputs' bias, so one other parameter
    class ScaledShift(TransposedLinear):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(torch.randn(1))

    table = cs231n_table(convscope.analyze(ScaledShift(), (8, 16)))
    assert (table.weights, table.biases, table.other_params) == (40, 0, 1)
