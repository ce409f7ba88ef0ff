"""In-place writes into a tensor whose elements share memory (an ``expand``ed view), refused as
PyTorch's CPU kernels refuse them. The meta and fake kernels skip that check, so a model whose
real forward fails traced as if it ran.

A tensor shares memory between its elements where a dim of size above 1 has stride 0: what
PyTorch's ``has_internal_overlap`` answers "yes" to, and the only answer its kernels refuse.
"""
from __future__ import annotations

import torch

# PyTorch's own text, so that a traced failure reads as the real one does
MESSAGE = ("unsupported operation: more than one element of the written-to tensor refers to a "
           "single memory location. Please clone() the tensor before performing the operation.")

# in-place ops whose CPU kernels write into shared memory without complaint (each element of
# it gets one value, or the write is a resize), found by trying every in-place aten op on an
# expanded CPU tensor: ``tests/trace/test_overlap.py`` pins this list against the CPU
ALLOWED = frozenset({
    "aten.fill_.Scalar", "aten.zero_.default", "aten.masked_fill_.Scalar",
    "aten.masked_fill_.Tensor", "aten.index_fill_.int_Scalar", "aten.index_fill_.int_Tensor",
    "aten.index_put_.default", "aten._index_put_impl_.default", "aten.threshold_.default",
    "aten.tril_.default", "aten.triu_.default", "aten.conj_physical_.default",
    "aten.baddbmm_.default", "aten.addmv_.default", "aten._resize_output_.default",
    "aten.requires_grad_.default",
})

_YES = 1  # torch._debug_has_internal_overlap: 0 no, 1 yes, 2 too hard to tell (allowed)
_has_internal_overlap = torch._debug_has_internal_overlap

# id(op overload) -> (positions of the arguments it writes and must not share memory, the op):
# by id, as the recorder keys ops; the op is kept so that its id stays its own
_WRITES: dict[int, tuple[tuple[int, ...], object]] = {}


def _checked_positions(func) -> tuple[int, ...]:
    found = _WRITES.get(id(func))
    if found is None:
        tags = func.tags
        checked = (torch.Tag.inplace in tags and torch.Tag.inplace_view not in tags
                   and str(func) not in ALLOWED)
        positions = tuple(i for i, a in enumerate(func._schema.arguments)
                          if a.alias_info is not None and a.alias_info.is_write) if checked else ()
        found = _WRITES[id(func)] = (positions, func)
    return found[0]


def refuse_shared_writes(func, args) -> None:
    """Raise PyTorch's error where in-place op ``func`` would write into a tensor argument whose
    elements share memory. Views of a metadata-only kind (``t_``, ``squeeze_``) write nothing."""
    for i in _checked_positions(func):
        t = args[i] if i < len(args) else None
        if isinstance(t, torch.Tensor) and _has_internal_overlap(t) == _YES:
            raise RuntimeError(MESSAGE)
