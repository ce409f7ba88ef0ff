"""`explain` for the layers around the convs: normalisations, modules that run no op,
upsampling, and a module called twice. The real module is the oracle for what it holds."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import convscope
from convscope.analyses.explain import explain


def layers_of(model, shape, batch_size=1):
    report = convscope.analyze(model, shape, batch_size)
    return {x.name: x for x in explain(report).layers}


@pytest.mark.parametrize("norm, line", [
    (nn.BatchNorm2d(8), "parameters = 2 × 8 = 16 (a scale γ and a shift β per channel), plus "
                        "running mean and variance buffers 2 × 8"),
    (nn.BatchNorm2d(8, affine=False),
     "no parameters (affine=False: no scale γ or shift β); running mean and variance buffers "
     "2 × 8"),
    (nn.BatchNorm2d(8, track_running_stats=False),
     "parameters = 2 × 8 = 16 (a scale γ and a shift β per channel); no running statistics "
     "(track_running_stats=False): it normalises with the mean and variance of its input, in "
     "eval mode too"),
    (nn.InstanceNorm2d(8),
     "no parameters (affine=False: no scale γ or shift β); no running statistics "
     "(track_running_stats=False): it normalises with the mean and variance of its input, in "
     "eval mode too"),
    (nn.InstanceNorm2d(8, affine=True, track_running_stats=True),
     "parameters = 2 × 8 = 16 (a scale γ and a shift β per channel), plus running mean and "
     "variance buffers 2 × 8"),
    (nn.GroupNorm(2, 8), "parameters = 2 × 8 = 16 (a scale γ and a shift β per channel)"),
    (nn.GroupNorm(2, 8, affine=False), "no parameters (affine=False: no scale γ or shift β)"),
    (nn.LayerNorm([8, 6, 6]), "parameters = 2 × 8 × 6 × 6 = 576 (a scale γ and a shift β per "
                              "value of the normalised shape [8, 6, 6])"),
    (nn.LayerNorm(6, elementwise_affine=False),
     "no parameters (elementwise_affine=False: no scale γ or shift β)"),
    (nn.LayerNorm(6, bias=False),
     "parameters = 6 (a scale γ per value of the normalised shape [6]; no shift β: bias=False)"),
])
@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_normalisation_says_the_parameters_and_statistics_it_has(norm, line, batch_size):
    # the line once said "2 × channels" parameters and running buffers for every batch norm op:
    # 16 parameters for BatchNorm2d(8, affine=False) and InstanceNorm2d(8), which have none
    layer = layers_of(nn.Sequential(nn.Conv2d(3, 8, 3), norm), (3, 8, 8), batch_size)["1"]
    assert layer.lines[0] == line
    stated = re.match(r"parameters = .*?([\d,]+) \(", line)
    held = sum(p.numel() for p in norm.parameters())
    assert (int(stated.group(1).replace(",", "")) if stated else 0) == held == layer.params
    tracked = getattr(norm, "running_mean", None) is not None
    assert ("running mean and variance buffers" in line) == tracked


@pytest.mark.parametrize("passing", [nn.Dropout(0.5), nn.Identity(), nn.Dropout2d()])
def test_a_module_that_runs_no_op_shows_the_tensor_it_hands_on_as_its_input(passing):
    # in eval mode a Dropout runs no op, so the input was looked for among no ops: "? -> [...]"
    layer = layers_of(nn.Sequential(nn.Conv2d(3, 8, 3), passing, nn.ReLU()), (3, 8, 8))["1"]
    assert layer.input_shape == layer.output_shape == (1, 8, 6, 6)
    assert layer.lines == ("output memory = 1 × 8 × 6 × 6 = 288 values × 4 bytes = 1,152 bytes "
                           "(1.12 KiB) (returns its input: no new memory)",)
    assert layer.allocated_bytes == 0


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "nearest-exact"])
@pytest.mark.parametrize("h, scale", [(7, 2), (7, 1.5), (13, 0.5), (9, 1.7), (5, 3.3)])
def test_an_upsampling_derives_its_output_size_as_pytorch_computes_it(mode, h, scale):
    # an Upsample once got no size line at all
    up = nn.Upsample(scale_factor=scale, mode=mode)
    layer = layers_of(nn.Sequential(up), (2, h, h + 1))["0"]
    out = up(torch.zeros(1, 2, h, h + 1)).shape[2:]  # the real forward
    assert layer.lines[:2] == (f"output height = ⌊{h} × {scale:g}⌋ = {out[0]} "
                               f"(scale_factor={scale:g})",
                               f"output width = ⌊{h + 1} × {scale:g}⌋ = {out[1]} "
                               f"(scale_factor={scale:g})")
    reads = ("a copy of the nearest input value" if mode.startswith("nearest") else
             "a weighted average of the 2x2 nearest input values")
    assert layer.lines[2] == f"no parameters: each output value is {reads}"


def test_an_upsampling_given_a_size_says_it_was_given():
    layer = layers_of(nn.Sequential(nn.Upsample(size=(13, 11), mode="bilinear")), (2, 6, 6))["0"]
    given = "as given (size=, or recompute_scale_factor=True)"
    assert layer.lines[:2] == (f"output height = 13, {given}", f"output width = 11, {given}")


@pytest.mark.parametrize("model, lines", [
    # bilinear 2x after a 4-pixel field, 2 apart: each output blends 2 inputs 1/2 a unit apart,
    # r = 4 + (2−1)·2 = 6 (rf: ~6 s1)
    (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2),
                   nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(8, 8, 3, padding=1)),
     {"2": "receptive field = ~6x6 input pixels, jump 1 (as a window on its input k = 2 input "
           "values per output, s = 1/2 input units per output unit; r = 4 + (2−1)·2 = 6, "
           "j = 2·1/2 = 1; one step back: r_in = s·r + (k − s) = 1/2·r + 1.5); ~: an estimate "
           "(fractional or uneven strides), as convscope rf marks it",
      "3": "receptive field = ~8x8 input pixels, jump 1 (r = 6 + (3−1)·1 = 8, j = 1·1 = 1; one "
           "step back: r_in = s·r + (k − s) = 1·r + 2); ~: an estimate (fractional or uneven "
           "strides), as convscope rf marks it"}),
    # a 2x2 stride-2 transposed conv reads its input as a window of (2−1)/2 + 1 = 1.5 units,
    # 1/2 apart: r = 4 + (1.5−1)·2 = 5 (rf: ~5 s1)
    (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2),
                   nn.ConvTranspose2d(8, 8, 2, stride=2)),
     {"2": "receptive field = ~5x5 input pixels, jump 1 (as a window on its input k = (2−1)/2 "
           "+ 1 = 1.5, s = 1/2; r = 4 + (1.5−1)·2 = 5, j = 2·1/2 = 1; one step back: r_in = "
           "s·r + (k − s) = 1/2·r + 1); ~: an estimate (fractional or uneven strides), as "
           "convscope rf marks it"}),
])
def test_upsampling_and_transposed_convs_step_the_field_as_rf_does(model, lines):
    # both once had no receptive-field line, though rf gives one and the next conv's used it
    report = convscope.analyze(model, (3, 16, 16))
    rows = {row.name: row for row in report.rows}
    for layer in explain(report).layers:
        if layer.name in lines:
            field = next(x for x in layer.lines if x.startswith("receptive field"))
            assert field == lines[layer.name]
            size = re.match(r"receptive field = ~(\d+)x", field).group(1)
            assert rows[layer.name].rf.short() == f"~{size} s1"


class _Twice(nn.Module):
    """One conv, one LSTM and one Linear on [N, L, C], each called twice."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.lstm = nn.LSTM(4, 4, batch_first=True)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        seq = self.conv(self.conv(x)).flatten(2).transpose(1, 2)  # [1, 64, 4]
        return self.fc(self.fc(self.lstm(self.lstm(seq)[0])[0]))


def test_a_module_called_again_says_its_parameters_were_counted_at_its_first_call():
    # the second call repeated "parameters 148" without the "(shared)" the summary shows, and a
    # shared LSTM said "parameters = 0"
    report = convscope.analyze(_Twice(), (4, 8, 8))
    first, again = {}, {}
    for row, layer in zip(report.rows, explain(report).layers):
        (again if row.shared else first)[row.name] = layer
    assert set(again) == {"conv", "lstm", "fc"}
    # conv 4·4·3·3 + 4 = 148; LSTM 4 gates x 4: (4 + 4)·16 + 2·16 = 160; Linear 4·4 + 4 = 20
    for name, count in {"conv": 148, "lstm": 160, "fc": 20}.items():
        lines = again[name].lines
        at = next(i for i, line in enumerate(lines) if line.startswith("shared:"))
        assert lines[at] == (f"shared: this is call 2 of {name}, whose {count} parameters were "
                             "counted at its first call")
        assert again[name].params == 0 and first[name].params == count
        assert lines[:at] == first[name].lines[:at]  # the same layer, the same sums
