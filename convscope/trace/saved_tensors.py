"""The tensors autograd saves for the backward during the simulated forward (``SavedTensorLog``
records them through saved-tensor hooks), and the check that no in-place op changed one before
the backward used it (``unchanged``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .recorder import Recorder
from .storage import StorageTracker


@dataclass(frozen=True)
class SavedTensor:
    """A tensor autograd saved for backward during the forward."""

    storage: int
    nbytes: int  # the storage's size: views of one storage count once
    shape: tuple[int, ...]
    dtype: str
    node: int | None  # the forward op that saved it (best effort: see ``_saving_node``)
    source: str  # "activation", "param", "input" or "buffer"
    producer: int | None = None  # the forward op whose output it is


class SavedTensorLog:
    """The saved-tensor hooks of the recorded forward: ``pack`` logs each tensor autograd saves
    (in ``saved``) with the op that saved it, ``unchanged`` checks it when the backward uses it."""

    def __init__(self, tracker: StorageTracker, recorder: Recorder, sources: dict):
        self.saved: list[SavedTensor] = []
        self._tracker = tracker
        self._recorder = recorder
        self._sources = sources

    def hooks(self) -> torch.autograd.graph.saved_tensors_hooks:
        return torch.autograd.graph.saved_tensors_hooks(self.pack, unchanged)

    def pack(self, t):
        node = None
        if self._tracker.recording and self._tracker.phase == "forward":
            made_by = self._recorder.producer_index(t)
            storage, node = t.untyped_storage(), self._saving_node(made_by)
            self.saved.append(SavedTensor(storage._cdata, storage.nbytes(), tuple(t.shape),
                                          str(t.dtype).removeprefix("torch."), node,
                                          _source_of(t, self._sources), made_by))
        return t, t._version, node

    def _saving_node(self, made_by: int | None) -> int:
        """The op that saved a tensor made by node ``made_by``: autograd saves an op's inputs
        before the op runs, its outputs right after."""
        last = len(self._recorder.nodes) - 1
        return last if made_by == last and last >= 0 else last + 1


def _source_of(t, sources) -> str:
    found = sources.get(id(t))
    return found.kind if found else "activation"


class SavedTensorChanged(RuntimeError):
    """An in-place op changed a tensor autograd had saved for the backward. PyTorch's backward
    raises this (in its own words, which ours repeat) but skips the check for tensors packed by
    saved-tensor hooks, as the simulation's are: ``unchanged`` makes it."""

    def __init__(self, message: str, node: int | None):
        super().__init__(message)
        self.node = node  # the forward op that saved the tensor


def unchanged(packed) -> torch.Tensor:
    """The unpack hook: the saved tensor, if no in-place op changed it since it was saved."""
    t, version, node = packed
    if t._version != version:
        dtype = str(t.dtype).removeprefix("torch.")
        raise SavedTensorChanged(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{dtype} {list(t.shape)}] is at version {t._version}; "
            f"expected version {version} instead", node)
    return t
