"""Every zoo model: the shape-only trace equals a real forward, and torch's FLOP counter agrees.

Real forwards run at the default input, except for the models whose forward at full size costs
seconds on 2 cores: those run at SMALL_INPUT (valid for them thanks to adaptive pooling), and the
trace is compared at the same input.
"""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import convscope
from convscope import zoo
from tests.conftest import real_leaf_outputs

SMALL_INPUT = {
    **{name: (3, 64, 64) for name in zoo.names("vgg*")},
    **{name: (3, 96, 96) for name in ["resnet101", "resnet152", "densenet121", "alexnet"]},
    "inception_v3": (3, 139, 139),
}


def _uninitialised(name: str):
    """The model with zeroed CPU weights: shapes are what we test, and random init costs seconds
    (uninitialised memory is no better: denormal garbage makes the forward crawl)."""
    with torch.device("meta"):
        model = zoo.create(name)
    model = model.to_empty(device="cpu").eval()
    for tensor in model.state_dict().values():
        tensor.zero_()
    return model


@pytest.mark.parametrize("name", zoo.names())
def test_trace_matches_real_forward_and_flop_counter(name):
    model = _uninitialised(name)
    size = SMALL_INPUT.get(name, zoo.info(name).input_size)
    report = convscope.analyze(model, size, batch_size=2)
    x = torch.zeros(2, *size)
    counter = FlopCounterMode(display=False)
    with counter:
        expected = real_leaf_outputs(model, [x])
    assert [(r.name, r.output_shape) for r in report.rows if r.kind == "module"] == expected
    assert 2 * report.totals.macs == counter.get_total_flops()
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.uncounted == {}


@pytest.mark.parametrize("name", zoo.names())
def test_docstring_names_paper_year_and_input(name):
    info = zoo.info(name)
    doc = info.builder.__doc__ or ""
    assert any(str(year) in doc for year in range(1989, 2026)), name
    assert "x".join(map(str, info.input_size[1:])) in doc or str(info.input_size[1]) in doc, name


def test_unknown_name_suggests_the_closest():
    with pytest.raises(convscope.UsageError, match="resnet50"):
        zoo.create("resnet5O")
