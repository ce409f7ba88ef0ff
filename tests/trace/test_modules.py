"""Module attribution: which module call each op ran in, seen by wrapping each forward."""
from __future__ import annotations

import collections
import dataclasses
import inspect

import pytest
import torch
from torch import nn

import convscope
from convscope.trace import trace
from convscope.trace.inputs import make_spec


def _call_of(graph, op: str) -> str:
    node = next(n for n in graph.nodes if n.op == op)
    return graph.calls[node.call].name


class DirectForward(nn.Module):
    """Calls a child's ``forward`` directly, skipping ``__call__``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv.forward(x))


def test_a_direct_forward_call_is_attributed_to_its_module():
    graph = trace(DirectForward(), make_spec((3, 8, 8)))
    assert _call_of(graph, "aten.convolution.default") == "conv"
    conv = next(c for c in graph.calls if c.name == "conv")
    assert conv.outputs[0].shape == (1, 4, 6, 6) and conv.parent == 0


def test_a_forward_set_on_the_instance_is_the_one_traced_and_is_kept():
    model = DirectForward()
    own = model.act.forward = lambda x: torch.sigmoid(x)  # noqa: E731
    graph = trace(model, make_spec((3, 8, 8)))
    assert _call_of(graph, "aten.sigmoid.default") == "act"
    assert not any(n.op.startswith("aten.relu") for n in graph.nodes)
    assert model.act.__dict__["forward"] is own


def test_the_module_s_own_hooks_still_run_around_the_call():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    seen = []
    model[0].register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    model[0].register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    graph = trace(model, make_spec((3, 8, 8)))
    assert seen == [(1, 4, 6, 6)]
    assert _call_of(graph, "aten.convolution.default") == "0"
    # the pre-hook's multiply runs before the conv's call begins: it counts for the model
    assert _call_of(graph, "aten.mul.Tensor") == ""
    assert not nn.modules.module._global_forward_pre_hooks  # no global hook registered


def test_what_a_forward_hook_returns_is_the_call_s_output():
    conv = nn.Conv2d(3, 4, 3)
    conv.register_forward_hook(lambda m, args, out: out.flatten(1))
    model = nn.Sequential(conv, nn.Linear(144, 2), conv)  # the conv is called twice
    model.forward = lambda x: model[1](model[0](x)) + model[2](x).sum()
    graph = trace(model, make_spec((3, 8, 8), batch_size=2))
    outputs = [c.outputs[0].shape for c in graph.calls if c.name in ("0", "2")]
    assert outputs == [(2, 144), (2, 144)]  # as model[0](x).shape, not the conv's [2, 4, 6, 6]
    assert len(conv._forward_hooks) == 1  # the hook that saw it is gone


def test_the_traced_forward_keeps_the_signature_of_the_module_s_forward():
    model = DirectForward()
    signatures = []

    class Peek(nn.Module):
        def forward(self, x):
            signatures.append(str(inspect.signature(model.conv.forward)))
            return model(x)

    trace(Peek(), make_spec((3, 8, 8)))
    assert signatures == ["(input: torch.Tensor) -> torch.Tensor"]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_a_scripted_child_is_a_module_call_of_its_own():
    class WithScripted(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.scripted = torch.jit.script(nn.ReLU())

        def forward(self, x):
            return self.scripted(self.conv(x))

    model = WithScripted()
    compiled = model.scripted.__dict__.get("forward")
    graph = trace(model, make_spec((3, 8, 8)))
    assert graph.calls[0].outputs[0].shape == (1, 4, 6, 6)
    assert _call_of(graph, "aten.relu.default") == "scripted"
    assert model.scripted.__dict__.get("forward") is compiled


@dataclasses.dataclass
class _Out:
    logits: torch.Tensor
    extra: object = None


class _Logits(collections.OrderedDict):  # as model-output classes are
    pass


def _head(wrap) -> nn.Module:
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return wrap(self.fc(x))

    torch.manual_seed(0)
    return nn.Sequential(Head())


@pytest.mark.parametrize("wrap", [lambda y: _Out(y, {"aux": [y[:, :2]]}),
                                  lambda y: _Logits(logits=y, aux=y[:, :2])])
def test_tensors_in_a_dataclass_or_a_dict_subclass_are_the_call_s_outputs(wrap):
    report = convscope.analyze(_head(wrap), (4,), memory=True)
    assert [r.output_shapes for r in convscope.analyze(_head(wrap), (4,), depth=1).rows] == [
        ((1, 3), (1, 2))]  # the folded Head row shows its call's outputs
    assert report.totals.output_bytes == (3 + 2) * 4
    # the same step as for a plain tuple: a loss over both outputs, and its backward
    as_tuple = convscope.analyze(_head(lambda y: (y, y[:, :2])), (4,), memory=True)
    assert report.totals.train_peak_bytes == as_tuple.totals.train_peak_bytes > 0
    assert [r.saved_bytes for r in report.rows] == [r.saved_bytes for r in as_tuple.rows]
