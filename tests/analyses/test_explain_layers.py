"""`explain` for the layers around the convs: normalisations, modules that run no op,
upsampling, and a module called twice. The real module is the oracle for what it holds."""
from __future__ import annotations

import re

import pytest
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
