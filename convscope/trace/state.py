"""The model's own tensors, found in one walk, and swapped for shape-only copies during a trace.

This does what ``torch.func.functional_call`` does for a trace, writing straight into each
module's ``_parameters`` and ``_buffers`` tables as it does, without its per-name lookups: on a
network of a few hundred modules those walks cost as much as the meta forward itself. A tensor
shared by two modules gets one copy, so tied weights stay tied. A trace whose common leaves are
lowered (``lowering``) makes each copy on its first read instead (``copied_on_read``): the
lowered leaves read only their tensors' shapes, and making the copies of a CNN's few hundred
tensors up front was ~7% of its analysis. What the forward itself stores on
a module (a cache, a counter, weight_norm's recomputed weight, a buffer it registers) is undone
afterwards too (``attributes_kept``): the model is left exactly as it was. Not undone: what it
writes into a container the module already holds (``self.log.append(x)``, ``self.cache[k] = x``,
a hook it registers): finding those would mean copying every such container of every module on
each trace.
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from ..errors import RECURSION_FIX, ModelError
from ..graph import Param, Ref, TensorMeta
from .recorder import tensor_meta

TABLES = (("_parameters", "param"), ("_buffers", "buffer"))
_ALONE = 3  # sys.getrefcount of a table only its module's __dict__ and one local name hold


@dataclass(frozen=True)
class ModelTensors:
    """Found in one pass: a trace needs every part, and a pass per part (with a record per
    entry) cost about as much per tensor as making its meta copy."""

    modules: tuple[tuple[str, nn.Module], ...]  # ``named_modules()``
    # every table entry, a shared tensor once per owner, as (the module's table, the name in
    # it, tensor, "param" or "buffer", the qualified name of its first owner's entry, its meta)
    slots: tuple[tuple[dict, str, torch.Tensor, str, str, TensorMeta], ...]
    params: tuple[Param, ...]  # ``named_parameters()`` order, a shared tensor counted once
    buffers: tuple[Param, ...]  # ``named_buffers()`` order, likewise
    refs: dict[int, Ref]  # by id, the Ref of each tensor (a shared one's, its first owner's)
    # (module, "_parameters" or "_buffers", the table) for each table with entries, where every
    # such table is a plain dict that only its module holds (``copied_on_read`` swaps the
    # tables whole); empty where one is not: a ScriptModule's are C++ wrappers, and a table the
    # model holds elsewhere too (``self.table = conv._parameters``, a view of it, a dict two
    # modules share) would be read around a swapped-in one
    tables: tuple[tuple[nn.Module, str, dict], ...] = ()


def walk(model: nn.Module) -> ModelTensors:
    try:
        return _walk(model)
    except RecursionError:  # named_modules recurses once per level of nesting
        raise ModelError(f"{type(model).__name__} nests its modules deeper than Python's "
                         f"recursion limit ({sys.getrecursionlimit()}) lets PyTorch list them. "
                         f"{RECURSION_FIX}") from None
    except RuntimeError:  # a lazy module's parameter has no shape to read yet
        lazy = [(name, module) for name, module in model.named_modules()
                if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params()]
        if not lazy:
            raise
        name, module = lazy[0]
        where = f"layer {name}" if name else "the model"
        raise ModelError(
            f"{where} ({type(module).__name__}) is a lazy module: its parameters have no shape "
            "until its first forward. Run one real forward first, e.g. "
            "model(torch.zeros(1, *input_size)), then analyse the model.",
            layer=name or None) from None


def _walk(model: nn.Module) -> ModelTensors:
    modules = tuple(model.named_modules())
    first: dict[int, tuple[str, str, TensorMeta]] = {}  # by id: its first owner's entry
    refs: dict[int, Ref] = {}
    slots, tables, plain = [], [], True
    records: dict[str, tuple[list[Param], set[int]]] = {"param": ([], set()),
                                                         "buffer": ([], set())}
    for owner, module in modules:
        prefix = f"{owner}." if owner else ""
        for table, kind in TABLES:
            entries = getattr(module, table)
            if not entries:
                continue
            # held by its module alone (its __dict__, ``entries`` and getrefcount's argument):
            # no stored reference, view or second module reads it around a swapped-in table
            plain = (plain and type(entries) is dict and sys.getrefcount(entries) == _ALONE
                     and module.__dict__.get(table) is entries)
            tables.append((module, table, entries))
            listed, listed_ids = records[kind]
            for local, t in entries.items():
                if t is None:
                    continue
                key = id(t)
                found = first.get(key)
                if found is None:
                    meta = tensor_meta(t)
                    found = first[key] = (prefix + local, owner, meta)
                    refs[key] = Ref(kind, found[0], 0, meta)
                name, first_owner, meta = found
                if key not in listed_ids:
                    listed_ids.add(key)
                    listed.append(Param(name, first_owner, meta, bool(t.requires_grad)))
                slots.append((entries, local, t, kind, name, meta))
    return ModelTensors(modules, tuple(slots), tuple(records["param"][0]),
                        tuple(records["buffer"][0]), refs, tuple(tables) if plain else ())


@contextlib.contextmanager
def swapped(tensors: ModelTensors, convert_param, convert_buffer):
    """Every parameter and buffer replaced by its converted copy for the duration; yields the
    copies, one per tensor, as ("param" or "buffer", qualified name, copy, the copy's
    TensorMeta). A converter keeps the shape and may change the dtype. The originals are back
    afterwards, whatever the forward raised."""
    copies: dict[int, tuple[str, str, torch.Tensor, TensorMeta]] = {}
    done: list[tuple] = []
    try:
        for slot in tensors.slots:
            entries, local, t, kind, name, meta = slot
            copy = copies.get(id(t))
            if copy is None:
                converted = (convert_param if kind == "param" else convert_buffer)(t)
                if converted.dtype != t.dtype:  # a training step's cast
                    meta = tensor_meta(converted)
                copy = copies[id(t)] = (kind, name, converted, meta)
            entries[local] = copy[2]
            done.append(slot)
        yield list(copies.values())
    finally:
        for entries, local, t, *_ in done:
            entries[local] = t


class Copies:
    """The shape-only copies of one trace's parameters and buffers, each made on its first read
    (``copied_on_read``): ``refs`` holds the Ref of every original by id, ``made`` the copy of
    each original read so far, and ``remember(copy, ref)`` tells the recorder of a new one."""

    __slots__ = ("refs", "made", "_like", "remember")

    def __init__(self, refs: dict[int, Ref], like):
        self.refs, self.made, self._like = refs, {}, like
        self.remember = None

    def copy(self, t):
        """The copy of ``t``, made now where this is its first read; anything else (None, a
        tensor the forward stored) as it is."""
        key = id(t)
        found = self.made.get(key)
        if found is None:
            ref = self.refs.get(key)
            if ref is None:
                return t
            found = self.made[key] = _unseen(self._like, t)
            self.remember(found, ref)
        return found

    def stand_in(self, t):
        """What a lowering may read the shape of: the copy where a read made one (the forward
        may have changed it), the original while none did, None, or a meta tensor the forward
        stored. ``FOREIGN`` for any other tensor: the module's own forward must meet it, as
        it would on the CPU."""
        key = id(t)
        found = self.made.get(key)
        if found is not None:
            return found
        kind = type(t)
        if (kind is _PARAMETER or kind is _TENSOR) and key in self.refs:
            return t
        if t is None or t.is_meta:
            return t
        # a subclass's own methods would see the user's tensor when read: its copy is plain
        return self.copy(t) if key in self.refs else FOREIGN


FOREIGN = object()  # a table's tensor that is neither the model's own nor shape-only
_TENSOR, _PARAMETER = torch.Tensor, nn.Parameter


def _unseen(make, t):
    """``make(t)`` as ``swapped`` makes it before the forward: outside any inference mode the
    forward entered (an inference tensor refuses a later in-place write), and unseen by the
    recorder's and the forward's own modes: a copy is no op of the model's."""
    with torch.inference_mode(False), torch._C.DisableTorchFunction(), \
            torch._C._DisableTorchDispatch():
        return make(t)


class CopiedOnRead(dict):
    """A module's parameter or buffer table for the duration of ``copied_on_read``: every read
    through it (``module.weight``, ``[name]``, ``get``, ``items()``, ``values()``, ``dict(t)``,
    ``==``, ``copy.deepcopy``) gives the entry's shape-only copy, as the tables ``swapped`` fills
    give it. Writes are the dict's own, into a table that is thrown away afterwards. Only
    ``dict``'s own functions called on it (``dict.values(t)``) read around it, as they would
    around any dict subclass."""

    __slots__ = ("copies",)

    def __getitem__(self, name):
        return self.copies.copy(dict.__getitem__(self, name))

    def get(self, name, default=None):
        return self.copies.copy(dict.__getitem__(self, name)) if name in self else default

    def stand_in(self, name):
        return self.copies.stand_in(dict.__getitem__(self, name))

    def copy(self):
        """A plain dict of the copies."""
        copy = self.copies.copy
        return {name: copy(t) for name, t in dict.items(self)}

    def values(self):
        return self.copy().values()

    def items(self):
        return self.copy().items()

    def __iter__(self):  # not the dict's: dict(t), {**t} and update(t) then read through []
        return dict.__iter__(self)

    def __repr__(self):  # the dict's would show the user's values
        return repr(self.copy())

    def __eq__(self, other):
        return self.copy() == other

    def __ne__(self, other):
        return self.copy() != other

    __hash__ = None

    def __reduce_ex__(self, protocol):
        # copy.copy, deepcopy and pickle get a plain dict of the copies: not the Copies, whose
        # ``remember`` reaches the recorder and everything it holds
        return dict, (self.copy(),)

    def pop(self, name, *default):
        return self.copies.copy(dict.pop(self, name, *default))

    def popitem(self):
        name, t = dict.popitem(self)
        return name, self.copies.copy(t)

    def setdefault(self, name, default=None):
        return self.copies.copy(dict.setdefault(self, name, default))


@contextlib.contextmanager
def copied_on_read(tensors: ModelTensors, like):
    """``swapped`` without the copies nobody reads: each parameter and buffer table (``tables``)
    is replaced for the duration by a ``CopiedOnRead`` of it, whose reads make each entry's
    copy on the first one. A lowered leaf reads only the shapes of its tensors
    (``lowering._tensors``), and those are most of a CNN's: on MobileNetV2, 2 of 314 copies are
    made. Yields the ``Copies``; its ``remember`` is to be set before the forward. The original
    tables are back afterwards, never written to, whatever the forward raised."""
    copies = Copies(tensors.refs, like)
    done: list[tuple[dict, str, dict]] = []
    try:
        for module, table, entries in tensors.tables:
            swapped_in = CopiedOnRead(entries)
            swapped_in.copies = copies
            state = module.__dict__
            state[table] = swapped_in
            done.append((state, table, entries))
        yield copies
    finally:
        for state, table, entries in done:
            state[table] = entries


def sources_of(copies: list[tuple[str, str, torch.Tensor, TensorMeta]], inputs) -> dict[int, Ref]:
    """The Ref of each tensor the recorder will not see made (param, buffer or input), by id."""
    sources = {id(t): Ref(kind, name, 0, meta) for kind, name, t, meta in copies}
    sources.update(input_refs(inputs))
    return sources


def input_refs(inputs) -> dict[int, Ref]:
    return {id(t): Ref("input", i, 0, tensor_meta(t)) for i, t in enumerate(inputs)}


_MODULE_TRAIN = nn.Module.train


def _plain_flag(module: nn.Module) -> bool:
    """Its ``training`` flag is a plain attribute that only ``nn.Module.train`` sets: not a
    ScriptModule's (kept in C++, set through its ``__setattr__``), no ``train`` override."""
    return type(module).train is _MODULE_TRAIN and not isinstance(module, torch.jit.ScriptModule)


@contextlib.contextmanager
def training_flags(tensors: ModelTensors, train: bool):
    """``model.train(train)``, and every module's flag as it was afterwards. Where every flag is
    plain (``_plain_flag``) they are set directly: what ``nn.Module.train`` does, without its
    recursion (~2 us a module; a new model is in training mode, so most analyses switch).
    Otherwise the model's own ``train`` runs, so an override has its say. A flag that changed
    is put back directly, or through ``setattr`` where it is not plain (a ScriptModule's)."""
    # a frozen TorchScript module has no flag at all: nothing to set or put back
    flags = [(module, module.training) for _, module in tensors.modules
             if hasattr(module, "training")]
    if any(flag != train for _, flag in flags):
        if all(_plain_flag(module) for module, _ in flags):
            for module, _ in flags:
                module.__dict__["training"] = train
        elif hasattr(tensors.modules[0][1], "train"):
            tensors.modules[0][1].train(train)
    try:
        yield
    finally:
        for module, flag in flags:
            if module.training != flag:  # switched, here or by the forward
                if _plain_flag(module):
                    module.__dict__["training"] = flag
                else:
                    setattr(module, "training", flag)


@contextlib.contextmanager
def attributes_kept(tensors: ModelTensors, whole: bool = False):
    """Every module's attributes and parameter, buffer and child tables as they were before,
    whatever the forward stored in them. Entered outside ``swapped`` and ``training_flags``,
    so that on the way out only the forward's own changes are left to find. ``whole``: the
    trace swaps ``tensors.tables`` whole (``copied_on_read``), which no code can reach meanwhile:
    those are left be.

    Tables are compared with ``==``: dict equality takes a value that is the very same object
    as equal without calling its ``__eq__``, so an unchanged table costs one C-level pass
    (~0.3 us for a convolution's attributes; a Python loop of identity tests, twice that). A
    tensor put in place of another makes ``__eq__`` compare the two, which raises (devices
    differ, or the answer has several values): that table has changed."""
    saved, empty = [], []  # most parameter, buffer and child tables are empty: nothing to copy
    for _, module in tensors.modules:
        children = module._modules
        for table in (module.__dict__, module._parameters, module._buffers, children):
            if isinstance(table, dict):  # a ScriptModule's tables are C++ wrappers: left be
                if not table:
                    empty.append(table)
                elif not whole or table is children or table is module.__dict__:
                    saved.append((table, table.copy()))
    try:
        yield
    finally:
        for table in empty:
            if table:
                table.clear()
        for table, before in saved:
            try:
                unchanged = table == before
            except Exception:  # noqa: BLE001 (any value's __eq__ may raise: "changed")
                unchanged = False
            if not unchanged:
                table.clear()
                table.update(before)
