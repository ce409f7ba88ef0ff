"""The conv and pool calculators: PyTorch's shapes, the notes' formulas, the size-keeping padding."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convscope import ModelError, UsageError
from convscope.calculator import ConvOptions, PoolOptions, conv_calculation, pool_calculation


def test_seed_001_conv():
    calc = conv_calculation(ConvOptions((3, 64, 64), out_channels=10, kernel=5, stride=2))
    assert calc.output_shape == (10, 30, 30)
    assert dict(calc.shapes)["weight shape"].startswith("[10, 3, 5, 5]")
    assert dict(calc.shapes)["bias shape"] == "[10]"
    assert "output height = ⌊(64 + 2·0 − 1·(5−1) − 1) / 2⌋ + 1 = 30" in calc.layer.lines
    assert "weights = 10 filters × 3 channels × 5 × 5 = 750, bias 10, parameters 760" in \
        calc.layer.lines
    assert calc.rf_line == ("receptive field: one output unit sees 5x5 input pixels "
                            "(D·(K−1) + 1 = 1·(5−1) + 1 = 5)")
    # no padding keeps 64 at stride 2; padding 2 gives ⌊(64 + 4 − 5) / 2⌋ + 1 = 32 = ⌈64/2⌉
    assert calc.keep_line == ("same size: no padding keeps the size at stride 2; padding=2 gives "
                              "⌈64/2⌉ = 32 (32x32, TensorFlow's 'same')")


def test_size_keeping_padding_with_a_stride_per_axis_gives_each_axis_its_ceiling():
    # it said "no padding keeps the size at stride 1; padding=1 gives ⌈8/1⌉ = 8 (8x4, ...)":
    # the first axis's stride and ceiling only
    calc = conv_calculation(ConvOptions((3, 8, 8), out_channels=4, kernel=3, stride=(1, 2)))
    assert calc.output_shape == (4, 6, 3)
    assert calc.keep_line == ("same size: no padding keeps the size at stride 1x2; padding=1 "
                              "gives ⌈8/1⌉ x ⌈8/2⌉ = 8x4 (TensorFlow's 'same')")
    assert list(nn.Conv2d(3, 4, 3, stride=(1, 2), padding=1)(torch.zeros(1, 3, 8, 8)).shape) == [
        1, 4, 8, 4]


def test_size_keeping_padding_or_why_there_is_none():
    odd = conv_calculation(ConvOptions((3, 32, 32), 8, kernel=5))
    assert odd.keep_line == "same size: padding=2 keeps 32x32 (P = D(K−1)/2 = 1·(5−1)/2 = 2)"
    even = conv_calculation(ConvOptions((3, 32, 32), 8, kernel=4))
    assert even.keep_line == ("same size: no symmetric padding keeps 32: D(K−1) = 3 is odd "
                              "(--padding same pads 1 before and 2 after)")
    same = conv_calculation(ConvOptions((3, 32, 32), 8, kernel=4, padding="same"))
    assert same.output_shape == (8, 32, 32)
    pool = pool_calculation(PoolOptions((3, 32, 32), kernel=2, stride=1))
    assert pool.keep_line.startswith("same size: no padding keeps 32")


def test_depthwise_and_non_square_and_1d():
    dw = conv_calculation(ConvOptions((16, 32, 32), 16, kernel=3, padding=1, groups=16, bias=False))
    assert dict(dw.shapes)["weight shape"].startswith("[16, 1, 3, 3]")
    assert ("weights = 16 filters × 1 channel each (16 in / 16 groups) × 3 × 3 = 144, no bias, "
            "parameters 144") in dw.layer.lines
    wide = conv_calculation(ConvOptions((3, 20, 30), 4, kernel=(3, 5), padding=(1, 2)))
    assert wide.output_shape == (4, 20, 30) and "padding=1,2 keeps 20x30" in wide.keep_line
    line = conv_calculation(ConvOptions((3, 64), 8, kernel=3, dilation=2))
    assert line.output_shape == (8, 60)
    assert "output length = ⌊(64 + 2·0 − 2·(3−1) − 1) / 1⌋ + 1 = 60" in line.layer.lines


def test_a_1d_calculator_counts_input_positions():
    # the receptive-field line once said "input pixels" of a signal
    line = conv_calculation(ConvOptions((3, 64), 8, kernel=3, dilation=2))
    assert line.rf_line == ("receptive field: one output unit sees 5 input positions "
                            "(D·(K−1) + 1 = 2·(3−1) + 1 = 5)")
    image = conv_calculation(ConvOptions((3, 64, 64), 8, kernel=3, dilation=2))
    assert image.rf_line.startswith("receptive field: one output unit sees 5x5 input pixels")


def test_pool_ceil_mode_and_average():
    floor = pool_calculation(PoolOptions((3, 7, 7), kernel=2))
    ceil = pool_calculation(PoolOptions((3, 7, 7), kernel=2, ceil_mode=True))
    assert floor.output_shape == (3, 3, 3) and ceil.output_shape == (3, 4, 4)
    assert "output height = ⌈(7 + 2·0 − 1·(2−1) − 1) / 2⌉ + 1 = 4" in ceil.layer.lines
    assert "the last 1 row and column of the padded input is never looked at" in floor.layer.notes[0]
    avg = pool_calculation(PoolOptions((3, 8, 8), kernel=3, stride=1, kind="avg"))
    assert avg.output_shape == (3, 6, 6) and avg.keep_line.startswith("same size: padding=1")


def test_calculator_errors_teach():
    with pytest.raises(UsageError, match=r"groups=4 must divide both the 6 input channels and the "
                                         r"8 output channels.*6 input channels / 4 = 1.5"):
        conv_calculation(ConvOptions((6, 8, 8), 8, kernel=3, groups=4))
    # more groups than channels: "3 input channels / 16 = 0" read as whole
    with pytest.raises(UsageError, match=r"but 3 input channels / 16 is less than 1 and 8 output "
                                         r"channels / 16 is less than 1: not a whole number of "
                                         r"channels a group\. Fix: .* divisors of 3 and 8: 1\."):
        conv_calculation(ConvOptions((3, 8, 8), 8, kernel=3, groups=16))
    with pytest.raises(UsageError, match="--padding same needs --stride 1"):
        conv_calculation(ConvOptions((3, 8, 8), 8, kernel=3, stride=2, padding="same"))
    with pytest.raises(ModelError) as caught:
        conv_calculation(ConvOptions((3, 4, 4), 8, kernel=5))
    assert caught.value.layer == "conv"
    assert "output height = ⌊(4 + 2·0 − 1·(5−1) − 1) / 1⌋ + 1 = 0" in str(caught.value)
    assert "the smallest input that works is 3x5x5" in str(caught.value)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(3, 40), w=st.integers(3, 40), k=st.integers(1, 3), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), groups=st.sampled_from([1, 2]))
def test_calculator_matches_a_real_layer(h, w, k, s, p, d, groups):
    if d * (k - 1) + 1 > min(h, w) + 2 * p:
        return
    calc = conv_calculation(ConvOptions((4, h, w), 6, kernel=k, stride=s, padding=p, dilation=d,
                                        groups=groups))
    layer = nn.Conv2d(4, 6, k, s, p, d, groups)
    real = layer(torch.zeros(1, 4, h, w))
    assert calc.output_shape == tuple(real.shape[1:])
    assert f"parameters {sum(q.numel() for q in layer.parameters()):,}" in calc.layer.lines[2]
