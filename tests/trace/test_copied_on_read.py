"""A lowered meta trace makes each parameter's and buffer's shape-only copy on its first read
(``state.copied_on_read``): whatever the model's code reads, and however, it meets those copies,
never the user's tensors, and the graph is the one recorded with every forward run."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from convscope.graph import Ref
from convscope.trace import run_trace, trace
from convscope.trace.backends import meta_backend
from convscope.trace.inputs import make_spec
from tests.trace.test_lowering import _same, _trace


def _lowered_and_dispatched(model, shape=(3, 6, 6), train=False):
    """The lowered graph, once test_lowering's comparison has found it equal to the dispatched."""
    lowered = _trace(model, shape, 1, True, train=train)
    _same(lowered, _trace(model, shape, 1, False, train=train))
    return lowered


class _ReadsEveryWay(nn.Module):
    """A parent that reads its lowered children's tables in every way a dict is read; what it
    read goes to ``seen``, a list on the class (the forward's own attributes are undone)."""

    seen: list = []

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.norm(self.conv(x))
        table = self.conv._parameters
        reads = [self.conv.weight, table["weight"], table.get("weight"), *table.values(),
                 *dict(table).values(), *{**table}.values(), *table.copy().values(),
                 *(t for _, t in table.items()), next(self.conv.parameters())]
        weights = [t for t in reads if t is not None]  # the table's bias is None
        others = [*self.norm._buffers.values(), *self.state_dict().values()]
        _ReadsEveryWay.seen[:] = [weights, others, repr(table)]
        return y


def test_every_read_of_a_table_gives_the_same_shape_only_copy_and_the_tables_come_back():
    # a lowered leaf's tables hand out each copy on its first read (state.copied_on_read):
    # whatever way the forward reads them, it meets one meta copy, never the user's tensor
    model = _ReadsEveryWay().eval()
    tables = [(m, m._parameters, m._buffers) for m in model.modules()]
    graph = trace(model, make_spec((3, 5, 5)))
    weights, others, shown = _ReadsEveryWay.seen
    assert shown == ("{'weight': tensor(..., device='meta', size=(4, 3, 3, 3), "
                     "requires_grad=True), 'bias': None}")
    assert graph.meta["backend"] == "meta"
    assert len(weights) == 9 and all(t is weights[0] and t.is_meta for t in weights)
    assert len(others) == 9 and all(t.is_meta or t.dtype == torch.int64 for t in others)
    assert all(m._parameters is p and m._buffers is b and type(p) is dict
               for m, p, b in tables)
    assert not model.conv.weight.is_meta


class _TiedAcrossLowering(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(4, 4, 1, bias=False)
        self.second = nn.Conv2d(4, 4, 1, bias=False, padding_mode="reflect")  # not lowered
        self.second.weight = self.first.weight

    def forward(self, x):
        return self.second(self.first(x))


def test_a_weight_tied_to_a_module_that_is_not_lowered_is_one_parameter_of_both_ops():
    model = _TiedAcrossLowering().eval()
    graph = trace(model, make_spec((4, 6, 6)))
    convs = [n for n in graph.nodes if n.op == "aten.convolution.default"]
    weight = Ref("param", "first.weight", 0, convs[0].args[1].meta)
    assert len(convs) == 2 and [n.args[1] for n in convs] == [weight, weight]
    assert [p.name for p in graph.params] == ["first.weight"]


class _StoresForeignTensor(nn.Module):
    """A forward that puts a CPU tensor in a lowered leaf's table before calling it."""

    def __init__(self, table):
        super().__init__()
        self.norm = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 4, 3)
        self.table = table

    def forward(self, x):
        if self.table == "conv":
            self.conv.bias = nn.Parameter(torch.zeros(4))
        else:
            self.norm.running_mean = torch.zeros(3)
        return self.conv(self.norm(x))


@pytest.mark.parametrize("table", ["conv", "norm"])
def test_a_cpu_tensor_the_forward_stores_is_met_by_the_modules_own_forward(table):
    # a lowering reads the model's own tensors as shapes; a CPU tensor the forward stored is no
    # such tensor: the module's own forward runs, so the graph is the dispatched one, and the
    # user's tensor is back afterwards
    model = _StoresForeignTensor(table).eval()
    bias, mean = model.conv.bias, model.norm.running_mean
    lowered = _lowered_and_dispatched(model)
    stored = "conv.bias" if table == "conv" else "norm.running_mean"
    assert stored not in {r.source for n in lowered.nodes for r in n.refs}
    assert model.conv.bias is bias and model.norm.running_mean is mean



class _HoldsTables(nn.Module):
    """A model that keeps its children's tables (and a view of one) from its constructor."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.tables = [self.conv._parameters, self.norm._buffers.values()]

    def forward(self, x):
        weight = self.tables[0]["weight"]
        weight.requires_grad_(False)
        next(iter(self.tables[1])).add_(1.0)
        return self.norm(self.conv(x)) + torch.ones((), device=weight.device)


def test_a_table_the_model_holds_elsewhere_is_filled_with_copies_as_before():
    # a table swapped whole would leave the model's own reference on the user's tensors: such a
    # model gets every copy up front, in the very tables it holds
    model = _HoldsTables().eval()
    mean = model.norm.running_mean.clone()
    graph = trace(model, make_spec((3, 6, 6)))
    assert graph.meta["backend"] == "meta"
    assert model.conv.weight.requires_grad and torch.equal(model.norm.running_mean, mean)
    assert model.tables[0] is model.conv._parameters and type(model.conv._parameters) is dict


class _SharesOneTable(nn.Module):
    """Two convs with one parameter table (``copy.copy`` of a module shares its dicts)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 1)
        self.b = copy.copy(self.a)

    def forward(self, x):
        self.a.bias = None  # the table b shares: b's conv has no bias either
        return self.b(self.a(x))


def test_two_modules_sharing_a_table_see_each_others_writes():
    model = _SharesOneTable().eval()
    graph = _lowered_and_dispatched(model)
    assert [len(n.refs) for n in graph.nodes] == [2, 2]
    assert model.a.bias is not None


class _CopiesItsChild(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        twin = copy.deepcopy(self.conv)
        same = self.conv._parameters == dict(self.conv._parameters)
        return self.norm(twin(x)) * float(same)


def test_a_deep_copy_or_a_comparison_of_a_table_during_the_forward_meets_the_copies():
    # deepcopy reached the recorder through the swapped-in table and never returned; == compared
    # the user's tensors with their copies, which fails on meta tensors
    model = _CopiesItsChild().eval()
    graph = _lowered_and_dispatched(model)
    assert [n.op for n in graph.nodes[:2]] == ["aten.clone.default"] * 2  # the twin's tensors
    assert trace(model, make_spec((3, 6, 6))).meta["backend"] == "meta"


class _ReadsUnderInferenceMode(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        with torch.inference_mode():
            self.norm.num_batches_tracked.shape  # the first read: the copy is made here
            self.conv.weight.shape
        self.conv.weight.mul_(1.0)
        return self.norm(self.conv(x))


@pytest.mark.parametrize("train", [False, True])
def test_a_copy_first_read_under_inference_mode_is_a_normal_tensor(train):
    model = _ReadsUnderInferenceMode().train(train)
    _lowered_and_dispatched(model, train=train)
    assert trace(model, make_spec((3, 6, 6)), train=train).meta["backend"] == "meta"


def test_a_tensor_that_is_a_parameter_here_and_a_buffer_there_has_its_first_owners_kind():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Identity())
    model[1].register_buffer("w", model[0].weight)
    graph = _lowered_and_dispatched(model.eval())
    assert graph.nodes[0].refs[1] == Ref("param", "0.weight", 0, graph.nodes[0].refs[1].meta)


class _Watched(nn.Parameter):
    """A parameter subclass that notes every device its own methods see."""

    devices: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        with torch._C.DisableTorchFunctionSubclass():
            _Watched.devices.extend(a.device.type for a in args if isinstance(a, torch.Tensor))
        return super().__torch_function__(func, types, args, kwargs or {})


def test_a_parameter_subclass_is_copied_before_a_lowering_reads_it():
    # its own methods see the user's tensor only while its copy is made, as in a trace that
    # copies every tensor up front: a lowering reads the copy
    model = nn.Sequential(nn.Conv2d(3, 4, 3)).eval()
    model[0].weight = _Watched(model[0].weight.detach())
    like = meta_backend()[3]
    _Watched.devices.clear()
    like(model[0].weight)
    one_copy = list(_Watched.devices)
    _Watched.devices.clear()
    graph = run_trace(model, make_spec((3, 6, 6)), train=False, backend="meta")
    assert _Watched.devices == one_copy and one_copy.count("cpu") >= 1
    assert graph.nodes[0].refs[1].source == "0.weight"


@pytest.mark.parametrize("patched", ["instance", "class"])
def test_a_conv_whose_conv_forward_is_replaced_runs_its_own_forward(patched, monkeypatch):
    # the lowering stands for forward and _conv_forward as PyTorch defines them
    model = nn.Sequential(nn.Conv2d(3, 4, 3)).eval()
    conv_forward = nn.Conv2d._conv_forward

    def doubled(self, x, weight, bias):
        return conv_forward(self, x, weight, bias) * 2

    if patched == "instance":
        model[0]._conv_forward = doubled.__get__(model[0])
    else:
        monkeypatch.setattr(nn.Conv2d, "_conv_forward", doubled)
    graph = _lowered_and_dispatched(model)
    assert [n.op for n in graph.nodes] == ["aten.convolution.default", "aten.mul.Tensor"]


class _RegistersInForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        self.conv.register_parameter("extra", nn.Parameter(torch.zeros(1)))
        self.norm.register_buffer("seen", torch.ones(1))
        self.conv.bias = None
        return self.norm(self.conv(x))


def test_what_the_forward_writes_into_a_swapped_table_is_thrown_away_with_it():
    model = _RegistersInForward().eval()
    params, buffers = dict(model.conv._parameters), dict(model.norm._buffers)
    graph = trace(model, make_spec((3, 6, 6)))
    assert graph.meta["backend"] == "meta"
    assert model.conv._parameters == params and model.norm._buffers == buffers
