"""Where two gradients of one tensor meet (a residual, two heads on one trunk), autograd's engine
adds the second into the first in place when its buffer is the first's only owner, else the
first into the second when the engine is the second's only owner (``InputBuffer::accumulate``; a
reentrant checkpoint's backward gets the first from Python, which still holds it) and no view
shares the first's storage (tied weights, attention weights: measured, out of place), but never
while a dispatch mode is active. Left alone, every such meeting would cost one more gradient-sized
tensor than a real step allocates, so the memory simulation, which runs under a dispatch mode
(``storage.StorageTracker``), puts it back: ``engine_add`` is the add the engine would run.

"Only owner" is read from PyTorch's own (private) reference counts (``owners``), compared with
the counts a gradient only autograd holds has under a dispatch mode, measured once a backend
(``sole_owner``).
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .fastpaths.layout import _dense

ADD = torch.ops.aten.add.Tensor

SoleOwner = tuple[tuple[int, int], tuple[int, int]]  # ``owners`` of ``old``, of ``new``


def engine_add(sole_owner: SoleOwner | None, func, args, kwargs):
    """The op autograd's engine would run for this backward add of gradient ``new`` to
    ``old``, outside a mode: ``old += new`` when only the engine's buffer holds ``old``,
    ``new += old`` when only the engine holds ``new``, dense (contiguous or channels-last),
    of the same shape and dtype; else the add as it is. A backward formula adding to a
    temporary of its own looks the same; few do (atan2, lerp). Either way only the byte
    count differs: no tensor here holds data. ``sole_owner``: see ``sole_owner_counts``;
    None: add as the mode does."""
    old, new = args[0], args[1]
    if (sole_owner is None or kwargs or type(new) is not type(old)
            or old.shape != new.shape or old.dtype != new.dtype or torch.is_grad_enabled()):
        return func, args
    held = owners(old)
    if held == sole_owner[0] and _dense(old):
        return torch.ops.aten.add_.Tensor, (old, new)
    # ``old`` held by Python alone (a reentrant checkpoint's incoming gradient), not by a view
    # of its storage: a view's storage, tied weights' or attention weights', adds out of place
    if held[1] == sole_owner[0][1] and owners(new) == sole_owner[1] and _dense(new):
        return torch.ops.aten.add_.Tensor, (new, old)
    return func, args


def owners(t: torch.Tensor) -> tuple[int, int]:
    """(references to the tensor, references to its storage), as C++ counts them."""
    return t._use_count(), torch._C._storage_Use_Count(t.untyped_storage()._cdata)


class _AccumulationProbe(TorchDispatchMode):
    counts: SoleOwner | None = None  # of ``old``, of ``new``

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is ADD and not torch.is_grad_enabled():
            self.counts = owners(args[0]), owners(args[1])
        return func(*args, **(kwargs or {}))


_SOLE_OWNER: dict[str, tuple | None] = {}  # by backend: the counts do not change in a process


def sole_owner(backend: str, make) -> SoleOwner | None:
    """``sole_owner_counts`` for ``backend``, measured once (~1 ms a step otherwise)."""
    if backend not in _SOLE_OWNER:
        _SOLE_OWNER[backend] = sole_owner_counts(make)
    return _SOLE_OWNER[backend]


def sole_owner_counts(make) -> SoleOwner | None:
    """``owners`` of two gradients that only autograd holds (in its buffer, and the one it adds),
    as a dispatch mode sees them (the mode and the dispatcher hold references of their own): two
    fresh gradients, of relu and sigmoid, meet at ``w`` and the engine adds them. Measured, not
    assumed, so that a PyTorch that counts differently leaves the step as the mode runs it
    instead of guessing; a PyTorch without these (private) counters leaves it so too.
    tests/analyses/test_memory.py pins the result against a measured step."""
    w = make((2,), torch.float32).requires_grad_()
    probe = _AccumulationProbe()
    try:
        with probe:
            (w.relu().sum() + w.sigmoid().sum()).backward()
    except AttributeError:  # no Tensor._use_count or torch._C._storage_Use_Count
        return None
    return probe.counts
