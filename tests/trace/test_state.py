"""The walk over a model's tensors: each named as PyTorch names it, a tied one once."""
from __future__ import annotations

import torch
from torch import nn

from convscope.trace.recorder import tensor_meta
from convscope.trace.state import swapped, walk


class _Shared(nn.Module):
    """One module under two names and a None child: PyTorch lists each module once, at its
    first name."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        self.empty = None
        self.again = self.block
        self.deep = nn.Sequential(nn.Sequential(self.block[0], nn.Identity()), nn.ReLU())

    def forward(self, x):
        return self.deep(self.block(x))


def test_a_tied_tensor_has_its_first_owners_name_one_record_and_a_slot_per_owner():
    model = _Shared()
    model.tied = nn.Conv2d(3, 4, 3)
    model.tied.weight = model.block[0].weight
    tensors = walk(model)
    assert [p.name for p in tensors.params] == [n for n, _ in model.named_parameters()]
    assert [p.meta.shape for p in tensors.params] == [
        tuple(p.shape) for _, p in model.named_parameters()]
    weight = model.block[0].weight
    # block.0 and deep.0.0 are one module, listed once; tied is a second owner of its weight
    owners = [slot for slot in tensors.slots if slot[2] is weight]
    assert [(slot[1], slot[4]) for slot in owners] == [("weight", "block.0.weight")] * 2
    assert owners[0][0] is model.block[0]._parameters and owners[1][0] is model.tied._parameters


def test_each_copy_carries_its_own_meta_also_when_cast_to_another_dtype():
    model = nn.BatchNorm1d(3)
    half = {"param": lambda t: t.to(torch.float16), "buffer": lambda t: t.clone()}
    with swapped(walk(model), half["param"], half["buffer"]) as copies:
        assert [(kind, name, meta.dtype, meta.shape) for kind, name, _, meta in copies] == [
            ("param", "weight", "float16", (3,)), ("param", "bias", "float16", (3,)),
            ("buffer", "running_mean", "float32", (3,)), ("buffer", "running_var", "float32", (3,)),
            ("buffer", "num_batches_tracked", "int64", ())]
        assert all(meta == tensor_meta(copy) for _, _, copy, meta in copies)
    assert model.weight.dtype == torch.float32


def test_a_lowered_trace_copies_only_the_tensors_something_reads(monkeypatch):
    # the lowered leaves (conv, batch norm) read only their tensors' shapes: their copies are
    # never made; the linear layer's forward reads its weight and bias, which are copied
    import convscope.trace as trace_package
    from convscope.trace.backends import meta_backend
    from convscope.trace.inputs import make_spec

    copied = []

    def counting():
        mode, make, convert, like = meta_backend()

        def counted(t):
            copied.append(tuple(t.shape))
            return like(t)

        return mode, make, convert, counted

    monkeypatch.setitem(trace_package.BACKENDS, "meta", counting)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 2)).eval()
    graph = trace_package.run_trace(model, make_spec((3, 6, 6)), train=False, backend="meta")
    assert copied == [(2, 64), (2,)]
    assert [r.source for n in graph.nodes for r in n.refs if r.kind != "node"] == [
        0, "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "4.weight", "4.bias"]
