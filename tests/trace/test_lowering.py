"""Lowered leaf modules give exactly the graph their own forward gives through the dispatcher.

``run_trace(..., lower=False)`` runs every module's forward, so each op reaches the recorder
through PyTorch; with lowering, Conv2d, BatchNorm2d, ReLU, ReLU6 and Hardtanh are recorded
directly. The two graphs must be equal in every field (ops, arguments, outputs, refs, module
calls), and a configuration PyTorch rejects must fail the same way.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from convscope import zoo
from convscope.trace import TraceFailure, run_trace
from convscope.trace.inputs import make_spec
from convscope.trace.recorder import Recorder


def _trace(model, shapes, batch, lower, train=False, dtype=torch.float32):
    spec = make_spec(shapes, batch_size=batch, dtype=dtype)
    try:
        return run_trace(model, spec, train=train, backend="meta", lower=lower)
    except TraceFailure as failure:
        return failure


def _same(lowered, dispatched):
    if isinstance(dispatched, TraceFailure):
        assert isinstance(lowered, TraceFailure), "lowering ran what PyTorch rejects"
        assert str(lowered) == str(dispatched)
        assert lowered.node == dispatched.node
        assert [c.name for c in lowered.calls] == [c.name for c in dispatched.calls]
        assert lowered.nodes == dispatched.nodes
        return
    assert not isinstance(lowered, TraceFailure), str(lowered)
    assert lowered == dispatched
    assert [n.refs for n in lowered.nodes] == [n.refs for n in dispatched.nodes]
    assert [c.output_refs for c in lowered.calls] == [c.output_refs for c in dispatched.calls]


@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_model_gives_the_same_graph_lowered(name):
    model = zoo.create(name).eval()
    shape = zoo.info(name).input_size
    _same(_trace(model, shape, 2, True), _trace(model, shape, 2, False))


class _Counting(Recorder):
    seen: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        _Counting.seen.append(str(func))
        return super().__torch_dispatch__(func, types, args, kwargs)


def test_lowered_modules_never_reach_the_dispatcher(monkeypatch):
    import convscope.trace as trace_package

    monkeypatch.setattr(trace_package, "Recorder", _Counting)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU6(inplace=True),
                          nn.Conv2d(8, 8, 1, bias=False), nn.ReLU(), nn.Hardtanh()).eval()
    _Counting.seen = []
    graph = _trace(model, (3, 16, 16), 1, True)
    assert len(graph.nodes) == 7 and _Counting.seen == []
    _Counting.seen = []
    _trace(model, (3, 16, 16), 1, False)
    assert len(_Counting.seen) == 7


def _python_key_excluded() -> bool:
    return torch._C._dispatch_tls_is_dispatch_key_excluded(torch._C.DispatchKey.Python)


def test_the_python_key_is_excluded_only_inside_a_lowered_module(monkeypatch):
    # the lowering sets and restores torch's thread-local exclusion itself (a private API):
    # inside, its own tensors are unseen by the recorder; after, even when it raised, all is back
    seen = []

    def record_lowered(self, func, args, tensors, out, kwargs=None):
        seen.append(_python_key_excluded())
        if len(seen) == 2:
            raise RuntimeError("recording failed")

    monkeypatch.setattr(Recorder, "record_lowered", record_lowered)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)).eval()
    failure = _trace(model, (3, 8, 8), 1, True)
    assert isinstance(failure, TraceFailure) and str(failure) == "RuntimeError: recording failed"
    assert seen == [True, True] and not _python_key_excluded()


class _OwnConv(nn.Conv2d):
    def forward(self, x):
        return super().forward(x) * 2


def test_a_subclass_with_its_own_forward_and_an_instance_forward_run_as_written():
    own = _OwnConv(3, 4, 3).eval()
    patched = nn.Conv2d(3, 4, 3).eval()
    patched.forward = lambda x: nn.Conv2d.forward(patched, x) + 1
    for model in (own, patched):
        graph = _trace(model, (3, 8, 8), 1, True)
        assert [n.op for n in graph.nodes] == ["aten.convolution.default",
                                               "aten.mul.Tensor" if model is own
                                               else "aten.add.Tensor"]


class _SeesConvolutions(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += func is torch.nn.functional.conv2d or func is torch.conv2d
        return func(*args, **(kwargs or {}))


def test_a_users_function_mode_still_sees_every_module_call():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)).eval()
    mode = _SeesConvolutions()
    with mode:
        graph = _trace(model, (3, 8, 8), 1, True)
    assert mode.calls == 2 and len(graph.nodes) == 2


_sizes = st.integers(1, 9)
_convs = st.fixed_dictionaries({
    "in_per_group": st.integers(1, 3), "out_per_group": st.integers(1, 3),
    "groups": st.integers(1, 3), "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "padding": st.one_of(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                         st.sampled_from(["same", "valid"])),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
    "bias": st.booleans(), "padding_mode": st.sampled_from(["zeros", "zeros", "reflect"]),
})


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv=_convs, size=st.tuples(_sizes, _sizes), batch=st.integers(1, 2),
       wrong_channels=st.booleans(), unbatched=st.booleans(), channels_last=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_conv2d_lowered_matches_its_forward(conv, size, batch, wrong_channels, unbatched,
                                            channels_last, dtype):
    if conv["padding"] == "same" and max(conv["stride"]) > 1:
        conv["stride"] = (1, 1)  # PyTorch refuses to build it
    layer = nn.Conv2d(conv["in_per_group"] * conv["groups"], conv["out_per_group"] * conv["groups"],
                      conv["kernel"], conv["stride"], conv["padding"], conv["dilation"],
                      conv["groups"], conv["bias"], conv["padding_mode"]).eval()
    channels = layer.in_channels + wrong_channels
    model = nn.Sequential(layer)
    if channels_last:
        model = nn.Sequential(_ChannelsLast(), layer)
    shape = (channels, *size)
    if unbatched:
        spec = make_spec(None, input_data=torch.zeros(shape, dtype=dtype))
        lowered = _run(model, spec, True)
        _same(lowered, _run(model, spec, False))
        return
    _same(_trace(model, shape, batch, True, dtype=dtype),
          _trace(model, shape, batch, False, dtype=dtype))


class _ChannelsLast(nn.Module):
    def forward(self, x):
        return x.contiguous(memory_format=torch.channels_last)


def _run(model, spec, lower):
    try:
        return run_trace(model, spec, train=False, backend="meta", lower=lower)
    except TraceFailure as failure:
        return failure


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channels=st.integers(1, 4), extra=st.integers(-1, 1), affine=st.booleans(),
       stats=st.booleans(), momentum=st.sampled_from([0.1, None, 0]),
       eps=st.sampled_from([1e-5, 1]),
       train=st.booleans(), rank=st.sampled_from([3, 4, 4, 5]), batch=st.integers(1, 3),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
def test_batch_norm_2d_lowered_matches_its_forward(channels, extra, affine, stats, momentum, eps,
                                                   train, rank, batch, dtype):
    layer = nn.BatchNorm2d(channels, eps, momentum, affine, stats)
    model = nn.Sequential(layer)
    shape = (max(channels + extra, 1), *([3] * (rank - 2)))
    _same(_trace(model, shape, batch, True, train=train, dtype=dtype),
          _trace(model, shape, batch, False, train=train, dtype=dtype))


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["relu", "relu6", "hardtanh"]), inplace=st.booleans(),
       bounds=st.sampled_from([(-1.0, 1.0), (0, 6), (-2, 0.5)]), channels_last=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.int64]))
def test_activations_lowered_match_their_forward(kind, inplace, bounds, channels_last, dtype):
    layer = {"relu": lambda: nn.ReLU(inplace), "relu6": lambda: nn.ReLU6(inplace),
             "hardtanh": lambda: nn.Hardtanh(*bounds, inplace=inplace)}[kind]()
    model = nn.Sequential(_ChannelsLast(), layer) if channels_last else nn.Sequential(layer)
    _same(_trace(model, (3, 4, 5), 2, True, dtype=dtype),
          _trace(model, (3, 4, 5), 2, False, dtype=dtype))


def test_a_hardtanh_with_tensor_bounds_is_dispatched_as_its_forward_reads_them():
    # F.hardtanh compares the bounds and reads each as a number: ops the lowering never runs
    model = nn.Sequential(nn.Hardtanh(torch.tensor(-1.0), torch.tensor(1.0))).eval()
    lowered = _trace(model, (3, 4, 5), 2, True)
    _same(lowered, _trace(model, (3, 4, 5), 2, False))
    assert [n.op for n in lowered.nodes][-1] == "aten.hardtanh.default"
    assert "aten.gt.Tensor" in [n.op for n in lowered.nodes]


def test_autocast_around_an_analysis_changes_neither_graph():
    # CPU autocast does not reach meta tensors, lowered or not: both graphs stay float32
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lowered, dispatched = _trace(model, (3, 16, 16), 1, True), _trace(model, (3, 16, 16), 1,
                                                                         False)
    _same(lowered, dispatched)
    assert {n.outputs[0].dtype for n in lowered.nodes} == {"float32", "uint8"}
