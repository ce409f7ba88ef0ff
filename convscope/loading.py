"""MODEL specs on the command line: ``zoo:NAME``, ``package.module:callable``, ``file.py:callable``,
or a training run (its folder, or a checkpoint ``.pt`` file), rebuilt with its trained weights."""
from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from . import zoo
from .errors import UsageError
from .train.checkpoint import is_run, load_run, load_trained_model

SPEC_HELP = ("MODEL is zoo:NAME, package.module:callable, path/to/file.py:callable or a run "
             "folder written by convscope train")


def parse_args(pairs: list[str]) -> dict:
    """``["num_classes=10", "alpha=0.5", "name=x"]`` -> values as Python literals where they parse."""
    kwargs = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--arg {pair!r} is not key=value; write e.g. --arg num_classes=10.")
        try:
            kwargs[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            kwargs[key] = raw
    return kwargs


def _import_file(path: Path):
    if not path.exists():
        raise UsageError(f"no file {path}. {SPEC_HELP}.")
    name = f"_convscope_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent.resolve()))
    spec.loader.exec_module(module)
    return module


def _import_module(name: str):
    """``package.module`` as ``python -m`` finds it, from the working directory first: the
    ``convscope`` console script puts its own folder on sys.path, not the working directory."""
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {name!r} ({exc}). {SPEC_HELP}.") from None


def load_model(spec: str, kwargs: dict | None = None, shapes_only: bool = False
               ) -> tuple[nn.Module, str]:
    """Build the model a spec names; returns it with a display name.

    ``shapes_only`` builds zoo models on the meta device: no weight initialisation, no memory,
    which is all an analysis needs (user models are built as they are).
    """
    kwargs = kwargs or {}
    if is_run(spec):
        model, run = load_trained_model(spec)
        return model, run.name
    if spec.startswith("zoo:"):
        name = spec[4:]
        zoo.info(name)
        with torch.device("meta") if shapes_only else contextlib.nullcontext():
            return zoo.create(name, **kwargs), name
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        close = [f"zoo:{n}" for n in difflib.get_close_matches(spec, zoo.names(), n=3)]
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(f"cannot read MODEL {spec!r}.{hint} {SPEC_HELP}, e.g. zoo:resnet18.")
    module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    target = getattr(module, attr, None)
    if target is None:
        found = [n for n in dir(module) if not n.startswith("_")]
        raise UsageError(f"{where} has no {attr!r}; it defines: {', '.join(found[:20])}.")
    model = target if isinstance(target, nn.Module) else target(**kwargs)
    if not isinstance(model, nn.Module):
        raise UsageError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module.")
    return model, attr


def default_input(spec: str) -> tuple[int, ...] | None:
    """The zoo's default input size for ``zoo:NAME`` specs, a run's input size, else None."""
    if is_run(spec):
        return load_run(spec)[0].input_size
    return zoo.info(spec[4:]).input_size if spec.startswith("zoo:") else None
