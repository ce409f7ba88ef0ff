"""The model's own tensors, found in one walk, and swapped for shape-only copies during a trace.

This does what ``torch.func.functional_call`` does for a trace, writing straight into each
module's ``_parameters`` and ``_buffers`` tables as it does, without its per-name lookups: on a
network of a few hundred modules those walks cost as much as the meta forward itself. A tensor
shared by two modules gets one copy, so tied weights stay tied.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ..graph import Param, Ref, record
from .recorder import tensor_meta

TABLES = ("_parameters", "_buffers")


@record  # frozen, with a constructor cheap enough for one per tensor
class Slot:
    """One entry of a module's parameter or buffer table."""

    module: nn.Module
    table: str  # "_parameters" or "_buffers"
    local: str  # the name inside its module
    name: str  # the qualified name of the tensor's first owner
    owner: str  # that owner's qualified name
    tensor: torch.Tensor


@dataclass(frozen=True)
class ModelTensors:
    modules: tuple[tuple[str, nn.Module], ...]  # ``named_modules()``
    slots: tuple[Slot, ...]  # every table entry, shared tensors once per owner

    @property
    def params(self) -> tuple[Param, ...]:
        return self._records("_parameters")

    @property
    def buffers(self) -> tuple[Param, ...]:
        return self._records("_buffers")

    def _records(self, table: str) -> tuple[Param, ...]:
        """``named_parameters()`` / ``named_buffers()`` order, a shared tensor counted once."""
        seen, records = set(), []
        for slot in self.slots:
            t = slot.tensor
            if slot.table == table and id(t) not in seen:
                seen.add(id(t))
                records.append(Param(slot.name, slot.owner, tensor_meta(t),
                                     bool(t.requires_grad)))
        return tuple(records)


def walk(model: nn.Module) -> ModelTensors:
    modules = tuple(model.named_modules())
    first_name: dict[int, tuple[str, str]] = {}
    slots = []
    for owner, module in modules:
        for table in TABLES:
            entries = getattr(module, table)
            if not entries:
                continue
            for local, t in entries.items():
                if t is None:
                    continue
                name = f"{owner}.{local}" if owner else local
                name, first_owner = first_name.setdefault(id(t), (name, owner))
                slots.append(Slot(module, table, local, name, first_owner, t))
    return ModelTensors(modules, tuple(slots))


@record
class Copy:
    kind: str  # "param" or "buffer"
    name: str  # qualified, as ``named_parameters()`` / ``named_buffers()`` give it
    tensor: torch.Tensor  # what the module holds during the trace


@contextlib.contextmanager
def swapped(tensors: ModelTensors, convert_param, convert_buffer):
    """Every parameter and buffer replaced by its converted copy for the duration; yields the
    copies, one per tensor. The originals are back afterwards, whatever the forward raised."""
    copies: dict[int, Copy] = {}
    done: list[Slot] = []
    try:
        for slot in tensors.slots:
            copy = copies.get(id(slot.tensor))
            if copy is None:
                is_param = slot.table == "_parameters"
                convert = convert_param if is_param else convert_buffer
                copy = copies[id(slot.tensor)] = Copy("param" if is_param else "buffer",
                                                      slot.name, convert(slot.tensor))
            getattr(slot.module, slot.table)[slot.local] = copy.tensor
            done.append(slot)
        yield list(copies.values())
    finally:
        for slot in done:
            getattr(slot.module, slot.table)[slot.local] = slot.tensor


def sources_of(copies: list[Copy], inputs) -> dict[int, Ref]:
    """The Ref of each tensor the recorder will not see made (param, buffer or input), by id."""
    sources = {id(c.tensor): Ref(c.kind, c.name, 0, tensor_meta(c.tensor)) for c in copies}
    sources.update({id(t): Ref("input", i, 0, tensor_meta(t)) for i, t in enumerate(inputs)})
    return sources


@contextlib.contextmanager
def training_flags(tensors: ModelTensors, train: bool):
    """``model.train(train)`` (so a module's own ``train`` override still runs), and every
    module's flag as it was afterwards."""
    flags = [(module, module.training) for _, module in tensors.modules]
    if any(flag != train for _, flag in flags):
        tensors.modules[0][1].train(train)
    try:
        yield
    finally:
        for module, flag in flags:
            module.__dict__["training"] = flag
