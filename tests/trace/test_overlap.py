"""In-place writes into memory that several elements share: refused where the CPU refuses them.

The meta kernels skip PyTorch's overlap check; ``trace.overlap`` makes it. Every in-place aten
op that one of a few argument patterns can call is tried on an expanded CPU tensor, and
convscope's verdict must be the CPU's: ``overlap.ALLOWED`` is pinned here, op by op.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import convscope
from convscope.errors import ConvscopeError
from convscope.trace.overlap import ALLOWED, MESSAGE, refuse_shared_writes


def _inplace_ops():
    for name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, name)
        for overload in getattr(packet, "overloads", list)():
            op = getattr(packet, overload)
            if torch.Tag.inplace in op.tags and torch.Tag.inplace_view not in op.tags:
                yield op


def _others(device):
    def rand(*shape):
        return torch.rand(*shape, device=device)

    long = torch.zeros(2, 4, 3, dtype=torch.long, device=device)
    index = torch.tensor([0], device=device)
    return [(), (0.5,), (rand(2, 4, 3),), (0.5, 0.5), (rand(2, 4, 3), rand(2, 4, 3)),
            (rand(2, 4, 3), 0.5), (rand(2, 4, 3), rand(2, 4, 3), 0.5),
            (rand(2, 4, 3) > 0.5, 0.5), (0, index, 0.5), (0, long, 0.5), (0, long, rand(2, 4, 3)),
            (rand(2, 4, 3) > 0.5, torch.tensor(0.5, device=device)),
            (0, index, torch.tensor(0.5, device=device)), ((index,), rand(4, 3)),
            (rand(2, 4, 5), rand(2, 5, 3))]


def _verdict(op, make_self, others) -> str:
    try:
        with warnings.catch_warnings():  # masked_fill_ and friends: deprecated on expanded tensors
            warnings.simplefilter("ignore")
            op(make_self(), *others)
    except Exception as exc:  # noqa: BLE001 (any refusal is a verdict)
        return "refused" if "single memory location" in str(exc) else f"other: {exc}"
    return "allowed"


def _callable(op):
    """The argument pattern under which ``op`` runs on a plain CPU tensor, or None."""
    for i, others in enumerate(_others("cpu")):
        if _verdict(op, lambda: torch.rand(2, 4, 3) + 0.1, others) == "allowed":
            return i
    return None


def test_every_in_place_op_is_refused_on_shared_memory_exactly_where_the_cpu_refuses_it():
    tried = {}
    for op in _inplace_ops():
        pattern = _callable(op)
        if pattern is None:
            continue
        cpu = _verdict(op, lambda: (torch.rand(2, 1, 3) + 0.1).expand(2, 4, 3),
                       _others("cpu")[pattern])
        meta_self = torch.empty(2, 1, 3, device="meta").expand(2, 4, 3)
        try:
            refuse_shared_writes(op, (meta_self, *_others("meta")[pattern]))
            ours = "allowed"
        except RuntimeError as exc:
            assert str(exc) == MESSAGE
            ours = "refused"
        tried[str(op)] = (cpu, ours)
    assert len(tried) > 150  # the patterns reach most in-place ops: the check is not vacuous
    assert {name: v for name, v in tried.items() if v[0] != v[1]} == {}
    assert sum(cpu == "refused" for cpu, _ in tried.values()) > 140
    # each op the list lets through that a pattern reaches is one the CPU lets through
    assert all(tried[name][0] == "allowed" for name in ALLOWED if name in tried)
    assert len([name for name in ALLOWED if name in tried]) >= 12


def test_a_tensor_without_shared_memory_may_be_written_and_views_may_be_reshaped():
    x = torch.empty(2, 4, 3, device="meta")
    refuse_shared_writes(torch.ops.aten.add_.Tensor, (x[:, :1], 1))  # a slice: no sharing
    refuse_shared_writes(torch.ops.aten.add_.Tensor, (x.transpose(0, 2), 1))
    shared = torch.empty(2, 1, 3, device="meta").expand(2, 4, 3)
    refuse_shared_writes(torch.ops.aten.t_.default, (shared[0],))  # metadata only
    with pytest.raises(RuntimeError, match="single memory location"):
        refuse_shared_writes(torch.ops.aten.mul_.Scalar, (shared, 2))


class ExpandedAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y[:, :1].expand(-1, 4, -1, -1).add_(y)


class ExpandedReLU(ExpandedAdd):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU(inplace=True)  # a lowered module: its write is checked too

    def forward(self, x):
        return self.act(self.conv(x)[:, :1].expand(-1, 4, -1, -1))


class ExpandedFill(ExpandedAdd):
    def forward(self, x):
        return self.conv(x)[:, :1].expand(-1, 4, -1, -1).fill_(0.0)


@pytest.mark.parametrize("model,where", [(ExpandedAdd, "the model's own forward (ExpandedAdd)"),
                                         (ExpandedReLU, "layer act (ReLU)")])
def test_a_model_whose_real_forward_refuses_a_shared_write_fails_its_analysis_too(model, where):
    # it traced, and its analysis showed a table for a model that cannot run
    net = model()
    with pytest.raises(RuntimeError, match="single memory location"):
        net(torch.rand(1, 3, 8, 8))
    with pytest.raises(ConvscopeError) as raised:
        convscope.analyze(net, (3, 8, 8))
    assert str(raised.value).startswith(where) and "Please clone() the tensor" in str(raised.value)


def test_a_shared_write_the_cpu_allows_still_traces():
    net = ExpandedFill()
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 4, 6, 6)
    report = convscope.analyze(net, (3, 8, 8))
    assert report.rows[-1].output_shapes == ((1, 4, 6, 6),)
