"""The functions whose C++ composites choose their path by device, run on meta tensors as the
CPU would run them: attention's fused kernel (``attention``) and group norm's layout
(``group_norm``). Only a meta trace needs them: fake tensors are CPU tensors to PyTorch.
"""
from __future__ import annotations

import contextlib
import threading

import torch
import torch.nn.functional as F

from .attention import scaled_dot_product_attention
from .group_norm import group_norm

# (namespace, name, replacement): where the model's code looks each function up at call time
REPLACEMENTS = ((F, "scaled_dot_product_attention", scaled_dot_product_attention),
                (torch, "group_norm", group_norm))

_installed = {"traces": 0, "before": ()}  # how many traces run now, what they replaced
_lock = threading.Lock()


@contextlib.contextmanager
def as_on_cpu():
    """Each of ``REPLACEMENTS`` in place for the duration. Counted, so that traces in several
    threads keep them until the last one ends, which puts back what was there."""
    with _lock:
        if _installed["traces"] == 0:
            _installed["before"] = tuple(getattr(space, name) for space, name, _ in REPLACEMENTS)
            for space, name, replacement in REPLACEMENTS:
                setattr(space, name, replacement)
        _installed["traces"] += 1
    try:
        yield
    finally:
        with _lock:
            _installed["traces"] -= 1
            if _installed["traces"] == 0:
                for (space, name, _), before in zip(REPLACEMENTS, _installed["before"]):
                    setattr(space, name, before)
