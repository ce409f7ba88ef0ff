"""A lowered leaf's own tensors stay in place through a trace (``state.swapped``'s keep): only
its lowering reads them, and only their shapes, so copying them would cost as much as tracing
the leaf. Anything else that reads one (a parent's code, a hook, the leaf's own forward when
its lowering declines) meets a copy instead: the model is left as it was, and the graph is the
one a copy of every tensor gives."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convscope.trace import run_trace
from convscope.trace.backends import meta_backend
from convscope.trace.inputs import make_spec
from convscope.trace.lowering import kept_leaves
from convscope.trace.state import swapped, walk


def _graphs(model, shape=(3, 8, 8)):
    spec = make_spec(shape, batch_size=2)
    kept = run_trace(model, spec, train=False, backend="meta")
    copied = run_trace(model, spec, train=False, backend="meta", keep=False)
    return kept, copied


def _same(kept, copied):
    assert kept == copied
    assert [n.refs for n in kept.nodes] == [n.refs for n in copied.nodes]
    assert kept.meta["backend"] == "meta"  # no fall back to fake tensors


def test_the_tensors_of_lowered_leaves_stay_in_place():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 2))
    _, _, like, _ = meta_backend()
    tensors = walk(model)
    conv, norm, linear = model[0], model[1], model[4]
    with swapped(tensors, like, like, kept_leaves(tensors.modules)) as seen:
        assert conv._parameters["weight"] is conv.weight  # read through the table: no copy
        assert norm._buffers["running_mean"].device.type == "cpu"
        assert linear._parameters["weight"].is_meta  # not lowered: a copy
        kinds = sorted((kind, name) for kind, name, _ in seen)
    assert len(kinds) == 9 and ("buffer", "1.num_batches_tracked") in kinds
    assert {id(t) for _, _, t in seen} >= {id(conv.weight), id(norm.running_var)}


class _WeightNormed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.utils.weight_norm(nn.Conv2d(3, 3, 1))  # a forward pre-hook reads it

    def forward(self, x):
        return self.conv(x)


class _OwnForward(nn.Conv2d):
    def forward(self, x):
        return super().forward(x) * 2


def test_only_lowered_leaves_without_hooks_are_kept():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), _WeightNormed(), _OwnForward(3, 3, 1),
                          nn.ReLU6())
    kept = kept_leaves(tuple(model.named_modules()))
    assert kept == {id(model[0]), id(model[3])}


def test_a_model_on_the_meta_device_keeps_nothing():
    # an op of the model's own code on a meta original would run and could reshape it in place
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 3, 1))
    _, _, like, _ = meta_backend()
    tensors = walk(model)
    state = swapped(tensors, like, like, kept_leaves(tensors.modules))
    with state as seen:
        assert state.kept == {} and len(seen) == 2


class _ReadsChildWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + F.conv2d(x, self.conv.weight, padding=1)


def test_a_parent_reading_a_lowered_childs_weight_gets_the_graph_of_copies():
    kept, copied = _graphs(_ReadsChildWeight().eval())
    _same(kept, copied)
    assert sum(n.op == "aten.convolution.default" for n in kept.nodes) == 2


class _ClampsChildWeight(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)

    def forward(self, x):
        self.conv.weight.data.clamp_(-1e-3, 1e-3)  # .data is an op too (detach)
        return self.conv(x)


def test_a_write_into_a_kept_weight_reaches_a_copy_not_the_model():
    model = _ClampsChildWeight().eval()
    before = model.conv.weight.detach().clone()
    kept, copied = _graphs(model)
    assert torch.equal(model.conv.weight, before)
    _same(kept, copied)
    assert [n.op for n in kept.nodes][:2] == ["aten.detach.default", "aten.clamp_.default"]


class _CatchesEverything(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        try:
            scale = self.norm.weight.abs().sum()
        except Exception:  # noqa: BLE001 (what a careless model does)
            scale = 1.0
        return self.norm(x) * scale


def test_a_model_that_catches_the_signal_is_traced_again_with_copies():
    model = _CatchesEverything().eval()
    kept, copied = _graphs(model)
    _same(kept, copied)
    assert [n.op for n in kept.nodes][:2] == ["aten.abs.default", "aten.sum.default"]


class _ChannelsLastConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.norm(self.conv(x.contiguous(memory_format=torch.channels_last)))


def test_a_leaf_whose_lowering_declines_runs_its_forward_on_copies():
    # the lowering takes contiguous inputs only: the conv's and the norm's own forwards run,
    # on meta copies (the originals would have failed on the meta input, or run for real)
    model = _ChannelsLastConv().train()
    counter = model.norm.num_batches_tracked.clone()
    spec = make_spec((3, 8, 8), batch_size=2)
    kept = run_trace(model, spec, train=True, backend="meta")
    copied = run_trace(model, spec, train=True, backend="meta", keep=False)
    _same(kept, copied)
    assert "aten.empty_strided.default" not in [n.op for n in kept.nodes]  # copies are no ops
    assert torch.equal(model.norm.num_batches_tracked, counter)
