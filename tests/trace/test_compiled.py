"""Models wrapped by torch.compile and nn.DataParallel: traced as the modules they wrap."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import convscope
from convscope import zoo

dynamo_utils = pytest.importorskip("torch._dynamo.utils")


def _frames_compiled() -> int:
    return dynamo_utils.counters["frames"]["total"]


def _table(report):
    return [(r.name, r.kind, r.output_shape, r.params, r.macs, r.rf) for r in report.rows]


def test_a_compiled_model_is_analysed_as_the_module_it_wraps_and_nothing_compiles():
    model = zoo.create("simple_cnn").eval()
    plain = convscope.analyze(model, (1, 28, 28), memory=True)
    before = _frames_compiled()
    compiled = convscope.analyze(torch.compile(model), (1, 28, 28), memory=True)
    assert _frames_compiled() == before  # TorchDynamo never saw the recorder
    assert compiled.model_name == plain.model_name != "OptimizedModule"
    assert _table(compiled) == _table(plain)  # "0.0", not "_orig_mod.0.0"
    assert compiled.totals == plain.totals


class _Outer(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        return self.head(self.body(x))


def test_a_compiled_submodule_runs_eagerly_during_the_trace():
    plain = convscope.analyze(_Outer(zoo.create("simple_cnn")), (1, 28, 28), train=True,
                              memory=True)
    before = _frames_compiled()
    nested = convscope.analyze(_Outer(torch.compile(zoo.create("simple_cnn"))), (1, 28, 28),
                               train=True, memory=True)
    assert _frames_compiled() == before
    assert nested.totals == plain.totals
    # the wrapper is a module of the tree, as named_modules() names it
    assert [r.name.replace("body._orig_mod.", "body.") for r in nested.rows] == \
        [r.name for r in plain.rows]


def test_data_parallel_profiler_markers_are_free_not_uncounted():
    inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    report = convscope.analyze(nn.DataParallel(inner), (3, 8, 8))
    assert report.uncounted == {}
    assert report.totals.macs == convscope.analyze(inner, (3, 8, 8)).totals.macs == 4 * 27 * 36
    assert [r.name for r in report.rows] == ["module.0", "module.1"]
