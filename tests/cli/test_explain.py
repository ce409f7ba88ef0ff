"""`convscope explain`, `conv`, `pool` and `sizes` from the command line, and every validation
error: exit code 2, one message, no traceback (a traceback only with --debug)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from convscope.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def nets(tmp_path):
    source = tmp_path / "nets.py"
    source.write_text(textwrap.dedent("""
        import torch
        import torch.nn.functional as F
        from torch import nn

        def rgb():
            return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())

        def grouped(groups=1):
            return nn.Sequential(nn.Conv2d(6, 8, 3, groups=groups))

        def double():
            return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(288, 2)).double()

        class ExpandedWrite(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                y = self.conv(x)
                return y[:, :1].expand(-1, 4, -1, -1).add_(y)

        def volume():
            return nn.Sequential(nn.Conv3d(1, 4, 3, stride=2), nn.Flatten())

        def wide_stride():
            return nn.Sequential(nn.Conv2d(3, 4, 3, stride=(2, 1)), nn.MaxPool2d((1, 2)))

        class FunctionalGroups(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.zeros(8, 2, 3, 3))
            def forward(self, x):
                return F.conv2d(x, self.weight, groups=4)

        class TransposedLinear(nn.Module):
            def __init__(self):
                super().__init__()
                self.w, self.b = nn.Parameter(torch.zeros(5, 8)), nn.Parameter(torch.zeros(5))
            def forward(self, x):
                return F.linear(x.transpose(1, 2), self.w, self.b)

        def signal():
            return nn.Sequential(nn.Conv1d(2, 64, 3), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                                 nn.Linear(64, 10))
    """))
    return source


def test_explain_one_layer_with_its_numbers():
    result = invoke("explain", "zoo:lenet5", "--layer", "features.0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "lenet5: input [1, 1, 32, 32]"
    assert "features.0 (Conv2d)  [1, 1, 32, 32] -> [1, 6, 28, 28]" in lines
    assert "  output height = ⌊(32 + 2·0 − 1·(5−1) − 1) / 1⌋ + 1 = 28" in lines
    assert "  weights = 6 filters × 1 channel × 5 × 5 = 150, bias 6, parameters 156" in lines
    assert "  MACs = 28 × 28 positions × 6 filters × (1 × 5 × 5) weights each = 117,600" in lines
    assert any(line.startswith("  note: this stride-1 conv changes the size 32x32 → 28x28; "
                               "padding=2 keeps it") for line in lines)
    assert "features.3" not in result.stdout


def test_explain_shows_what_an_eval_mode_dropout_receives():
    # the Dropout runs no op in eval mode: its input once printed as "?"
    result = invoke("explain", "zoo:alexnet", "--layer", "classifier.0")
    assert result.exit_code == 0, result.output
    assert "classifier.0 (Dropout)  [1, 9216] -> [1, 9216]" in result.stdout.splitlines()


def test_explain_every_layer_ends_with_where_things_sit():
    result = invoke("explain", "zoo:lenet5")
    assert result.exit_code == 0, result.output
    assert "classifier.0 (Linear)" in result.stdout and "Where things sit:" in result.stdout
    assert "the 3 Linear layers hold 59,134 of 61,706 (95.8%)" in result.stdout


def test_explain_lists_vgg16s_stacks_of_3x3_convs_then_its_depth_before_where_things_sit():
    result = invoke("explain", "zoo:vgg16")
    assert result.exit_code == 0, result.output
    tail = result.stdout.split("Stacked small convs:\n")[1].split("\n\nDepth:\n")[0]
    assert len(tail.splitlines()) == 5  # one per block: 2, 2, 3, 3 and 3 convs
    assert tail.splitlines()[4].startswith("  features.24 + features.26 + features.28: three 3x3")
    depth = result.stdout.split("\n\nDepth:\n")[1].split("\n\nWhere things sit:")[0]
    assert depth.startswith("  16 weight layers on the longest path") and \
        depth.endswith("classifier.0 → classifier.3 → classifier.6.")


def test_explain_cs231n_prints_the_notes_table():
    result = invoke("explain", "zoo:vgg16", "--style", "cs231n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "INPUT: [224x224x3]  memory:  224*224*3=150K   weights: 0"
    assert "CONV3-64: [224x224x64]  memory:  224*224*64=3.2M   weights: (3*3*3)*64 = 1,728" in lines
    assert "FC: [1x1x4096]  memory:  4096   weights: 7*7*512*4096 = 102,760,448" in lines
    assert any(line.startswith("TOTAL params: 138M parameters") for line in lines)
    assert lines[-1].startswith("remark: the notes' TOTAL memory says 24M")


@pytest.mark.parametrize("model,shape,lines", [
    # F.linear on [1, 8, 16] transposed: mm, then add(b); 8*5 = 40 weights and 5 biases (b was
    # "5 other parameters")
    ("TransposedLinear", "8x16", ["FC: [16x5]  memory:  16*5=80   weights: 8*5 = 40",
                                  "TOTAL params: 45 parameters   [40 weights in the rows + 5 "
                                  "biases = 45]"]),
    # a global pool of [1, 64, 6]: L=1, C=64, 10 outputs (was 1*1*64*10: PyTorch's height of 1)
    ("signal", "2x8", ["POOL6: [1x64]  memory:  1*64=64   weights: 0",
                       "memory:  10   weights: 1*64*10 = 640"]),
])
def test_explain_cs231n_of_a_transposed_linear_and_a_1d_network(nets, model, shape, lines):
    result = invoke("explain", f"{nets}:{model}", "--input", shape, "--style", "cs231n")
    assert result.exit_code == 0, result.output
    for line in lines:
        assert any(ours.endswith(line) for ours in result.stdout.splitlines()), line


def test_conv_calculator():
    result = invoke("conv", "--input", "3x64x64", "--out-channels", 10, "--kernel", 5,
                    "--stride", 2)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Conv2d(3, 10, kernel_size=(5, 5), stride=(2, 2))  on input 3x64x64")
    assert "output shape    [10, 30, 30]" in out
    assert "weight shape    [10, 3, 5, 5]" in out and "bias shape      [10]" in out
    assert "weights = 10 filters × 3 channels × 5 × 5 = 750, bias 10, parameters 760" in out
    assert "MACs = 30 × 30 positions × 10 filters × (3 × 5 × 5) weights each = 675,000" in out
    assert "receptive field: one output unit sees 5x5 input pixels" in out
    assert "padding=2 gives ⌈64/2⌉ = 32" in out


@pytest.mark.parametrize("args,words", [
    (["--padding", "same", "--kernel", "5"], ["[10, 64, 64]", "padding=2 keeps 64x64"]),
    (["--padding", "1,2", "--kernel", "3,5"], ["[10, 64, 64]"]),
    (["--padding", "2", "--kernel", "5", "--padding-mode", "reflect"],
     ["[10, 64, 64]", "the input is padded before the window: 64x64 → 68x68"]),
    (["--kernel", "3", "--dilation", "2"], ["[10, 60, 60]", "sees 5x5 input pixels"]),
])
def test_conv_calculator_options(args, words):
    result = invoke("conv", "--input", "3x64x64", "--out-channels", 10, *args)
    assert result.exit_code == 0, result.output
    for word in words:
        assert word in result.stdout


def test_pool_calculator():
    result = invoke("pool", "--input", "64x7x7", "--kernel", 2, "--ceil-mode")
    assert result.exit_code == 0, result.output
    assert "output shape    [64, 4, 4]" in result.stdout
    assert "output height = ⌈(7 + 2·0 − 1·(2−1) − 1) / 2⌉ + 1 = 4" in result.stdout
    avg = invoke("pool", "--input", "3x112x112", "--kernel", 3, "--stride", 2, "--padding", 1,
                 "--kind", "avg")
    assert avg.exit_code == 0, avg.output
    assert "AvgPool2d(kernel_size=3, stride=2, padding=1)" in avg.stdout
    assert "[3, 56, 56]" in avg.stdout


def test_sizes():
    result = invoke("sizes", "zoo:lenet5", "--input", "1x28x28")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("lenet5: input 1xHxW (square sizes; each side follows the "
                                    "same rule)\n")
    assert "smallest input that runs: 1x32x32" in result.stdout
    assert "largest input that runs: 1x35x35" in result.stdout
    assert "without dropping pixels: only 32" in result.stdout
    vgg = invoke("sizes", "zoo:vgg11", "--input", "3x100x100")
    assert vgg.exit_code == 0, vgg.output
    assert "multiples of 32: 32, 64, 96, 128, 160, 192" in vgg.stdout
    assert ("features.10 (MaxPool2d) never looks at the last 1 row of its 25-height input"
            in vgg.stdout)


ERRORS = [
    # channel mismatch: Conv2d(3, ...) fed one channel
    ("channels", ["summary", "{nets}:rgb", "--input", "1x28x28"],
     ["layer 0 (Conv2d): channel mismatch", "expects 3 input channels", "has 1 channel",
      "feed a 3x28x28 input"]),
    ("channels-last", ["explain", "{nets}:rgb", "--input", "28x28x3"],
     ["looks channels-last", "feed 3x28x28"]),
    # spatial size collapsing below 1
    ("collapse", ["explain", "zoo:vgg16", "--input", "3x16x16"],
     ["layer features.30 (MaxPool2d)", "⌊(1 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 0",
      "the smallest input that works is 3x32x32"]),
    # LeNet on 28x28: the seeds' "why does my network crash at the first Linear layer"
    ("linear", ["summary", "zoo:lenet5", "--input", "1x28x28"],
     ["layer classifier.0 (Linear)", "in_features=400", "16·4·4 = 256",
      "the smallest input that works is 1x32x32"]),
    ("groups-build", ["summary", "{nets}:grouped", "--input", "6x8x8", "--arg", "groups=4"],
     ["nets.py:10", "groups=4 must divide both the 6 input channels", "6 input channels / 4 = 1.5",
      "1, 2"]),
    ("groups-forward", ["summary", "{nets}:FunctionalGroups", "--input", "6x8x8"],
     ["the model's own forward (FunctionalGroups): groups=4"]),
    ("groups-calc", ["conv", "--input", "6x8x8", "--out-channels", "8", "--kernel", "3",
                     "--groups", "4"], ["--groups: groups=4 must divide"]),
    ("dtype", ["summary", "{nets}:double", "--input", "3x8x8"],
     ["layer 0 (Conv2d): dtype mismatch: float32 and float64", "--dtype float64"]),
    # the shape-only kernels skip the check, so this traced and got a table
    ("shared-write", ["summary", "{nets}:ExpandedWrite", "--input", "3x8x8"],
     ["the model's own forward (ExpandedWrite) failed in aten.add_.Tensor",
      "more than one element of the written-to tensor", "Please clone() the tensor"]),
    ("zoo-name", ["explain", "zoo:resnet5"], ["no zoo model named 'resnet5'", "resnet50"]),
    ("zoo-prefix", ["sizes", "vgg16"], ["Did you mean zoo:vgg16"]),
    ("input-text", ["explain", "zoo:lenet5", "--input", "1x32x"], ["not a shape", "3x224x224"]),
    ("input-zero", ["conv", "--input", "3x0x8", "--out-channels", "4", "--kernel", "3"],
     ["not a shape"]),
    # PyTorch would read [1, 1, 28] as an unbatched image: rejected
    ("input-rank", ["summary", "zoo:simple_cnn", "--input", "1x28"],
     ["layer 0.0 (Conv2d)", "3-D tensor [1, 1, 28]", "unbatched", "give 3"]),
    # LeNet's 1-channel conv reads [1, 32, 32] as one image and runs; its Linear fails later
    ("input-no-channels", ["summary", "zoo:lenet5", "--input", "32x32"],
     ["layer features.0 (Conv2d)", "unbatched", "give 3", "(e.g. 1x32x32)"]),
    # the example takes the first conv's 3 input channels, not a repeated spatial size
    ("input-rgb-no-channels", ["summary", "zoo:resnet18", "--input", "224x224"],
     ["layer conv1 (Conv2d)", "give 3", "(e.g. 3x224x224)"]),
    ("input-batch", ["summary", "zoo:simple_cnn", "--input", "1x1x28x28"],
     ["5-D tensor", "without the batch", "1x28x28"]),
    ("input-commas", ["summary", "{nets}:rgb", "--input", "3,32,32"],
     ["3 separate 1-D inputs", "3x32x32"]),
    ("layer-name", ["explain", "zoo:lenet5", "--layer", "features.9"],
     ["has no layer 'features.9'", "Did you mean"]),
    ("same-stride", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3",
                     "--stride", "2", "--padding", "same"], ["--padding same needs --stride 1"]),
    ("pool-padding", ["pool", "--input", "3x8x8", "--kernel", "3", "--padding", "2"],
     ["padding 2 is more than half the 3-wide window"]),
    ("calc-collapse", ["conv", "--input", "3x4x4", "--out-channels", "4", "--kernel", "5"],
     ["layer conv (Conv2d)", "= 0", "the smallest input that works is 3x5x5"]),
    # max_pool1d refuses before any op runs: once "failed: max_pool1d() Invalid computed ..."
    ("pool-1d-collapse", ["pool", "--input", "3x4", "--kernel", "5"],
     # the pool reads the input itself: nothing shrank; one layer: no `convscope sizes MODEL`
     ["layer pool (MaxPool1d): the input is 4, too small",
      "output length = ⌊(4 + 2·0 − 1·(5−1) − 1) / 5⌋ + 1 = 0",
      "smallest input that works is 3x5."]),
    # the 1-d pool's own unsqueeze made it "the feature map has shrunk to 2 before this layer"
    ("pool-1d-avg-collapse", ["pool", "--input", "3x2", "--kernel", "5", "--kind", "avg"],
     ["layer pool (AvgPool1d): the input is 2, too small for its 5 window"]),
    # every output size fits; PyTorch's own words were passed through, with no rule or fix
    ("pool-3d-avg-kernel", ["pool", "--input", "1x2x2x2", "--kernel", "3", "--stride", "2",
                            "--padding", "1", "--kind", "avg"],
     ["layer pool (AvgPool3d): the input is 2x2x2, too small for its 3x3x3 window",
      "padding not counted: depth 2 < 3, height 2 < 3, width 2 < 3",
      "the smallest input that works is 1x3x3x3"]),
    ("pool-1d-padding", ["pool", "--input", "3x10", "--kernel", "2", "--padding", "2"],
     ["layer pool (MaxPool1d): padding 2 is more than half the 2-wide window"]),
    ("style", ["explain", "zoo:lenet5", "--style", "fancy"], ["steps, cs231n"]),
    ("style-and-layer", ["explain", "zoo:vgg16", "--style", "cs231n", "--layer", "features.0"],
     ["--style cs231n tabulates every layer", "Give one of the two"]),
    ("amp-float32", ["memory", "zoo:simple_cnn", "--amp", "--dtype", "float32"],
     ["amp with dtype float32: autocast on the CPU lowers the forward to bfloat16 or float16",
      "--amp --dtype bfloat16"]),
    ("sizes-max-below", ["sizes", "zoo:lenet5", "--max", "10"],
     ["--max 10 is below the smallest input that runs, 1x32x32"]),
    # a zero stride or kernel divides by zero; a zero dilation gave a nonsense layer
    ("calc-stride-0", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3",
                       "--stride", "0"], ["--stride '0'", "at least 1", "--stride 2"]),
    ("calc-kernel-0", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "0"],
     ["--kernel '0'", "at least 1"]),
    ("calc-dilation-0", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3",
                         "--dilation", "0"], ["--dilation '0'", "at least 1"]),
    ("calc-padding-neg", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3",
                          "--padding", "-1"], ["--padding '-1'", "at least 0"]),
    ("calc-kernel-3d", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3,3,3"],
     ["--kernel '3,3,3' gives 3 values", "2 spatial sides", "--kernel 2,2"]),
    ("calc-stride-3d", ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3",
                        "--stride", "1,2,3"], ["--stride '1,2,3' gives 3 values"]),
    ("pool-kernel-0", ["pool", "--input", "3x8x8", "--kernel", "0"], ["--kernel '0'"]),
    ("pool-stride-0", ["pool", "--input", "3x8x8", "--kernel", "2", "--stride", "0"],
     ["--stride '0'", "at least 1"]),
    # no size runs with 3 channels: was exit 0, "see the error `convscope summary` gives"
    ("sizes-none", ["sizes", "zoo:lenet5", "--input", "3x32x32"],
     ["layer features.0 (Conv2d): channel mismatch", "feed a 1x32x32 input"]),
    ("sizes-max", ["sizes", "zoo:lenet5", "--max", "-5"], ["--max", "at least 1, got -5"]),
    ("pool-kernel-3d", ["pool", "--input", "3x8x8", "--kernel", "2,2,2"],
     ["gives 3 values", "2 spatial sides"]),
]


@pytest.mark.parametrize("case,args,words", ERRORS, ids=[e[0] for e in ERRORS])
def test_every_error_exits_2_with_one_message_and_no_traceback(nets, case, args, words):
    result = invoke(*[a.format(nets=nets) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.output.startswith("error: ") and result.stdout == ""
    flat = " ".join(result.output.split())  # the console wraps long lines
    for word in words:
        assert word in flat


def test_debug_shows_the_traceback(nets):
    result = invoke("summary", "zoo:lenet5", "--input", "1x28x28", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.output and "in_features=400" in result.output


def test_the_installed_command_prints_no_torch_log_traceback():
    # the meta trace fails, the fake-tensor retry fails too, and torch's fake-tensor logger
    # would print a traceback for it: convscope silences it, leaving only the message
    cmd = [sys.executable, "-m", "convscope", "summary", "zoo:lenet5", "--input", "1x28x28"]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    assert plain.returncode == 2 and plain.stdout == ""
    assert "Traceback" not in plain.stderr and plain.stderr.startswith("error: layer classifier.0")


@pytest.mark.parametrize("builder,size,header", [
    # it said 1xHxWxD, and "each side follows the same rule" where the strides differ by side
    ("volume", "1x16x16x16", "input 1xDxHxW (square sizes; each side follows the same rule)"),
    ("wide_stride", "3x32x32", "input 3xHxW (square sizes; the strides differ by side: a size "
                               "below passes on every side)"),
])
def test_the_sizes_header_names_the_sides_in_pytorch_order_and_says_when_strides_differ(
        nets, builder, size, header):
    result = invoke("sizes", f"{nets}:{builder}", "--input", size)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"{builder}: {header}"
