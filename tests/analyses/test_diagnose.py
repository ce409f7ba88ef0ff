"""Validation: a network that cannot run on its input raises one ModelError naming the layer and
the arithmetic (Python API); tests/cli/test_explain.py checks the same cases exit 2."""
from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convscope
from convscope import ModelError, UsageError, zoo
from convscope.loading import load_model
from convscope.trace.inputs import parse_input
from tests.conftest import runs_for_real


def error_of(model, shape, **options) -> ModelError:
    with pytest.raises(ModelError) as caught:
        convscope.analyze(model, shape, **options)
    return caught.value


class FunctionalGroups(nn.Module):
    """A forward that calls F.conv2d with groups that do not divide the channels."""

    def __init__(self, groups: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, 2, 3, 3))
        self.groups = groups

    def forward(self, x):
        return F.conv2d(x, self.weight, groups=self.groups)


class ForgotFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3)
        self.fc = nn.Linear(400, 10)

    def forward(self, x):
        return self.fc(self.conv(x))


def test_channel_mismatch_at_the_input():
    error = error_of(nn.Sequential(nn.Conv2d(3, 8, 3)), (1, 28, 28))
    assert error.layer == "0"
    text = str(error)
    assert text.startswith("layer 0 (Conv2d): channel mismatch.")
    assert "expects 3 input channels (weight [8, 3, 3, 3])" in text
    assert "the tensor arriving has 1 channel, from the model's input" in text
    assert "feed a 3x28x28 input, or build the layer with in_channels=1" in text


def test_channel_mismatch_between_layers_names_both():
    error = error_of(nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.Conv2d(16, 8, 3)), (3, 8, 8))
    assert error.layer == "2"
    assert "expects 16 input channels" in str(error)
    assert "has 32 channels, from layer 0 (Conv2d)" in str(error)
    assert "build layer 2 with in_channels=32, or make layer 0 (Conv2d) output 16" in str(error)
    bn = error_of(nn.Sequential(nn.Conv2d(3, 32, 3), nn.BatchNorm2d(16)), (3, 8, 8))
    assert bn.layer == "1" and "normalises 16 channels" in str(bn)
    assert "has 32 channels, from layer 0 (Conv2d)" in str(bn) and "num_features=32" in str(bn)


def test_channels_last_input_is_recognised():
    error = error_of(nn.Sequential(nn.Conv2d(3, 8, 3)), (28, 28, 3))
    assert "28x28x3 looks channels-last" in str(error) and "feed 3x28x28" in str(error)
    # a square image channels first whose side is the channel count: "feed 8x3x8" was advised
    square = str(error_of(nn.Sequential(nn.BatchNorm2d(8)), (3, 8, 8)))
    assert "channels-last" not in square and "feed a 8x8x8 input" in square


def test_a_batch_norm_in_training_names_the_layer_its_input_came_from():
    # its own num_batches_tracked += 1 ran first, and the message said the 32 channels came
    # from the batch norm itself: "make layer 1 (BatchNorm2d) output 16 channels"
    model = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.BatchNorm2d(16))
    with pytest.raises(ModelError) as caught:
        convscope.analyze(model, (3, 8, 8), train=True)
    assert "has 32 channels, from layer 0 (Conv2d)" in str(caught.value)
    assert "make layer 0 (Conv2d) output 16 channels" in str(caught.value)


def test_spatial_collapse_shows_the_formula_and_the_smallest_input():
    with torch.device("meta"):
        vgg = zoo.create("vgg16")
    error = error_of(vgg, (3, 16, 16))
    assert error.layer == "features.30"
    text = str(error)
    # 16 -> 8 -> 4 -> 2 -> 1, and the fifth 2x2 pool has nothing left
    assert "layer features.30 (MaxPool2d): the feature map has shrunk to 1x1" in text
    assert "output height = ⌊(1 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 0" in text
    assert "the smallest input that works is 3x32x32" in text
    lenet = error_of(zoo.create("lenet5"), (1, 8, 8))
    # 8 -conv5-> 4 -pool-> 2, then a 5x5 conv: ⌊(2 − 4 − 1) / 1⌋ + 1 = −2
    assert lenet.layer == "features.3"
    assert "output height = ⌊(2 + 2·0 − 1·(5−1) − 1) / 1⌋ + 1 = -2" in str(lenet)
    assert "the smallest input that works is 1x32x32" in str(lenet)


def test_a_1d_average_pool_that_collapses_is_a_collapse_not_an_unbatched_input():
    # avg_pool1d runs as avg_pool2d on its input unsqueezed at dim 2 (a height of 1); that
    # unsqueeze was once read as the batch PyTorch adds to an unbatched sample, and the message
    # blamed a 3-D tensor the layer is built for. 3 -conv3-> 1, and a 2-wide pool of 1 is 0
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.AvgPool1d(2), nn.Conv1d(4, 4, 3))
    error = error_of(model, (1, 3))
    text = str(error)
    assert error.layer == "1" and "unbatched" not in text
    assert "layer 1 (AvgPool1d): the feature map has shrunk" in text
    assert "⌊(1 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 0" in text
    # 8 -conv3-> 6 -pool-> 3 -conv3-> 1; at 7 the pool gives 2 and the conv collapses
    truth = next(n for n in range(1, 64) if runs_for_real(model, (1, n)))
    assert truth == 8 and "the smallest input that works is 1x8" in text


def test_a_1d_pool_that_collapses_is_described_in_lengths_at_every_size():
    # a 1-d pool runs as a 2-d one on a height of 1: the message once said "shrunk to 1x1",
    # "its 1x2 window" and "output width". 37..40 -conv s2-> 19..20 -pool 3/2-> 9 -conv k5 d2->
    # 1, and the 2-wide AvgPool1d has nothing left; the length it receives is the real one
    model = nn.Sequential(nn.Conv1d(2, 8, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool1d(3, 2),
                          nn.Conv1d(8, 8, 5, dilation=2), nn.AvgPool1d(2),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    arrived = {}
    model[4].register_forward_pre_hook(lambda m, args: arrived.update(length=args[0].shape[-1]))
    seen = 0
    for n in range(20, 48):
        arrived.clear()
        if runs_for_real(model, (2, n)) or "length" not in arrived:
            continue  # runs, or failed before the pool
        length = arrived["length"]  # before convscope's own traces run the hook again
        text = str(error_of(model, (2, n)))
        assert f"layer 4 (AvgPool1d): the feature map has shrunk to {length} before this " \
               f"layer, too small for its 2 window: output length = ⌊({length} + 2·0 − " \
               f"1·(2−1) − 1) / 2⌋ + 1 = 0" in text
        assert "1x" not in text.split("Fix:")[0] and "width" not in text
        seen += 1
    assert seen == 4  # 37, 38, 39, 40


def test_a_1d_max_pool_that_collapses_gets_the_formula_though_no_op_failed():
    # F.max_pool1d checks its output size before it dispatches any op: the message was once
    # "layer 1 (MaxPool1d) failed: max_pool1d() Invalid computed output size: 0".
    # 7 -conv5-> 3, and a 4-wide pool of 3 is 0
    model = nn.Sequential(nn.Conv1d(2, 4, 5), nn.MaxPool1d(4), nn.Conv1d(4, 4, 3))
    error = error_of(model, (2, 7))
    assert error.layer == "1"
    assert str(error).startswith(
        "layer 1 (MaxPool1d): the feature map has shrunk to 3 before this layer, too small for "
        "its 4 window: output length = ⌊(3 + 2·0 − 1·(4−1) − 1) / 4⌋ + 1 = 0, and a size must "
        "be at least 1. Fix: the input 2x7 is too small for this network; the smallest input "
        "that works is 2x16")
    # 16 -conv5-> 12 -pool4-> 3 -conv3-> 1: PyTorch agrees
    assert next(n for n in range(1, 64) if runs_for_real(model, (2, n))) == 16
    # in ceil mode too: a 5-wide window, stride 1, on 3 positions
    ceil = nn.Sequential(nn.Conv1d(2, 4, 5), nn.MaxPool1d(5, 1, ceil_mode=True))
    assert not runs_for_real(ceil, (2, 7))
    assert "output length = ⌈(3 + 2·0 − 1·(5−1) − 1) / 1⌉ + 1 = -1" in str(error_of(ceil, (2, 7)))


def test_a_1d_max_pool_with_too_much_padding_says_which_padding():
    # the same check refuses the padding before any op: once only torch's words
    error = error_of(nn.Sequential(nn.MaxPool1d(2, padding=2)), (3, 10))
    assert str(error) == ("layer 0 (MaxPool1d): padding 2 is more than half the 2-wide window; "
                          "PyTorch pools with padding at most ⌊2/2⌋ = 1. Fix: padding=1 or less, "
                          "or a larger kernel.")


def test_lenet_on_28x28_crashes_at_the_first_linear_with_the_fix():
    error = error_of(zoo.create("lenet5"), (1, 28, 28))
    assert error.layer == "classifier.0"
    text = str(error)
    # 28 -> 24 -> 12 -> 8 -> 4: 16·4·4 = 256 features, but the Linear was built for 16·5·5 = 400
    assert "expects in_features=400 but the flatten of [16, 4, 4] gives 16·4·4 = 256" in text
    assert "the smallest input that works is 1x32x32 (the flatten then gives 16·5·5 = 400)" in text
    assert "nn.Linear(256, ...)" in text and "nn.AdaptiveAvgPool2d((5, 5))" in text


def test_linear_on_an_unflattened_map_asks_for_a_flatten():
    error = error_of(ForgotFlatten(), (1, 7, 7))
    assert error.layer == "fc"
    assert "receives a [1, 16, 5, 5] tensor whose last dimension is 5" in str(error)
    assert "Did you forget to flatten?" in str(error) and "16·5·5 = 400" in str(error)


@pytest.mark.parametrize("groups,bad", [(4, "6 input channels / 4 = 1.5"),
                                        (3, "8 output channels / 3 = 2.67")])
def test_groups_that_do_not_divide_the_channels(groups, bad):
    # groups=3 passes on meta tensors (6 = 2·3) but a real forward fails: checked after the trace
    error = error_of(FunctionalGroups(groups), (6, 8, 8))
    assert error.layer is None
    assert str(error).startswith(f"the model's own forward (FunctionalGroups): groups={groups} "
                                 "must divide both the 6 input channels and the 8 output channels")
    assert bad in str(error) and "common divisors of 6 and 8: 1, 2" in str(error)


def test_groups_at_construction_name_the_line(tmp_path):
    source = tmp_path / "grouped.py"
    source.write_text("from torch import nn\n\ndef build(groups=1):\n"
                      "    return nn.Sequential(nn.Conv2d(6, 8, 3, groups=groups))\n")
    with pytest.raises(ModelError) as caught:
        load_model(f"{source}:build", {"groups": 4})
    error = caught.value
    assert "grouped.py:4 `return nn.Sequential(nn.Conv2d(6, 8, 3, groups=groups))`" in str(error)
    assert "groups=4 must divide both the 6 input channels and the 8 output channels" in str(error)


@pytest.mark.parametrize("shape,words", [
    # PyTorch would read [1, 1, 28] as one unbatched 1x28 image: rejected
    ((1, 28), ["receives a 3-D tensor [1, 1, 28]", "silently reads as one unbatched sample",
               "The input size 1x28 has 2 dimensions; give 3"]),
    ((28,), ["receives a 2-D tensor [1, 28]", "give 3: channels x height x width"]),
    ((1, 1, 28, 28), ["receives a 5-D tensor [1, 1, 1, 28, 28]", "without the batch",
                      "(e.g. 1x28x28)"]),
])
def test_input_rank_that_does_not_fit_the_first_conv(shape, words):
    error = error_of(nn.Sequential(nn.Conv2d(1, 8, (1, 3))), shape)
    assert error.layer == "0"
    for word in words:
        assert word in str(error)


@pytest.mark.parametrize("model,shape,example", [
    # LeNet-5's 1-channel conv runs on [1, 32, 32] as one unbatched image; the trace fails at
    # the Linear, where no input size helps: the message is about the missing channel dim
    (zoo.create("lenet5"), (32, 32), "(e.g. 1x32x32)"),
    # the first conv wants 3 channels: the example says 3, not a repeated spatial size
    (nn.Sequential(nn.Conv2d(3, 8, 3)), (32, 32), "(e.g. 3x32x32)"),
    (nn.Sequential(nn.Conv2d(3, 8, 3)), (32,), "(e.g. 3x32x32)"),
    (nn.Sequential(nn.Conv2d(3, 8, 3)), (1, 32), "(e.g. 3x32x32)"),
    (nn.Sequential(nn.Conv2d(4, 8, 3, groups=2)), (16, 16), "(e.g. 4x16x16)"),
])
def test_an_input_without_its_channel_dim_says_so(model, shape, example):
    error = error_of(model, shape)
    assert error.layer in ("0", "features.0")
    assert f"has {len(shape)} dimension" in str(error) and "give 3" in str(error)
    assert example in str(error) and "in_features" not in str(error)


class _ScaledFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.conv(torch.relu(x / 255))  # same-shape ops: still the input


class _PooledFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.pool = nn.Linear(8, 10), nn.AvgPool1d(2)

    def forward(self, x):
        return self.pool(self.linear(x))  # pools each row's 10 features, as PyTorch reads it


class _FirstSample(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)

    def forward(self, x):
        return self.conv(x[0])


def test_an_input_scaled_before_its_first_conv_is_still_told_to_give_its_channels():
    error = error_of(_ScaledFirst(), (28, 28))
    assert error.layer == "conv" and "give 3" in str(error) and "(e.g. 1x28x28)" in str(error)


@pytest.mark.parametrize("model,size,batch", [(_PooledFeatures, (8,), 4),
                                              (_FirstSample, (3, 10), 2)])
def test_a_tensor_the_model_makes_may_be_read_unbatched_as_pytorch_reads_it(model, size, batch):
    # refused as a missing channel dim: "layer pool (AvgPool1d) works on [batch, channels,
    # length] but receives a 2-D tensor [4, 10]", though PyTorch runs the model
    net = model()
    real = net(torch.rand(batch, *size))
    assert convscope.analyze(net, size, batch_size=batch).rows[-1].output_shapes == (
        tuple(real.shape),)


def test_three_1d_inputs_for_one_image():
    error = error_of(nn.Sequential(nn.Conv2d(3, 8, 3)), [(3,), (224,), (224,)])
    assert "3 separate 1-D inputs" in str(error) and "3x224x224" in str(error)


def test_pool_padding_over_half_the_window():
    error = error_of(nn.Sequential(nn.MaxPool2d(3, padding=2)), (3, 8, 8))
    assert "padding 2 is more than half the 3-wide window" in str(error)
    # the numbers are the dim at fault's: once the first dim's, "padding 1 is more than half
    # the 3-wide window" for (3, 2) windows padded (1, 2), and "padding 0 is more than half the
    # 1-wide window" for a 1-d average pool (it runs as a 2-d one on a height of 1)
    wide = error_of(nn.Sequential(nn.MaxPool2d((3, 2), padding=(1, 2))), (3, 8, 8))
    assert "padding 2 is more than half the 2-wide window; PyTorch pools with padding at most " \
           "⌊2/2⌋ = 1. Fix: padding=1 or less" in str(wide)
    line = error_of(nn.Sequential(nn.AvgPool1d(2, padding=2)), (3, 10))
    assert "layer 0 (AvgPool1d): padding 2 is more than half the 2-wide window" in str(line)


class LateDouble(nn.Module):
    """float32 until the head, which was converted alone: only the matmul sees two dtypes."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4, 2).double()

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_a_model_in_another_dtype_than_the_input_names_both_and_the_option(dtype):
    name = str(dtype).removeprefix("torch.")
    error = error_of(nn.Sequential(nn.Conv2d(3, 8, 3)).to(dtype), (3, 8, 8))
    assert error.layer == "0"
    assert str(error).startswith("layer 0 (Conv2d): dtype mismatch: ")
    assert f"The layer's parameters are {name}, the tensor arriving is float32" in str(error)
    assert f"dtype=torch.{name}, CLI: --dtype {name}" in str(error)
    # the option it names works
    report = convscope.analyze(nn.Sequential(nn.Conv2d(3, 8, 3)).to(dtype), (3, 8, 8), dtype=dtype)
    assert report.totals.params == 8 * 3 * 3 * 3 + 8


class TextCNN(nn.Module):
    def __init__(self, embedding):
        super().__init__()
        self.emb = embedding
        self.conv = nn.Conv1d(16, 8, 3)

    def forward(self, tokens):
        return self.conv(self.emb(tokens).transpose(1, 2))


@pytest.mark.parametrize("embedding", [nn.Embedding(100, 16), nn.EmbeddingBag(100, 16)],
                         ids=["embedding", "embedding_bag"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_an_embedding_fed_floats_asks_for_integer_indices(embedding, dtype):
    # float16 tokens meet float32 weights too: that once read as a dtype mismatch whose fix,
    # dtype=torch.float32, fails the same way
    model = TextCNN(embedding) if isinstance(embedding, nn.Embedding) else embedding
    error = error_of(model, (20,), dtype=dtype)
    name = str(dtype).removeprefix("torch.")
    assert error.layer == ("emb" if isinstance(embedding, nn.Embedding) else None)
    assert f"index dtype: it takes integer indices (int64 or int32), but the tensor arriving is " \
           f"{name}." in str(error)
    assert "dtype=torch.int64 (CLI: --dtype int64)" in str(error)
    report = convscope.analyze(model, (20,), batch_size=2, dtype=torch.int64)
    assert report.totals.input_bytes == 2 * 20 * 8


def test_two_dtypes_in_a_matmul_are_caught_though_the_meta_kernel_lets_them_through():
    with pytest.raises(RuntimeError):  # what a real forward does
        LateDouble()(torch.zeros(1, 3, 8, 8))
    error = error_of(LateDouble(), (3, 8, 8))
    assert error.layer == "head"
    assert "float32 and float64 tensors meet in aten.addmm.default" in str(error)
    assert "The layer's parameters are float64, the tensor arriving is float32" in str(error)
    assert "The model mixes float32 and float64 parameters" in str(error)
    assert "model.to(torch.float32)" in str(error)


def test_an_integer_input_into_a_linear_is_caught_though_the_meta_kernel_lets_it_through():
    model = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(RuntimeError, match="same dtype"):  # what a real forward does
        model(torch.ones(1, 3, dtype=torch.long))
    error = error_of(model, (3,), dtype=torch.long)
    assert error.layer == "0"
    assert "int64 tensors meet in aten.addmm.default" in str(error)
    assert "Fix: give it a floating input (dtype=torch.float32, CLI: --dtype float32)" in str(
        error)


def test_batch_norm_training_on_one_value_per_channel_asks_for_a_batch_of_two():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # PyTorch's own
        model.train()(torch.zeros(1, 3, 8, 8))
    for options in ({"train": True}, {"memory": True}):  # memory: a training step
        error = error_of(model.eval(), (3, 8, 8), **options)
        assert error.layer == "2"
        assert str(error).startswith("layer 2 (BatchNorm2d) cannot train on this batch: ")
        assert "batch x positions = 1 x 1 x 1 = 1 value" in str(error)
        assert "Fix: a batch of 2 or more (batch_size=2, CLI: --batch 2)" in str(error)
    assert convscope.analyze(model, (3, 8, 8), batch_size=2, memory=True).totals.params == 120


def test_a_lazy_module_asks_for_one_real_forward_first():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5))
    error = error_of(model, (3, 8, 8))
    assert isinstance(error, ModelError) and error.layer == "2"
    assert str(error).startswith("layer 2 (LazyLinear) is a lazy module")
    assert "model(torch.zeros(1, *input_size))" in str(error)
    model(torch.zeros(1, 3, 8, 8))  # what it asks for: then the analysis runs
    assert convscope.analyze(model, (3, 8, 8)).totals.params == 4 * 27 + 4 + 5 * 144 + 5


def test_unknown_zoo_names_and_malformed_inputs_are_usage_errors():
    with pytest.raises(UsageError, match="Did you mean: resnet50"):
        zoo.create("resnet5")
    with pytest.raises(UsageError, match="zoo:vgg16"):
        load_model("vgg16")
    for text in ("3x224x", "axb", "3x0x2", ""):
        with pytest.raises(UsageError, match="is not a shape"):
            parse_input(text)


def test_every_error_is_one_convscope_error_with_the_layer():
    with pytest.raises(convscope.ConvscopeError) as caught:
        convscope.analyze(zoo.create("lenet5"), (1, 28, 28))
    assert caught.value.layer == "classifier.0" and isinstance(caught.value, ModelError)
    assert isinstance(caught.value.__cause__, RuntimeError)  # PyTorch's own error, for --debug


def test_circular_padding_wider_than_the_map_names_the_layer_and_the_most_it_can_be():
    # the message was PyTorch's own, "Padding value causes wrapping around more than once."
    conv = nn.Sequential(nn.Conv2d(3, 3, 3),
                         nn.Conv2d(3, 3, 3, padding=(1, 5), padding_mode="circular"))
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        conv(torch.zeros(1, 3, 6, 6))
    with pytest.raises(ModelError) as caught:
        convscope.analyze(conv, (3, 6, 6))
    assert str(caught.value) == (
        "layer 1 (Conv2d): circular padding of (1, 5) wraps more than once around the 4x4 map it "
        "receives: it copies the opposite edge in, so each side's padding can be at most that "
        "side. Fix: padding=4 or less, or padding_mode='zeros' or 'replicate' (any padding); or "
        "a larger input.")
    with pytest.raises(ModelError, match=r"circular padding of \(5, 5, 5, 5\) wraps more than "
                                         r"once around the 4x4 map.*or nn.ZeroPad2d or "
                                         r"nn.ReplicationPad2d \(any padding\)"):
        convscope.analyze(nn.Sequential(nn.Conv2d(3, 3, 3), nn.CircularPad2d(5)), (3, 6, 6))


def test_a_failing_op_on_fake_tensors_logs_nothing(caplog):
    # the fake backend logs a traceback for every op that fails ("failed while attempting to
    # run meta"); the diagnosis is the one message a broken model gets
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(10, 2))
    with caplog.at_level(logging.DEBUG), pytest.raises(ModelError):
        convscope.analyze(model, (3, 8, 8))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("torch")] == []
    assert not logging.getLogger("torch._subclasses.fake_tensor").disabled  # as it was


def test_a_scripted_model_without_a_flatten_is_told_to_put_one_before_the_linear():
    # TorchScript runs its layers in C++: no layer name is known, and the fix read "before None"
    model = torch.jit.script(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(7200, 10)))
    text = str(error_of(model, (3, 32, 32)))
    assert "Put nn.Flatten() before the Linear: it gives 8·30·30 = 7,200 features." in text
    assert "None" not in text
