"""The seed notes' own examples, reproduced with convscope (../shared/seeds/)."""
from __future__ import annotations

import torch
from torch import nn

import convscope
from convscope import zoo
from convscope.analyses.explain import explain


def test_seed_000_conv_1_to_8_with_5x5_kernel_has_208_parameters():
    conv = nn.Conv2d(in_channels=1, out_channels=8, kernel_size=(5, 5), stride=(1, 1))
    report = convscope.analyze(conv, (1, 28, 28))
    params = {p.name: list(p.meta.shape) for p in report.graph.params}
    assert params == {"weight": [8, 1, 5, 5], "bias": [8]}
    assert report.totals.params == 8 * 1 * 5 * 5 + 8 == 208
    # "8*1*5*5 + 8 = 208, not 28": the weights and the 8 biases, with the layer's numbers
    lines = _explained(nn.Sequential(conv), (1, 28, 28)).lines
    assert "weights = 8 filters × 1 channel × 5 × 5 = 200, bias 8, parameters 208" in lines
    assert "parameters = n_k(c·k²+1) = 8·(1·5²+1) = 208" in lines


def test_seed_001_conv_3_to_10_kernel_3_on_64x64_gives_62x62():
    conv = nn.Conv2d(in_channels=3, out_channels=10, kernel_size=3, stride=1, padding=0)
    report = convscope.analyze(conv, (3, 64, 64))
    assert report.rows[0].output_shape == [1, 10, 62, 62]  # (64 - 3) / 1 + 1 = 62


def test_seed_001_kernel_5_stride_2_gives_30x30_and_weight_10x3x5x5():
    conv = nn.Conv2d(in_channels=3, out_channels=10, kernel_size=5, stride=2, padding=0)
    report = convscope.analyze(conv, (3, 64, 64))
    assert report.rows[0].output_shape == [1, 10, 30, 30]  # int((64 - 5) / 2) + 1 = 30
    shapes = {p.name: list(p.meta.shape) for p in report.graph.params}
    assert shapes == {"weight": [10, 3, 5, 5], "bias": [10]}


def test_seed_003_simple_cnn_on_a_64x1x28x28_batch_gives_64x2():
    model = zoo.create("simple_cnn")
    report = convscope.analyze(model, (1, 28, 28), batch_size=64)
    assert report.rows[-1].output_shape == [64, 2]
    convs = [r.output_shape[2] for r in report.rows if r.type == "Conv2d"]
    assert convs == [14, 7, 4, 2, 1]  # 28 -> 14 -> 7 -> 4 -> 2 -> 1
    assert list(model(torch.zeros(64, 1, 28, 28)).shape) == [64, 2]


def test_seed_003_broken_cnn_keeps_the_28x28_map_and_270_weights():
    report = convscope.analyze(zoo.create("broken_cnn"), (1, 28, 28), batch_size=64)
    assert report.rows[-1].output_shape == [64, 1, 28, 28]
    first = report.rows[0]
    assert first.params == 30 * 1 * 3 * 3 + 30  # the note's 270 weights, plus 30 biases
    conv = _explained(zoo.create("broken_cnn"), (1, 28, 28))
    assert "weights = 30 filters × 1 channel × 3 × 3 = 270, bias 30, parameters 300" in conv.lines


def test_seed_003_conv_30_to_100_kernel_5_has_75000_weights():
    report = convscope.analyze(nn.Conv2d(30, 100, kernel_size=5, bias=False), (30, 9, 9))
    assert report.totals.params == 100 * 30 * 5 * 5 == 75_000
    conv = _explained(nn.Sequential(nn.Conv2d(30, 100, kernel_size=5)), (30, 9, 9))
    assert "weights = 100 filters × 30 channels × 5 × 5 = 75,000, bias 100, parameters 75,100" \
        in conv.lines


def test_seed_003_stride_2_with_doubled_channels_halves_c_h_w_and_keeps_the_macs():
    # "Downsample by 2 -> halve H,W; increase channels -> maintain C×H×W": doubling C while
    # halving H and W halves C·H·W (2C·H/2·W/2 = C·H·W/2); what stays constant is the compute,
    # MACs = H'·W'·C_out·C_in·3·3, as the note's own point 1 says ("total compute")
    rows = [r for r in convscope.analyze(zoo.create("simple_cnn"), (1, 28, 28)).rows
            if r.type == "Conv2d"]
    values = [r.output_shape[1] * r.output_shape[2] * r.output_shape[3] for r in rows]
    assert values == [4 * 14 * 14, 8 * 7 * 7, 16 * 4 * 4, 32 * 2 * 2, 2] == [784, 392, 256, 128, 2]
    assert [r.output_bytes for r in rows] == [4 * v for v in values]
    # 14·14·4·1·9, 7·7·8·4·9, 4·4·16·8·9, 2·2·32·16·9, 1·1·2·32·9
    assert [r.macs for r in rows] == [7_056, 14_112, 18_432, 18_432, 576]


def test_seed_004_parameter_formula_nk_times_c_k2_plus_1():
    n_k, c, k = 64, 3, 3
    report = convscope.analyze(nn.Conv2d(c, n_k, k), (c, 32, 32))
    assert report.totals.params == n_k * (c * k**2 + 1)


def test_seed_002_three_3x3_convs_have_27_c2_weights_against_49_c2_for_one_7x7():
    c = 16
    three = nn.Sequential(*[nn.Conv2d(c, c, 3, padding=1, bias=False) for _ in range(3)])
    one = nn.Conv2d(c, c, 7, padding=3, bias=False)
    assert convscope.analyze(three, (c, 32, 32)).totals.params == 27 * c * c
    assert convscope.analyze(one, (c, 32, 32)).totals.params == 49 * c * c


def test_seed_002_explain_says_three_3x3_convs_see_7x7_with_27_c2_weights_against_49_c2():
    c = 16
    three = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(c, c, 3, padding=1),
                                                          nn.ReLU())])
    stacks = explain(convscope.analyze(three, (c, 32, 32))).stacks
    # r = 1 + 3·(3 − 1) = 7; 3·(3²·16²) = 6,912 weights against 7²·16² = 12,544 for one 7x7
    assert stacks == ("0 + 2 + 4: three 3x3 stride-1 convs 16 → 16 → 16 → 16 see 7x7 of their "
                      "input (1 + 3·(3−1) = 7), as one 7x7 conv would; weights 3·(3²·C²) = 27C² "
                      "against 7²·C² = 49C² with C = 16: 6,912 against 12,544 (ratio 0.5510).",)
    assert convscope.analyze(three, (c, 32, 32)).rows[-1].rf.short() == "7 s1"


def test_seed_002_vgg16s_last_block_is_the_notes_27_c2_against_49_c2():
    with torch.device("meta"):
        model = zoo.create("vgg16")
    stacks = explain(convscope.analyze(model, (3, 224, 224))).stacks
    assert [s.split(":")[0] for s in stacks] == [
        "features.0 + features.2", "features.5 + features.7",
        "features.10 + features.12 + features.14", "features.17 + features.19 + features.21",
        "features.24 + features.26 + features.28"]
    # C = 512: 27·512² = 7,077,888 against 49·512² = 12,845,056
    assert "27C² against 7²·C² = 49C² with C = 512: 7,077,888 against 12,845,056" in stacks[4]
    # the first block widens 3 channels to 64: there the stack has more weights than one 5x5
    assert "3²·(3·64 + 64·64) = 38,592 against 5²·3·64 = 4,800" in stacks[0]
    assert stacks[0].endswith("with C channels throughout it would be 2·(3²·C²) = 18C² against "
                              "5²·C² = 25C².")


def test_seed_002_vgg16_first_layers_memory_and_weights():
    with torch.device("meta"):  # shapes only: skip initialising 138M weights
        model = zoo.create("vgg16")
    report = convscope.analyze(model, (3, 224, 224))
    convs = [r for r in report.rows if r.type == "Conv2d"]
    # CONV3-64: [224x224x64] memory 224*224*64 = 3.2M, weights (3*3*3)*64 = 1,728 (+64 biases)
    assert convs[0].output_shape == [1, 64, 224, 224]
    assert convs[0].output_bytes == 224 * 224 * 64 * 4
    assert convs[0].params == 3 * 3 * 3 * 64 + 64
    fcs = [r for r in report.rows if r.type == "Linear"]
    assert [f.params - f.output_shape[1] for f in fcs] == [102_760_448, 16_777_216, 4_096_000]
    assert report.totals.params == 138_357_544


def _explained(model, shape, layer="0"):
    report = convscope.analyze(model, shape)
    return next(x for x in explain(report).layers if x.name == layer)


def test_seed_002_one_neuron_sees_5x5x3_75_weights_plus_1_bias_and_3x3x20_180():
    # cs231n's Example 1: a [32x32x3] input, 5x5 field: 5*5*3 = 75 weights (+1 bias)
    one = _explained(nn.Sequential(nn.Conv2d(3, 1, 5)), (3, 32, 32))
    assert "weights = 1 filter × 3 channels × 5 × 5 = 75, bias 1, parameters 76" in one.lines
    assert ("MACs = 28 × 28 positions × 1 filter × (3 × 5 × 5) weights each = 58,800"
            in one.lines)
    # Example 2: a [16x16x20] input, 3x3 field: 3*3*20 = 180 connections
    two = _explained(nn.Sequential(nn.Conv2d(20, 1, 3, bias=False)), (20, 16, 16))
    assert "weights = 1 filter × 20 channels × 3 × 3 = 180, no bias, parameters 180" in two.lines
    assert sum(p.numel() for p in nn.Conv2d(20, 1, 3, bias=False).parameters()) == 180


def test_seed_002_a_2x2_stride_2_max_pool_discards_exactly_75_percent():
    # POOL2 of VGG16: [224x224x64] -> [112x112x64], no parameters, depth kept (D2 = D1)
    pool = nn.MaxPool2d(kernel_size=2, stride=2)
    layer = _explained(nn.Sequential(pool), (64, 224, 224))
    assert tuple(layer.output_shape) == (1, 64, 112, 112)  # W2 = (224 - 2)/2 + 1 = 112
    assert "output height = ⌊(224 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 112" in layer.lines
    assert layer.params == 0
    real = pool(torch.zeros(1, 64, 224, 224)).numel()
    assert 1 - real / (64 * 224 * 224) == 0.75
    assert ("keeps 802,816 of the 3,211,264 input values, the maximum of each window: 75% of the "
            "activations are discarded") in layer.lines
    # seed 004: nn.AvgPool2d(window_size, stride) averages instead
    avg = _explained(nn.Sequential(nn.AvgPool2d(2, 2)), (64, 224, 224))
    assert "802,816 averages of the 3,211,264 input values: the map shrinks by 75%" in avg.lines


def test_seed_001_kernel_5_stride_1_gives_60x60():
    conv = nn.Conv2d(in_channels=3, out_channels=10, kernel_size=5, stride=1, padding=0)
    layer = _explained(nn.Sequential(conv), (3, 64, 64))
    assert "output height = ⌊(64 + 2·0 − 1·(5−1) − 1) / 1⌋ + 1 = 60" in layer.lines  # (64-5)/1+1
    assert list(conv(torch.zeros(1, 3, 64, 64)).shape) == [1, 10, 60, 60]


def test_seed_002_zero_padding_1_keeps_5_and_no_padding_gives_3():
    padded = _explained(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1)), (1, 5, 5))
    assert tuple(padded.output_shape) == (1, 1, 5, 5) and padded.notes == ()
    valid = _explained(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 5, 5))
    assert tuple(valid.output_shape) == (1, 1, 3, 3)
    # P = (F - 1)/2 at S = 1 keeps the size
    assert valid.notes == ("this stride-1 conv changes the size 5x5 → 3x3; padding=1 keeps it "
                           "(P = D(K−1)/2 = 1·(3−1)/2 = 1)",)


def test_seed_002_a_3x3_stride_2_pool_on_32x32_needs_zero_padding_to_fit():
    # (32 - 3)/2 + 1 = 15.5 is not whole: PyTorch floors to 15 and never reads the last row
    pool = _explained(nn.Sequential(nn.MaxPool2d(3, stride=2)), (3, 32, 32))
    assert tuple(pool.output_shape) == (1, 3, 15, 15)
    assert pool.notes[0].startswith("(32 + 2·0 − 1·(3−1) − 1) = 29 is not divisible by 2")
    assert pool.notes[0].endswith("(input pixels, not padding)")
    padded = _explained(nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1)), (3, 32, 32))
    assert padded.notes[0].endswith("(all padding, no input pixel is lost)")
    assert list(nn.MaxPool2d(3, 2, 1)(torch.zeros(1, 3, 32, 32)).shape) == [1, 3, 16, 16]


def test_seed_002_three_3x3_conv64_layers_at_224_hold_about_10_million_activations():
    with torch.device("meta"):
        three = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1),
                              nn.Conv2d(64, 64, 3, padding=1))
    report = convscope.analyze(three, (3, 224, 224))
    assert [r.output_shape for r in report.rows] == [[1, 64, 224, 224]] * 3
    values = 3 * 224 * 224 * 64
    assert values == 9_633_792  # "about 10 million activations"
    assert report.totals.activation_bytes == values * 4  # 36.75 MiB
    # "72MB (for both activations and gradients)": twice that, 73.50 MiB
    assert 2 * report.totals.activation_bytes / 2**20 == 73.5


def test_seed_002_archive_3x32x32_through_16_3x3_filters_is_30x30_not_29():
    conv = nn.Conv2d(3, 16, 3)
    report = convscope.analyze(conv, (3, 32, 32))
    assert report.rows[0].output_shape == [1, 16, 30, 30]  # 32 - 3 + 1 = 30 (the note says 29)
    assert list(conv(torch.zeros(1, 3, 32, 32)).shape) == [1, 16, 30, 30]
    assert {p.name: list(p.meta.shape) for p in report.graph.params}["weight"] == [16, 3, 3, 3]


def test_seed_002_lenet_first_layer_32_to_28_and_1_to_6_channels():
    # "size decreases from (32,32) to (28,28). hence kernel is (5,5) ... channels go from 1 to 6"
    report = convscope.analyze(zoo.create("lenet5"), (1, 32, 32))
    assert report.rows[0].output_shape == [1, 6, 28, 28]


def test_seed_002_published_parameter_counts_of_the_architectures():
    with torch.device("meta"):
        counts = {name: convscope.analyze(zoo.create(name), zoo.info(name).input_size).totals.params
                  for name in ("mobilenet_v1", "mobilenet_v2", "googlenet", "vgg16", "alexnet")}
    assert counts["mobilenet_v1"] == 4_231_976  # "only 4.2M parameters"
    assert counts["mobilenet_v2"] == 3_504_872  # "3.4M" in the paper; torchvision's 3.5M
    assert counts["googlenet"] == 6_624_904  # "only 5M" in the slides; docs/explain.md
    # "5M parameters vs 60M+ for VGG": VGG16 has 138M; the 60M of the slides is AlexNet's
    assert counts["vgg16"] == 138_357_544 > 20 * counts["googlenet"]
    assert counts["alexnet"] == 61_100_840


def test_seed_002_alexnet_has_8_weight_layers_vgg16_16_and_vgg19_19():
    # "8 layers (AlexNet) -> 16 - 19 layers (VGG16Net)": convs and FC layers, the summary's rows
    counts = {}
    for name in ("alexnet", "vgg16", "vgg19"):
        with torch.device("meta"):
            types = [r.type for r in convscope.analyze(zoo.create(name), (3, 224, 224)).rows]
        counts[name] = (types.count("Conv2d"), types.count("Linear"))
    assert counts == {"alexnet": (5, 3), "vgg16": (13, 3), "vgg19": (16, 3)}


def test_seed_002_googlenet_is_22_layers_deep_alexnet_8_vgg_16_and_19():
    # "8 layers (AlexNet) -> 16 - 19 layers", GoogLeNet "used 22 layers": weight layers on the
    # longest path, an inception module's branches side by side counting once
    depths = {}
    for name in ("alexnet", "vgg16", "vgg19", "googlenet"):
        with torch.device("meta"):
            depths[name] = len(convscope.analyze(zoo.create(name), (3, 224, 224)).weight_layers())
    assert depths == {"alexnet": 8, "vgg16": 16, "vgg19": 19, "googlenet": 22}


def test_seed_003_simple_net_of_linear_layers_784_30_1():
    simple_net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 30), nn.ReLU(), nn.Linear(30, 1))
    report = convscope.analyze(simple_net, (1, 28, 28), batch_size=64)
    assert [r.output_shape for r in report.rows] == [[64, 784], [64, 30], [64, 30], [64, 1]]
    assert report.totals.params == 784 * 30 + 30 + 30 * 1 + 1 == 23_581


def test_seed_004_padding_modes_keep_pytorchs_shape_and_circular_wraps_around():
    row = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    assert torch.nn.functional.pad(row, (1, 1), "circular").tolist() == [[[4, 1, 2, 3, 4, 1]]]
    assert torch.nn.functional.pad(row, (1, 1), "reflect").tolist() == [[[2, 1, 2, 3, 4, 3]]]
    assert torch.nn.functional.pad(row, (1, 1), "replicate").tolist() == [[[1, 1, 2, 3, 4, 4]]]
    for mode in ("zeros", "reflect", "replicate", "circular"):
        conv = nn.Conv2d(3, 8, 3, padding=1, padding_mode=mode)
        report = convscope.analyze(conv, (3, 10, 12))
        assert report.rows[0].output_shape == list(conv(torch.zeros(1, 3, 10, 12)).shape)
        assert report.totals.params == 8 * (3 * 3**2 + 1)
    # explain says what each mode puts in the padding, with the F.pad rows above
    notes = {mode: _explained(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode=mode)),
                              (3, 10, 12)).notes for mode in ("reflect", "replicate", "circular")}
    assert notes["circular"] == (
        "the input is padded before the window: 10x12 → 12x14 (padding_mode='circular': it wraps "
        "around, the padding at each edge copies the opposite edge, e.g. [1, 2, 3, 4] padded by 1 "
        "→ [4, 1, 2, 3, 4, 1])",)
    assert notes["reflect"][0].endswith("e.g. [1, 2, 3, 4] padded by 1 → [2, 1, 2, 3, 4, 3])")
    assert notes["replicate"][0].endswith("e.g. [1, 2, 3, 4] padded by 1 → [1, 1, 2, 3, 4, 4])")


def test_seed_004_dropout2d_drops_whole_channels():
    block = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout2d(p=0.2))
    report = convscope.analyze(block, (3, 16, 16), train=True, memory=True)
    dropout = report.rows[-1]
    assert dropout.output_shape == [1, 8, 14, 14]
    assert dropout.saved_bytes == 8 * 4  # one mask value per channel: [1, 8, 1, 1] float32
