"""The tensors inside a value a module returned: what the trace records as a call's outputs,
and what the real-gradient measurements (``receptive_field``, ``show``) take a layer's output
to be. Plain torch, no other part of convscope: every layer may read it."""
from __future__ import annotations

import dataclasses

import torch
from torch.utils import _pytree


def flat_tensors(value) -> list[torch.Tensor]:
    """The tensors inside a module's output, in order: through lists, tuples (named ones too),
    dicts (an OrderedDict subclass such as a model-output class too), dataclass instances and
    the types registered with PyTorch's pytree. Pytree alone takes a dataclass or a dict
    subclass it has not registered for one leaf, and misses its tensors."""
    if type(value) is torch.Tensor:  # most modules: no tree to walk
        return [value]
    found: list[torch.Tensor] = []
    _collect(value, found, 0)
    return found


_DEEPEST = 32  # a structure nested deeper than this (or one that holds itself) is not followed


def _collect(value, found: list, depth: int) -> None:
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif depth >= _DEEPEST or isinstance(value, (str, bytes)):
        return
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _collect(getattr(value, field.name, None), found, depth + 1)
    elif type(value) in _pytree.SUPPORTED_NODES:  # a deque, or a type a library registered
        for item in _pytree.tree_flatten(value)[0]:
            _collect(item, found, depth + 1)
