"""Which storages a run allocates and frees, in order: what the memory simulation records.

A storage is "freed" when its last reference dies (a weak reference on the storage tells us), so
a free is recorded exactly when PyTorch would give the memory back.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from .fastpaths import run_op
from .gradient_sums import ADD, SoleOwner, engine_add
from .recorder import EagerMode, Recorder


@dataclass(frozen=True)
class MemoryEvent:
    phase: str  # "forward", "backward", "step" or "inference"
    storage: int  # an id, unique within one trace
    delta: int  # + bytes allocated, - bytes freed
    node: int | None  # the forward node that allocated it, when in the forward


class StorageTracker(EagerMode):
    """Emits an allocation event for every new storage an op returns, and a free event when the
    storage dies. ``phase`` and ``node`` are set by the caller as the step moves on."""

    def __init__(self, recorder: Recorder | None = None, sole_owner: SoleOwner | None = None):
        super().__init__()
        self.events: list[MemoryEvent] = []
        self.phase = "forward"
        self.recording = True
        self._recorder = recorder
        self._alive: dict[int, weakref.ref] = {}
        self._sole_owner = sole_owner  # see ``sole_owner_counts``; None: add as the mode does

    def key(self, t: torch.Tensor) -> int:
        return t.untyped_storage()._cdata

    def _free(self, key: int, nbytes: int) -> None:
        if self._alive.pop(key, None) is not None and self.recording:
            self.events.append(MemoryEvent(self.phase, key, -nbytes, None))

    def track(self, t: torch.Tensor, node: int | None) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self._alive:
            return
        nbytes = storage.nbytes()
        self._alive[key] = weakref.ref(storage, lambda _, k=key, n=nbytes: self._free(k, n))
        if self.recording:
            self.events.append(MemoryEvent(self.phase, key, nbytes, node))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is ADD and self.phase == "backward":
            func, args = engine_add(self._sole_owner, func, args, kwargs)
        out = run_op(func, args, kwargs or {})
        node = len(self._recorder.nodes) - 1 if self._recorder and self.phase == "forward" else None
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.track(t, node)
        return out
