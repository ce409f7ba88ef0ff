"""The zoo: classic CNN architectures, built from scratch, one file per family.

Two doors only: ``names(pattern)`` and ``create(name, **kwargs)``. A family file registers each
builder with ``@register_model(input_size=...)``; the builder's function name is the public name.
``with zoo.shapes_only(): zoo.create(...)`` builds a model whose tensors hold no values, all an
analysis needs.

    >>> from convscope import zoo
    >>> model = zoo.create("resnet18", num_classes=10)
    >>> zoo.info("resnet18").input_size
    (3, 224, 224)
"""
from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch.overrides import TorchFunctionMode

from ..errors import UsageError

@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about one model before building it."""

    name: str
    family: str
    input_size: tuple[int, ...]
    summary: str
    builder: Callable


_REGISTRY: dict[str, ModelInfo] = {}
_loaded = False


def register_model(*, input_size: tuple[int, ...]):
    """Register ``fn`` under its own name, with its default input size (without batch)."""

    def decorate(fn: Callable) -> Callable:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"zoo model {name!r} is registered twice")
        family = fn.__module__.rsplit(".", 1)[-1]
        summary = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        _REGISTRY[name] = ModelInfo(name, family, tuple(input_size), summary, fn)
        return fn

    return decorate


def _load_families() -> None:
    global _loaded
    if not _loaded:
        for family in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{family.name}")
        _loaded = True


def names(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    if not isinstance(pattern, str):
        raise UsageError(f"names takes a shell pattern such as 'resnet*', got {pattern!r}.")
    _load_families()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def info(name: str) -> ModelInfo:
    """The registry entry of ``name``; an unknown name lists the closest ones."""
    if not isinstance(name, str):
        raise UsageError(f"a zoo model is named by a string such as 'resnet18', got {name!r}; "
                         "zoo.names() lists them.")
    _load_families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(
            f"no zoo model named {name!r}.{hint} `convscope zoo` lists all {len(_REGISTRY)} models."
        )
    return _REGISTRY[name]


def create(name: str, **kwargs):
    """Build the zoo model ``name``; keyword arguments go to its builder (num_classes, ...)."""
    entry = info(name)
    check_arguments(entry.builder, kwargs, f"zoo model {name!r}")
    try:
        return entry.builder(**kwargs)
    except TypeError as exc:  # the names are right (checked above): a value of the wrong type?
        if not _a_value_is_off_type(entry.builder, kwargs):  # a bug, in the builder or torch
            raise
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        defaults = ", ".join(f"{p.name}={p.default!r}" for p in
                             inspect.signature(entry.builder).parameters.values()
                             if p.default is not p.empty)
        raise UsageError(f"zoo model {name!r} cannot be built with {given}: {exc}. Give values "
                         f"of the defaults' types: {defaults}.") from None


def _a_value_is_off_type(builder: Callable, kwargs: dict) -> bool:
    """Whether a value given is not of its default's type, so that a TypeError the builder
    raised may be about it (an int where the default is a float is of its type; a parameter
    without a default, or with None, has no type to compare with, so it may be)."""
    params = inspect.signature(builder).parameters
    defaults = {key: getattr(params.get(key), "default", None) for key in kwargs}
    return any(not _of_type(value, defaults[key]) for key, value in kwargs.items())


def _of_type(value, default) -> bool:
    if default is inspect.Parameter.empty or default is None:
        return False
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return True
    return type(value) is type(default)


def check_arguments(builder: Callable, kwargs: dict, what: str, how: str = "") -> Mapping:
    """The one message for keyword arguments ``builder`` cannot take: a name it does not have
    (with the closest it has) or a required one missing, and the names it takes. ``what`` names
    the builder; ``how`` says how to give values (the CLI's ``--arg``). ``zoo.create`` and the
    CLI's ``file.py:callable`` models both check with it before building. Returns the builder's
    parameters, by name (empty where it has no signature to read)."""
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call will say
        return {}
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        params = signature.parameters
        problem = str(exc)
        open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
        unknown = [k for k in kwargs if k not in params] if not open_ended else []
        if unknown:  # before a missing one: 'widht' is why 'width' is missing
            close = difflib.get_close_matches(unknown[0], list(params), n=1, cutoff=0.6)
            problem = (f"got an unexpected keyword argument {unknown[0]!r}"
                       + (f" (did you mean {close[0]!r}?)" if close else ""))
        takes = ", ".join(params) or "no arguments"
        raise UsageError(f"{what}: {problem}. It takes: {takes}{how}.") from None
    return signature.parameters


class _NoInitialisation(TorchFunctionMode):
    """Initialisers on meta tensors do nothing: there are no values to write. PyTorch's meta
    ``normal_`` (kaiming_normal_, trunc_normal_) is a Python reference that imports TorchDynamo
    on its first call, ~1.1 s of a command's start."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else kwargs.get("tensor")  # nn.init passes it by name
        if (isinstance(first, torch.Tensor) and first.is_meta
                and (func in _FILLS or getattr(func, "__module__", None) == "torch.nn.init")):
            return first
        return func(*args, **kwargs)


_FILLS = {torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_,
          torch.Tensor.erfinv_}


@contextlib.contextmanager
def shapes_only():
    """Build on the meta device, skipping weight initialisation: no memory, no values."""
    with _NoInitialisation(), torch.device("meta"):
        yield
