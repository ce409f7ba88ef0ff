"""The trace against real forwards: shapes, graph edges, backends, model state."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import convscope
from convscope import zoo
from convscope.trace import run_trace, trace
from convscope.trace.inputs import make_spec
from tests.conftest import assert_same_model, real_inputs, real_leaf_outputs, snapshot
from tests.nets import NETWORKS


@pytest.mark.parametrize("name", NETWORKS)
def test_module_rows_match_a_real_forward_row_by_row(name):
    build, shapes = NETWORKS[name]
    model = build().eval()
    report = convscope.analyze(model, shapes, batch_size=2)
    expected = real_leaf_outputs(model, real_inputs(shapes, batch_size=2))
    got = [(r.name, r.output_shape) for r in report.rows if r.kind == "module"]
    assert got == expected


@pytest.mark.parametrize("name", NETWORKS)
def test_every_op_output_matches_the_same_trace_on_real_tensors(name):
    build, shapes = NETWORKS[name]
    model = build().eval()
    spec = make_spec(shapes, batch_size=3)
    shape_only = run_trace(model, spec, train=False, backend="meta")
    real = run_trace(model, spec, train=False, backend="real")
    assert [n.op for n in shape_only.nodes] == [n.op for n in real.nodes]
    assert [n.outputs for n in shape_only.nodes] == [n.outputs for n in real.nodes]
    assert shape_only.outputs == real.outputs


@pytest.mark.parametrize("backend", ["meta", "fake"])
def test_both_shape_only_backends_give_the_same_graph(backend):
    model = NETWORKS["residual"][0]().eval()
    spec = make_spec((3, 32, 32), batch_size=2)
    graph = run_trace(model, spec, train=False, backend=backend)
    reference = run_trace(model, spec, train=False, backend="real")
    assert [(n.op, n.outputs) for n in graph.nodes] == [(n.op, n.outputs) for n in reference.nodes]


def test_producer_edges_follow_the_residual_add():
    model = NETWORKS["residual"][0]().eval()
    graph = trace(model, make_spec((3, 32, 32)))
    adds = [n for n in graph.nodes if n.packet == "aten.add"]
    assert len(adds) == 2
    first = adds[0]
    producers = {graph.producer(r).op for r in first.refs}
    # x (the stem's in-place ReLU) + a2(...) (a convolution)
    assert producers == {"aten.relu_.default", "aten.convolution.default"}
    assert all(graph.calls[graph.nodes[r.source].call].name in ("stem.2", "a2")
               for r in first.refs)


def test_inplace_op_becomes_the_producer_of_later_uses():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Conv2d(2, 2, 1))
    graph = trace(model, make_spec((1, 8, 8)))
    relu, conv2 = graph.nodes[1], graph.nodes[2]
    assert relu.inplace and relu.op == "aten.relu_.default"
    assert conv2.args[0].kind == "node" and conv2.args[0].source == relu.index


def test_parameters_and_inputs_are_named_in_refs():
    graph = trace(nn.Conv2d(3, 4, 3), make_spec((3, 8, 8)))
    conv = graph.nodes[0]
    assert conv.args[0].kind == "input"
    assert (conv.args[1].kind, conv.args[1].source) == ("param", "weight")
    assert (conv.args[2].kind, conv.args[2].source) == ("param", "bias")


def test_shared_module_gets_two_calls():
    graph = trace(NETWORKS["shared_conv"][0](), make_spec((4, 16, 16)))
    conv_calls = [c for c in graph.calls if c.name == "conv"]
    assert [c.call_number for c in conv_calls] == [0, 1]


@pytest.mark.parametrize("train", [False, True])
def test_analysis_leaves_the_model_unchanged(train):
    model = NETWORKS["residual"][0]()
    model.stem[1].running_mean.fill_(0.5)
    model.eval() if not train else model.train()
    model.head.weight.requires_grad_(False)
    before = snapshot(model)
    convscope.analyze(model, (3, 32, 32), batch_size=4, train=train)
    convscope.analyze(model, (3, 32, 32), batch_size=4, train=not train, real=True)
    assert_same_model(model, before)


def test_a_failed_trace_puts_the_very_same_tensors_back():
    model = NETWORKS["residual"][0]().eval()
    tensors = {name: t for name, t in [*model.named_parameters(), *model.named_buffers()]}
    before = snapshot(model)
    with pytest.raises(convscope.trace.TraceFailure):
        run_trace(model, make_spec((5, 32, 32)), train=True, backend="meta")  # 5 channels, not 3
    assert all(t is tensors[name] for name, t in [*model.named_parameters(),
                                                  *model.named_buffers()])
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    assert_same_model(model, before)


def test_tied_weights_stay_tied_during_the_trace():
    encoder, decoder = nn.Linear(4, 6, bias=False), nn.Linear(6, 4, bias=False)
    decoder.weight = nn.Parameter(encoder.weight.t().contiguous())
    tied = nn.Linear(4, 6, bias=False)
    tied.weight = encoder.weight
    graph = trace(nn.Sequential(encoder, nn.ReLU(), decoder, tied), make_spec((4,)))
    weights = [r for n in graph.nodes for r in n.refs if r.kind == "param"]
    # both uses of the one tensor are the one parameter, named for its first owner
    assert [r.source for r in weights] == ["0.weight", "2.weight", "0.weight"]


def test_batch_norm_with_a_cumulative_average_traces_in_training_mode():
    # momentum=None: the running average weighs by 1 / float(num_batches_tracked)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=None))
    before = snapshot(model)
    graph = trace(model, make_spec((3, 8, 8), batch_size=2), train=True)
    assert graph.meta["backend"] == "meta"
    assert "aten._local_scalar_dense.default" in [n.op for n in graph.nodes]
    assert graph.nodes[-1].outputs[0].shape == (2, 4, 6, 6)
    memory = convscope.analyze(model, (3, 8, 8), batch_size=2, memory=True)
    assert memory.totals.train_peak_bytes > 0
    assert_same_model(model, before)  # the counter is still 0


def test_batch_norm_with_a_cumulative_average_traces_on_fake_tensors_too():
    # a CPU constant sends the trace to fake tensors, whose counter copy had no value: "needs
    # real tensor values" for a model a real forward runs
    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(4, momentum=None)

        def forward(self, x):
            return self.bn(x) + torch.ones(1, 4, 1, 1)

    model = Cumulative()
    before = snapshot(model)
    graph = trace(model, make_spec((4, 8, 8), batch_size=2), train=True)
    assert graph.meta["backend"] == "fake" and graph.nodes[-1].outputs[0].shape == (2, 4, 8, 8)
    assert convscope.analyze(model, (4, 8, 8), batch_size=2, memory=True).totals.train_peak_bytes
    assert_same_model(model, before)


def test_a_frozen_torchscript_model_has_no_training_flags_to_set():
    # 'RecursiveScriptModule' object has no attribute 'training', before any forward ran
    frozen = torch.jit.freeze(torch.jit.script(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()))
    report = convscope.analyze(frozen, (3, 8, 8))
    assert report.totals.macs == 8 * 6 * 6 * 3 * 3 * 3
    assert report.totals.params == sum(p.numel() for p in frozen.parameters()) == 0  # constants


def test_a_module_that_overrides_train_keeps_its_own_rule():
    class FrozenNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def train(self, mode=True):
            super().train(mode)
            self.bn.eval()  # statistics frozen, as fine-tuning recipes do
            return self

        def forward(self, x):
            return self.bn(self.conv(x))

    model = FrozenNorm().eval()
    ops = [n.op for n in trace(model, make_spec((3, 8, 8)), train=True).nodes]
    # eval-mode BatchNorm: no batch statistics, no num_batches_tracked += 1
    assert "aten.add_.Tensor" not in ops
    assert not model.training and not model.bn.training


@pytest.mark.parametrize("train", [False, True])
def test_a_scripted_model_traces_in_the_mode_asked_and_keeps_its_own(train):
    """A ScriptModule keeps its flag in C++: a trace must switch it there and put it back."""
    model = torch.jit.script(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(0.5)))
    model.train(not train)
    ops = [n.op for n in convscope.analyze(model, (1, 8, 8), train=train).graph.nodes]
    assert ("aten.bernoulli_.float" in ops) == train
    flags = [m._c.getattr("training") for _, m in model.named_modules()]
    assert flags == [not train] * 3 and model.training is not train
    dropped = (model(torch.ones(1, 1, 8, 8)) == 0).any().item()
    assert dropped is (not train)  # the real forward still runs in its own mode


def test_a_model_in_training_mode_is_traced_in_eval_mode_and_left_training():
    model = NETWORKS["depthwise_separable"][0]()  # as built: training
    ops = [n.op for n in trace(model, make_spec((3, 32, 32))).nodes]
    assert "aten.bernoulli_.float" not in ops and "aten.add_.Tensor" not in ops
    assert all(m.training for m in model.modules())


def test_train_mode_changes_what_runs_and_is_restored():
    model = NETWORKS["depthwise_separable"][0]().eval()
    eval_ops = [n.op for n in trace(model, make_spec((3, 32, 32))).nodes]
    train_ops = [n.op for n in trace(model, make_spec((3, 32, 32)), train=True).nodes]
    # dropout draws its mask only in training; BatchNorm counts batches (an in-place add)
    assert "aten.bernoulli_.float" in train_ops and "aten.bernoulli_.float" not in eval_ops
    assert train_ops.count("aten.add_.Tensor") == 2 and "aten.add_.Tensor" not in eval_ops
    assert not model.training


def test_meta_failure_falls_back_to_fake_tensors():
    class MakesCpuTensors(nn.Module):
        def forward(self, x):
            ramp = torch.arange(x.shape[-1], dtype=x.dtype)  # created on the CPU
            return x * ramp

    graph = trace(MakesCpuTensors(), make_spec((2, 5)))
    assert graph.meta["backend"] == "fake"
    assert graph.nodes[-1].outputs[0].shape == (1, 2, 5)


def test_several_input_kinds():
    model = NETWORKS["two_inputs"][0]()
    by_shape = convscope.analyze(model, [(3, 12, 12), (6,)], batch_size=5)
    by_data = convscope.analyze(model, input_data=(torch.zeros(5, 3, 12, 12), torch.zeros(5, 6)))
    by_kwargs = convscope.analyze(model, input_data=(torch.zeros(5, 3, 12, 12),),
                                  input_kwargs={"extra": torch.zeros(5, 6)})
    for report in (by_shape, by_data, by_kwargs):
        assert report.input_shapes == [[5, 3, 12, 12], [5, 6]]
        assert report.rows[-1].output_shape == [5, 3]
        assert report.totals.macs == by_shape.totals.macs


class _PairAndDict(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, pair, extra):
        first, second = pair
        first.relu_()  # into the example tensor, were it not a shape-only copy
        return self.conv(first) + self.conv(second) * extra["scale"]


def test_tensors_nested_in_the_inputs_are_shape_only_inputs_of_the_graph():
    # they were passed as they were: left out of input_shapes and input_bytes, no receptive
    # field, and the forward ran on (and wrote into) the user's real tensors
    x, scale = torch.randn(2, 3, 8, 8), torch.ones(2, 1, 1, 1)
    before = x.clone()
    report = convscope.analyze(_PairAndDict(), input_data=((x, x.clone()), {"scale": scale}))
    assert report.input_shapes == [[2, 3, 8, 8], [2, 3, 8, 8], [2, 1, 1, 1]]
    assert report.totals.input_bytes == (2 * 2 * 3 * 8 * 8 + 2) * 4
    assert torch.equal(x, before)
    assert report.rows[-1].rf.axes[0].size == 3  # from the first image, through the conv
    assert {n.op for n in report.graph.nodes if any(r.kind == "const" for r in n.refs)} == set()


def test_example_tensors_keep_their_batch_and_a_batch_size_against_it_is_refused():
    model = nn.Conv2d(3, 4, 3)
    report = convscope.analyze(model, input_data=torch.zeros(2, 3, 8, 8))
    assert report.graph.meta["batch_size"] == 2 and report.input_shapes == [[2, 3, 8, 8]]
    assert convscope.analyze(model, input_data=torch.zeros(2, 3, 8, 8), batch_size=2).rows
    with pytest.raises(convscope.UsageError, match=r"batch_size=8 does not apply to input_data"
                       r".*own batch \(2 here\).*input_size=\(3, 8, 8\) with batch_size=8"):
        convscope.analyze(model, input_data=torch.zeros(2, 3, 8, 8), batch_size=8)


def test_an_input_size_given_with_example_tensors_must_be_their_shape():
    model = nn.Conv2d(3, 4, 3)
    x = torch.zeros(1, 3, 8, 8)
    assert convscope.analyze(model, (3, 8, 8), input_data=x).input_shapes == [[1, 3, 8, 8]]
    assert convscope.analyze(model, [(3, 8, 8)], input_data=x).input_shapes == [[1, 3, 8, 8]]
    with pytest.raises(convscope.UsageError, match=r"input_size=\(3, 64, 64\) does not apply to "
                       r"input_data.*\(3, 8, 8\) without batch"):
        convscope.analyze(model, (3, 64, 64), input_data=x)


def test_an_input_size_of_numpy_integers_is_a_shape():
    numpy = pytest.importorskip("numpy")
    report = convscope.analyze(nn.Conv2d(3, 4, 3), (3, numpy.int64(8), numpy.int32(8)))
    assert report.input_shapes == [[1, 3, 8, 8]] and report.rows[0].output_shapes == ((1, 4, 6, 6),)
    assert all(type(d) is int for d in report.graph.inputs[0].shape)


def test_values_that_are_not_tensors_are_passed_as_they_are():
    class Resize(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(3, 4, 3, stride=2)

        def forward(self, x, size=(4, 4), output_size=None):
            return self.up(nn.functional.interpolate(x, size=size), output_size=output_size)

    model = Resize()
    kwargs = {"size": (5, 6), "output_size": [12, 14]}  # shapes, but arguments, not inputs
    expected = list(model(torch.zeros(2, 3, 8, 8), **kwargs).shape)
    assert expected == [2, 4, 12, 14]
    by_shape = convscope.analyze(model, (3, 8, 8), batch_size=2, input_kwargs=kwargs)
    by_data = convscope.analyze(model, input_data=(torch.zeros(2, 3, 8, 8), (5, 6), [12, 14]))
    assert by_shape.rows[-1].output_shape == by_data.rows[-1].output_shape == expected
    assert by_shape.input_shapes == by_data.input_shapes == [[2, 3, 8, 8]]


def test_dtype_sets_input_and_byte_counts():
    model = nn.Conv2d(3, 8, 3).to(torch.bfloat16)
    report = convscope.analyze(model, (3, 10, 10), dtype=torch.bfloat16)
    # out [1, 8, 8, 8] in bfloat16: 512 elements x 2 bytes
    assert report.rows[0].output_bytes == 1024
    assert report.totals.input_bytes == 3 * 10 * 10 * 2


def test_params_and_buffers_are_named_as_torch_names_them_with_tied_weights_once():
    encoder, decoder = nn.Linear(4, 6, bias=False), nn.Linear(6, 4, bias=False)
    tied = nn.Linear(4, 6)
    tied.weight = encoder.weight  # one tensor, two owners: counted for the first
    model = nn.Sequential(encoder, nn.BatchNorm1d(6), decoder, tied)
    model[1].register_buffer("scratch", torch.zeros(3), persistent=False)
    graph = trace(model, make_spec((4,), batch_size=2))
    assert [p.name for p in graph.params] == [n for n, _ in model.named_parameters()]
    assert [b.name for b in graph.buffers] == [n for n, _ in model.named_buffers()]
    assert [p.name for p in graph.params] == ["0.weight", "1.weight", "1.bias", "2.weight",
                                              "3.bias"]
    assert [p.module for p in graph.params] == ["0", "1", "1", "2", "3"]
    assert [p.meta.shape for p in graph.params] == [tuple(p.shape) for p in model.parameters()]
    assert "1.scratch" in [b.name for b in graph.buffers]


def test_a_trace_leaves_nothing_for_the_garbage_collector():
    """Reference counts free what a trace made: the recorder and its tensors are in no cycle,
    so no collection has to scan and free them later (it cost 5-8 ms after each analysis)."""
    import gc

    model = zoo.create("resnet18").eval()
    spec = make_spec((3, 64, 64))
    trace(model, spec)  # first calls fill caches that live on
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection frees is kept in gc.garbage to look at
    try:
        graph = trace(model, spec)
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # torch's pytree leaves a few self-referencing helper closures of its own: not ours
    ours = [type(o).__name__ for o in garbage
            if isinstance(o, torch.Tensor) or type(o).__module__.startswith("convscope")]
    assert ours == []
    assert len(graph.nodes) > 50


def test_analyze_runs_at_most_one_collection_and_leaves_the_collector_on():
    import gc

    model = zoo.create("resnet18").eval()
    convscope.analyze(model, (3, 64, 64))
    started = []

    def note(phase, info):
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(note)
    try:
        report = convscope.analyze(model, (3, 64, 64))
        during = list(started)
        del report
        gc.collect()
    finally:
        gc.callbacks.remove(note)
    # thousands of records made and no collection among them: the one allowed comes after,
    # when the report is made with the collector back on
    assert len(during) <= 1
    assert started[-1] == 2  # the test's own full collection: the callback was listening
    assert gc.isenabled()


def test_the_recorder_opts_out_of_the_torch_compile_guard():
    """PyTorch wraps a dispatch mode's handler in a guard against torch.compile (~8 us an op)
    unless the mode's ``_should_skip_dynamo`` says False; an upgrade that renames the hook
    would bring the cost back silently."""
    from convscope.trace.recorder import Recorder
    from convscope.trace.storage import StorageTracker

    # the memory simulation's tracker too: its step imports TorchDynamo (backward, the
    # optimizer), after which the guard wrapped each of its ~2,000 ops
    for mode in (Recorder, StorageTracker):
        assert not hasattr(mode.__torch_dispatch__, "__wrapped__")
        assert mode._should_skip_dynamo() is False
    assert hasattr(torch.utils._python_dispatch.TorchDispatchMode, "_should_skip_dynamo")


def test_the_garbage_collector_is_back_on_after_a_trace_even_a_failed_one():
    import gc

    assert gc.isenabled()
    trace(nn.Conv2d(3, 4, 3), make_spec((3, 8, 8)))
    assert gc.isenabled()
    with pytest.raises(convscope.trace.TraceFailure):
        run_trace(nn.Conv2d(3, 4, 3), make_spec((5, 8, 8)), train=False, backend="meta")
    assert gc.isenabled()
    gc.disable()
    try:  # a caller who turned it off keeps it off
        trace(nn.Conv2d(3, 4, 3), make_spec((3, 8, 8)))
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Tagged(torch.Tensor):
    """A tensor subclass with torch's default __torch_function__ (it keeps the subclass)."""


@pytest.mark.parametrize("make", [
    lambda: nn.Parameter(torch.randn(8, 4, 3, 3)),
    lambda: nn.Parameter(torch.randn(8, 4, 3, 3).to(memory_format=torch.channels_last)),
    lambda: nn.Parameter(torch.randn(4, 8).t()),  # a transposed weight: strides kept
    lambda: nn.Parameter(torch.randn(5), requires_grad=False),
    lambda: torch.tensor(3, dtype=torch.long),  # num_batches_tracked
    lambda: torch.randn(3, 2).as_subclass(_Tagged),  # a subclass: a plain meta copy all the same
    lambda: nn.Parameter(torch.empty(8, 4, 3, 3, device="meta")),  # a model built shapes-only
    lambda: torch.empty((), dtype=torch.long, device="meta"),  # its counter has no value to copy
])
def test_meta_copies_keep_shape_strides_dtype_and_requires_grad(make):
    from convscope.trace.backends import meta_backend

    t = make()
    copy = meta_backend()[3](t)
    # read as a number: a real copy
    counter = not t.shape and not t.is_floating_point() and not t.is_meta
    assert copy.device.type == ("cpu" if counter else "meta") and type(copy) is torch.Tensor
    assert copy is not t and (not counter or copy.item() == t.item())
    assert (copy.shape, copy.stride(), copy.dtype, copy.requires_grad) == (
        t.shape, t.stride(), t.dtype, t.requires_grad)


class _MaskedConv(nn.Module):
    """A forward whose output shape depends on the values: what ``real=True`` is for."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x):
        y = torch.relu_(self.norm(self.conv(x)) + x.mean())
        return y[y > 0.5]


def test_real_trace_computes_every_op_so_value_dependent_shapes_are_the_real_ones():
    torch.manual_seed(0)
    model = _MaskedConv().eval()
    model.norm.running_mean.uniform_(-1, 1)
    x = torch.randn(2, 3, 8, 8)
    expected = tuple(model(x).shape)
    assert 0 < expected[0] < 2 * 4 * 8 * 8  # the mask keeps some values, not all
    graph = trace(model, make_spec(None, input_data=[x]), real=True)
    assert [r.shape for r in graph.outputs] == [expected]


class _Stateful(nn.Module):
    """A forward that stores on its module: a cached tensor, a counter, a lazy buffer."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.utils.weight_norm(nn.Linear(8, 8))  # recomputes proj.weight
        self.cache, self.calls = None, 0
        self.register_buffer("seen", None)

    def forward(self, x):
        if self.cache is None:
            self.cache = torch.ones(x.shape[-1], device=x.device)
        if self.seen is None:
            self.register_buffer("seen", torch.zeros(1, device=x.device))
        self.register_buffer("made_in_forward", torch.zeros(1, device=x.device))
        self.calls += 1
        return self.proj(x) * self.cache


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
@pytest.mark.parametrize("kwargs", [{}, {"train": True}, {"real": True}, {"memory": True}])
def test_what_the_forward_stores_on_a_module_is_undone(kwargs):
    model = _Stateful()
    weight, attributes = model.proj.weight, dict(model.__dict__)
    convscope.analyze(model, (5, 8), **kwargs)
    assert model.cache is None and model.calls == 0 and model.seen is None
    assert "made_in_forward" not in model._buffers and not list(model.buffers())
    assert model.proj.weight is weight  # not weight_norm's meta recomputation
    assert all(model.__dict__[k] is v for k, v in attributes.items())
    assert model(torch.ones(1, 5, 8)).shape == (1, 5, 8)  # the model still runs for real


class _Grows(nn.Module):
    """A leaf with no buffers or children that makes both in its forward: empty tables grow."""

    def forward(self, x):
        self.register_buffer("made", torch.zeros(1, device=x.device))
        self.extra = nn.Identity()
        return self.extra(x) * 2


def test_what_the_forward_adds_to_an_empty_table_is_taken_out():
    model = nn.Sequential(_Grows())
    convscope.analyze(model, (3, 4))
    assert dict(model[0]._buffers) == {} and dict(model[0]._modules) == {}
    assert "extra" not in model[0].__dict__


class _ReadsChildWeight(nn.Module):
    """A parent that reads its child's weight without an op (its device, dtype, flag) and
    writes into it without one (``requires_grad_``, ``.data =``)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        self.conv.weight.requires_grad_(False)
        self.conv.bias.data = torch.zeros_like(self.conv.bias)
        w = self.conv.weight
        return y + torch.ones(y.shape[1:], device=w.device, dtype=w.dtype)


def test_a_parent_sees_and_changes_only_shape_only_copies_of_its_childs_weight():
    # every tensor is copied, a lowered leaf's too: leaving those in place (their lowering reads
    # only their shapes) let the parent see a CPU device and change the user's model
    model = _ReadsChildWeight().eval()
    bias = model.conv.bias.detach().clone()
    graph = trace(model, make_spec((3, 8, 8)))
    assert graph.meta["backend"] == "meta"
    assert model.conv.weight.requires_grad and torch.equal(model.conv.bias, bias)


def test_a_real_trace_leaves_the_users_input_weights_and_random_generator_alone():
    # x.relu_() wrote into the user's input_data, weight.clamp_() into the user's weight, and
    # the random input advanced the global generator
    class WritesInPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.drop = nn.Conv2d(3, 4, 3), nn.Dropout()

        def forward(self, x):
            with torch.no_grad():
                self.conv.weight.clamp_(-0.01, 0.01)
            return self.drop(self.conv(x.relu_()))

    model, x = WritesInPlace(), torch.randn(1, 3, 8, 8)
    before, x_before = snapshot(model), x.clone()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    convscope.analyze(model, input_data=x, real=True, train=True)
    convscope.analyze(model, (3, 8, 8), real=True, train=True)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(x, x_before)
    assert_same_model(model, before)
    assert isinstance(model.conv.weight, nn.Parameter)


@pytest.mark.parametrize("levels,start", [
    (200, "layer 0.0.0"),  # past the limit in the trace: PyTorch alone runs it
    (1000, "Sequential nests its modules deeper than Python's recursion limit (1000)"),
])
def test_a_model_nested_past_the_recursion_limit_is_told_how_to_raise_it(levels, start):
    # a RecursionError: "failed: maximum recursion depth exceeded", or raw from named_modules
    model = nn.Linear(8, 8)
    for _ in range(levels):
        model = nn.Sequential(model, nn.ReLU())
    with pytest.raises(convscope.ModelError) as caught:
        convscope.analyze(model, (8,))
    assert str(caught.value).startswith(start)
    assert str(caught.value).endswith(
        "Fix: raise the limit before analysing, e.g. sys.setrecursionlimit(10_000).")


def test_a_real_trace_of_meta_weights_or_of_an_input_past_the_memory_says_what_to_change():
    # "Tensor on device meta is not on the expected device cpu!", and a raw RuntimeError from
    # the allocator for a batch of 10**9
    with torch.device("meta"):
        shapes_only = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    with pytest.raises(convscope.UsageError, match=r"weights are shapes only \(on the meta device, "
                                                   r"0.weight first\)"):
        convscope.analyze(shapes_only, (3, 8, 8), real=True)
    with pytest.raises(convscope.UsageError, match="a real input of batch 1000000000, more than"):
        convscope.analyze(nn.Conv2d(1, 2, 3), (1, 32, 32), batch_size=10**9, real=True)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_the_caller_s_grad_mode_changes_no_number_and_is_left_as_it_was(mode):
    # under inference_mode PyTorch kept linear whole (uncounted, its MACs missing); under
    # either mode the training step skipped its backward (no saved tensors, a lower peak)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    plain = convscope.analyze(model, (3, 32, 32), memory=True)
    with mode():
        inside = convscope.analyze(model, (3, 32, 32), memory=True)
        assert not torch.is_grad_enabled()
    assert (inside.totals.macs, inside.uncounted) == (plain.totals.macs, plain.uncounted)
    assert inside.totals.train_peak_bytes == plain.totals.train_peak_bytes
    assert [r.saved_bytes for r in inside.rows] == [r.saved_bytes for r in plain.rows]
    assert any(r.saved_bytes for r in plain.rows)


def test_a_view_of_a_channels_last_conv_output_fails_as_on_the_cpu():
    # the CPU lays the conv's output out channels-last, where .view(N, -1) fails; the meta
    # kernel laid it out row-major, and the analysis showed a table for a model that cannot run
    class Viewed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return self.conv(x.contiguous(memory_format=torch.channels_last)).view(len(x), -1)

    with pytest.raises(RuntimeError, match="view size is not compatible"):
        Viewed()(torch.randn(2, 3, 8, 8))
    with pytest.raises(convscope.ConvscopeError, match="Cannot view a tensor"):
        convscope.analyze(Viewed(), (3, 8, 8), batch_size=2)


class _TwoConstants(nn.Module):
    """Two plain tensor attributes, no parameter or buffer: constants of the graph."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.scale = torch.ones(3, 1, 1, device="meta")
        self.shift = torch.zeros(3, 1, 1, device="meta")

    def forward(self, x):
        return self.conv(x) * self.scale + self.shift


@pytest.mark.parametrize("step", [False, True])
def test_each_constant_tensor_has_a_ref_of_its_own(step):
    # numbered in the order met; the training step's recorder keeps no tensor alive, and once
    # numbered every constant by the tensors it kept: all of them 0
    from convscope.trace.training import simulate_step

    model, spec = _TwoConstants(), make_spec((3, 4, 4))
    graph = simulate_step(model, spec).forward if step else trace(model, spec)
    constants = [r for n in graph.nodes for r in n.refs if r.kind == "const"]
    assert [r.source for r in constants] == [0, 1]
