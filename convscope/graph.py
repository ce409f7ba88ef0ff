"""The traced graph: small frozen records that need no torch to read.

``trace`` produces a ``Graph``; every analysis reads it and nothing else.

- ``TensorMeta``: shape, dtype and element size of one tensor.
- ``Ref``: where an op's tensor argument came from (an earlier node's output, a model input,
  a parameter, a buffer, or a constant made during the forward).
- ``Node``: one aten op as it ran: its arguments (tensors replaced by ``Ref``), its outputs, the
  module call it ran in, and whether it wrote in place or returned a view.
- ``ModuleCall``: one call of one module (a module called twice has two calls).
"""
from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from functools import cache
from math import prod
from typing import Any


def record(cls):
    """``@dataclass(frozen=True)`` with slots, a constructor about 3x cheaper, and ``once``
    properties kept in slots of their own.

    One analysis makes thousands of these records (a Node per op, a Ref per tensor, a Row,
    Fields and Axes per layer) and reads their fields many times over:
    - the frozen dataclass constructor sets each field through ``object.__setattr__`` (~0.25 us
      a field); this one sets each slot through its own descriptor (~25 ns);
    - a field in a slot reads in ~6 ns (one in an instance dict written through ``__dict__``,
      ~30 ns), and the garbage collector scans and frees one object a record, not two.
    The class is otherwise the dataclass (equality, hash, repr, ``replace``, pickling, and
    assignment still raises).
    """
    onces = {name: value for name, value in vars(cls).items() if isinstance(value, once)}
    for name in onces:
        delattr(cls, name)
    cls = dataclass(frozen=True)(cls)
    names = [f.name for f in fields(cls)]
    if "self" in names or any(n.startswith("_set_") for n in names):
        raise TypeError(f"{cls.__name__}: a record field cannot be called self or _set_*")
    body = {k: v for k, v in vars(cls).items() if k not in (*names, "__dict__", "__weakref__")}
    # a dict of slots: a once's docstring stays its slot's
    body["__slots__"] = {**dict.fromkeys(names), **{n: o.__doc__ for n, o in onces.items()},
                         "__weakref__": None}
    slotted = type(cls)(cls.__name__, cls.__bases__, body)
    slotted.__qualname__ = cls.__qualname__
    setters = {n: vars(slotted)[n].__set__ for n in (*names, *onces)}
    slotted.__init__ = _init(slotted, setters)
    slotted.__setattr__ = slotted.__delattr__ = _frozen
    slotted.__getstate__ = lambda self: tuple([getattr(self, n) for n in names])
    slotted.__setstate__ = _set_state(names, setters)
    if onces:
        slotted.__getattr__ = _worked_out(onces, setters)
    return slotted


def _init(cls, setters):
    """The constructor: each argument set through its slot's descriptor."""
    scope, params, fill = {"_UNSET": object()}, [], []
    for f in fields(cls):
        if f.default_factory is not MISSING:
            scope[f"_make_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_UNSET")
            fill.append(f"    if {f.name} is _UNSET: {f.name} = _make_{f.name}()")
        elif f.default is not MISSING:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        scope[f"_set_{f.name}"] = setters[f.name]
    source = "\n".join([f"def __init__(self, {', '.join(params)}):", *fill,
                        *(f"    _set_{f.name}(self, {f.name})" for f in fields(cls))])
    made: dict = {}
    exec(source, scope, made)  # noqa: S102 (our own field names, as dataclasses does)
    made["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    return made["__init__"]


def _set_state(names: list[str], setters: dict):
    """``__setstate__``: the field values in order, as ``__getstate__`` gives them, or the
    instance dict a record pickled before records had slots carries."""
    def __setstate__(self, state):
        if isinstance(state, dict):
            state = [state[n] for n in names]
        for name, value in zip(names, state, strict=True):
            setters[name](self, value)

    return __setstate__


def _frozen(self, name, *value):
    raise FrozenInstanceError(f"cannot {'assign to' if value else 'delete'} field {name!r}")


def _worked_out(onces: dict, setters: dict):
    """``__getattr__``, which Python calls only for a slot not yet set: a ``once`` property's,
    worked out and stored, so that every later read is a plain slot read."""
    def __getattr__(self, name):
        found = onces.get(name)
        if found is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = found.func(self)
        setters[name](self, value)
        return value

    return __getattr__


def copier(cls, name: str):
    """``lambda item, value: dataclasses.replace(item, **{name: value})`` for records of
    ``cls``, ~5x cheaper: the copy's slots are set from the item's, one from ``value``, without
    the constructor (a record has no ``__post_init__`` to skip)."""
    names = [f.name for f in fields(cls)]
    if name not in names:
        raise TypeError(f"{cls.__name__} has no field {name!r}")
    scope = {"_new": object.__new__, "_cls": cls}
    scope.update({f"_set_{n}": vars(cls)[n].__set__ for n in names})
    source = "\n".join(["def copied(item, value):", "    made = _new(_cls)",
                        *(f"    _set_{n}(made, {'value' if n == name else f'item.{n}'})"
                          for n in names),
                        "    return made"])
    made: dict = {}
    exec(source, scope, made)  # noqa: S102 (our own field names)
    return made["copied"]


class once:
    """A property worked out on first read and stored in a slot of the record's own
    (``record``): ``functools.cached_property`` needs an instance dict, and takes a lock
    Python 3.11 holds on each first read (~0.9 us; every analysis reads ``packet`` first on a
    few hundred new nodes). The records are immutable, so two threads that race compute the
    same value."""

    def __init__(self, func):
        self.func = func
        self.__doc__ = func.__doc__


@record
class TensorMeta:
    shape: tuple[int, ...]
    dtype: str
    itemsize: int

    # worked out once: one TensorMeta is shared by every tensor of its shape and dtype, and the
    # analyses ask for these a few thousand times an analysis
    @once
    def numel(self) -> int:
        return prod(self.shape)

    @once
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@record
class Ref:
    """A tensor argument: ``kind`` is node|input|param|buffer|const; ``source`` its index or name."""

    kind: str
    source: int | str
    slot: int
    meta: TensorMeta

    @property
    def shape(self) -> tuple[int, ...]:
        return self.meta.shape


@cache  # rules ask several times per node: worked out once per op name
def _packet(op: str) -> str:
    return op.rsplit(".", 1)[0] if op.count(".") >= 2 else op


@record
class Node:
    index: int
    op: str  # "aten.convolution.default"
    args: tuple[Any, ...]  # tensors replaced by Ref, torch values by plain Python
    kwargs: dict[str, Any]
    outputs: tuple[TensorMeta, ...]
    call: int | None  # index into Graph.calls of the innermost module call, None at top level
    inplace: bool = False  # wrote into its first argument
    view: bool = False  # returned a view of an argument: allocates nothing
    # every tensor argument, positional then keyword, lists flattened: found while the recorder
    # converts the arguments, since every analysis walks them
    refs: tuple[Ref, ...] = field(default=(), repr=False, compare=False)

    @once  # rules ask several times per node
    def packet(self) -> str:
        """The op without its overload: ``aten.add.Tensor`` -> ``aten.add``."""
        return _packet(self.op)

    @once  # rows, totals and memory each ask
    def output_bytes(self) -> int:
        """Bytes of the op's outputs."""
        outputs = self.outputs
        return outputs[0].nbytes if len(outputs) == 1 else sum(t.nbytes for t in outputs)


@record
class ModuleCall:
    index: int
    name: str  # qualified name, "" for the root model
    type: str  # class name
    parent: int | None
    is_leaf: bool  # the module has no child modules
    call_number: int  # 0 for the module's first call, 1 for its second, ...
    first_node: int  # index the call's first op gets (== len(nodes) when the call began)
    outputs: tuple[TensorMeta, ...] = ()
    output_refs: tuple[Ref, ...] = ()

    @property
    def depth(self) -> int:
        return 0 if not self.name else self.name.count(".") + 1


@record
class Param:
    name: str  # qualified name, "layer1.0.conv1.weight"
    module: str  # owner's qualified name
    meta: TensorMeta
    trainable: bool


@record
class Graph:
    nodes: tuple[Node, ...]
    calls: tuple[ModuleCall, ...]
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[Ref, ...]
    params: tuple[Param, ...]  # unique parameters of the model, used or not
    buffers: tuple[Param, ...]
    model_type: str
    train: bool
    meta: dict[str, Any] = field(default_factory=dict)

    def call_chain(self, call: int | None) -> list[ModuleCall]:
        """The module calls from the root down to ``call``."""
        chain = []
        while call is not None:
            chain.append(self.calls[call])
            call = self.calls[call].parent
        return chain[::-1]

    def producer(self, ref: Ref) -> Node | None:
        return self.nodes[ref.source] if ref.kind == "node" else None
