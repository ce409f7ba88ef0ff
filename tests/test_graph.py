"""graph.record: a frozen dataclass with a cheaper constructor, and nothing else different."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from convscope.graph import Graph, Node, Ref, TensorMeta, record


@record
class Sample:
    name: str
    size: int = 3
    tags: dict = dataclasses.field(default_factory=dict)
    hidden: tuple = dataclasses.field(default=(), repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Twin:  # the same fields, made by dataclasses itself
    name: str
    size: int = 3
    tags: dict = dataclasses.field(default_factory=dict)
    hidden: tuple = dataclasses.field(default=(), repr=False, compare=False)


@pytest.mark.parametrize("args, kwargs", [
    (("a",), {}),
    (("a", 5), {"hidden": (1,)}),
    ((), {"name": "b", "tags": {"x": 1}}),
    (("c", 1, {"y": 2}, (3,)), {}),
])
def test_a_record_is_built_like_its_dataclass_twin(args, kwargs):
    ours, twin = Sample(*args, **kwargs), Twin(*args, **kwargs)
    assert dataclasses.asdict(ours) == dataclasses.asdict(twin)
    assert repr(ours).removeprefix("Sample") == repr(twin).removeprefix("Twin")
    assert ours == Sample(*args, **kwargs)
    assert ours == dataclasses.replace(ours, hidden=("other",))  # hidden does not compare
    assert ours != dataclasses.replace(ours, size=ours.size + 1)


def test_defaults_are_fresh_and_missing_or_unknown_arguments_raise_as_before():
    assert Sample("a").tags is not Sample("a").tags
    assert Sample("a", tags=None).tags is None is Twin("a", tags=None).tags
    with pytest.raises(TypeError):
        Sample()
    with pytest.raises(TypeError):
        Sample("a", colour="red")
    with pytest.raises(TypeError):
        Sample("a", 1, {}, (), "one too many")


def test_a_record_stays_frozen_hashable_and_copyable():
    meta = TensorMeta((1, 3, 8, 8), "float32", 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.itemsize = 2
    ref = Ref("node", 0, 0, meta)
    assert hash(ref) == hash(Ref("node", 0, 0, TensorMeta((1, 3, 8, 8), "float32", 4)))
    node = Node(0, "aten.relu.default", (ref,), {}, (meta,), None, refs=(ref,))
    assert pickle.loads(pickle.dumps(node)) == node and copy.deepcopy(node).refs == (ref,)
    graph = Graph((node,), (), (meta,), (ref,), (), (), "Net", False)
    assert graph.meta == {} and graph.meta is not Graph((), (), (), (), (), (), "", False).meta


def test_a_once_property_is_worked_out_on_first_read_and_then_read_as_stored():
    from convscope.graph import once

    runs = []

    @record
    class Counted:
        n: int

        @once
        def doubled(self) -> int:
            """Twice n."""
            runs.append(self.n)
            return 2 * self.n

    item = Counted(4)
    assert (item.doubled, item.doubled, runs) == (8, 8, [4])
    assert not hasattr(item, "__dict__")  # stored in a slot of its own: later reads are plain
    assert inspect.getdoc(Counted.doubled) == "Twice n." and Counted(4) == item  # not a field
    meta = TensorMeta((2, 3), "float32", 4)
    assert (meta.numel, meta.nbytes) == (6, 24)
    assert pickle.loads(pickle.dumps(meta)).nbytes == 24


def test_a_copier_is_replace_with_one_field():
    from convscope.graph import copier

    item = Sample("a", 5, {"x": 1}, (2,))
    renamed = copier(Sample, "name")(item, "b")
    assert renamed == dataclasses.replace(item, name="b") and renamed.hidden == (2,)
    assert item.name == "a" and renamed.tags is item.tags
    with pytest.raises(TypeError, match="no field 'colour'"):
        copier(Sample, "colour")


def test_a_record_pickled_with_an_instance_dict_loads_and_records_take_weak_references():
    import weakref

    meta = TensorMeta((2, 3), "float32", 4)
    # what pickle stored for a record before records had slots: (class, args, instance dict)
    loaded = object.__new__(TensorMeta)
    loaded.__setstate__({"shape": (2, 3), "dtype": "float32", "itemsize": 4})
    assert loaded == meta and loaded.nbytes == 24
    with pytest.raises(ValueError):
        object.__new__(TensorMeta).__setstate__(((2, 3), "float32"))  # a value short
    assert weakref.ref(meta)() is meta
