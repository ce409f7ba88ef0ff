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

from torch import nn

from . import zoo
from .errors import ConvscopeError, ModelError, UsageError
from .trace.compiled import uncompiled
from .train.checkpoint import is_run, load_run, load_trained_model

SPEC_HELP = ("MODEL is zoo:NAME, package.module:callable, path/to/file.py:callable or a run "
             "folder written by convscope train")


# how a shell user writes them: "false" would otherwise stay a string, and a true one. Not
# "none": a text option (norm="none") takes that word as it is
_WORDS = {"true": True, "false": False}


def parse_args(pairs: list[str]) -> dict:
    """``["num_classes=10", "alpha=0.5", "name=x", "aux_logits=false"]`` -> values as Python
    literals where they parse (true and false in any case too), else the text."""
    kwargs = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--arg {pair!r} is not key=value; write e.g. --arg num_classes=10.")
        try:
            kwargs[key] = _WORDS[raw.strip().lower()] if raw.strip().lower() in _WORDS else (
                ast.literal_eval(raw))
        except (ValueError, SyntaxError):
            kwargs[key] = raw
    return kwargs


@contextlib.contextmanager
def _users_code(spec: str):
    """What the user's file or builder raises is their mistake, not ours: name its line."""
    try:
        yield
    except ConvscopeError:
        raise
    except SyntaxError as exc:  # its line is in the exception, not in the traceback
        raise ModelError(f"cannot import {exc.filename}:{exc.lineno} `{(exc.text or '').strip()}`"
                         f": {type(exc).__name__}: {exc.msg}. Fix the file and run again.") from exc
    except SystemExit as exc:  # sys.exit() or argparse at import: it would end convscope
        raise ModelError(f"{spec} called sys.exit({exc.code!r}) while convscope loaded it "
                         "(argparse or a script's own entry point run at import?). Put that code "
                         "under `if __name__ == \"__main__\":`.") from None
    except Exception as exc:
        from .analyses.validate import building_error

        raise building_error(exc, spec) from exc


def _import_file(path: Path):
    if not path.exists():
        raise UsageError(f"no file {path}. {SPEC_HELP}.")
    if not path.is_file():
        raise UsageError(f"{path} is a folder, not a Python file. {SPEC_HELP}.")
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
    if not all(part.isidentifier() for part in name.split(".")):
        why = "one ':' goes before the callable" if ":" in name else "relative names are not read"
        raise UsageError(f"{name!r} is neither a path to a .py file nor a module name such as "
                         f"package.module ({why}). {SPEC_HELP}, e.g. path/to/mynet.py:Net.")
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {name!r} ({exc}). {SPEC_HELP}.") from None


def _name_the_model(path: Path) -> str:
    """``file.py`` without ``:callable``: the classes and functions it defines, read without
    running it."""
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, UnicodeDecodeError, OSError):
        tree = ast.Module(body=[], type_ignores=[])
    kinds = (ast.ClassDef, ast.FunctionDef)
    found = [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]
    example = f"{path}:{found[0] if found else 'Net'}"
    defines = f" (it defines {', '.join(found[:10])})" if found else ""
    return (f"{path} names a file but not the model in it: write {path}:NAME, the class or "
            f"function that builds the model, e.g. {example}{defines}.")


def _check_arguments(target, kwargs: dict, spec: str) -> None:
    """Arguments the builder does not take, or required ones missing, as zoo.create says it,
    with how to give them on the command line."""
    params = zoo.check_arguments(target, kwargs, spec, how="; give values with --arg NAME=VALUE")
    for name, value in kwargs.items():
        default = params[name].default if name in params else None
        if isinstance(default, bool) and not isinstance(value, bool) and value not in (0, 1):
            raise UsageError(f"--arg {name}={value!r}: {spec} takes true or false for {name} "
                             f"(default {str(default).lower()}), e.g. --arg {name}=false.")


def refuse_run_arguments(spec: str, kwargs: dict) -> None:
    """A run's model is rebuilt with the arguments it recorded: others would be ignored."""
    if kwargs:
        raise UsageError(f"--arg {', '.join(kwargs)}: {spec} is a run, whose model is rebuilt "
                         "as it was trained, with the arguments it recorded; --arg builds a "
                         "MODEL spec (zoo:NAME, file.py:NAME).")


def load_model(spec: str, kwargs: dict | None = None, shapes_only: bool = False
               ) -> tuple[nn.Module, str]:
    """Build the model a spec names; returns it with a display name.

    ``shapes_only`` builds zoo models on the meta device: no weight initialisation, no memory,
    which is all an analysis needs (user models are built as they are).
    """
    kwargs = kwargs or {}
    if not spec.strip():  # Path("") is the working directory: it would be read as a folder
        raise UsageError(f"MODEL is empty. {SPEC_HELP}.")
    if is_run(spec):
        refuse_run_arguments(spec, kwargs)
        model, run = load_trained_model(spec)
        return model, run.name
    if spec.startswith("zoo:"):
        name = spec[4:]
        _check_arguments(zoo.info(name).builder, kwargs, spec)
        with _users_code(spec), zoo.shapes_only() if shapes_only else contextlib.nullcontext():
            return zoo.create(name, **kwargs), name
    model, name = _user_model(spec, kwargs)
    return uncompiled(model), name  # a file may hand us torch.compile(model): its module


def _user_model(spec: str, kwargs: dict) -> tuple[nn.Module, str]:
    """What ``package.module:callable`` or ``path/to/file.py:callable`` names, built."""
    where, sep, attr = spec.rpartition(":")
    if not sep and Path(spec).is_dir():
        raise UsageError(f"{spec} is a folder but not a run: it holds no best.pt, which "
                         f"`convscope train MODEL --out {spec}` writes. {SPEC_HELP}.")
    bare = spec.removesuffix(":")
    if bare.endswith(".py") and Path(bare).is_file():
        raise UsageError(_name_the_model(Path(bare)))
    if not sep or not where or not attr:
        close = [f"zoo:{n}" for n in difflib.get_close_matches(spec, zoo.names(), n=3)]
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(f"cannot read MODEL {spec!r}.{hint} {SPEC_HELP}, e.g. zoo:resnet18.")
    if not where.endswith(".py") and Path(where).is_file():  # a path, but not to Python code
        raise UsageError(f"{where} is a file but not a Python file: MODEL names a .py file, "
                         f"e.g. net.py:{attr}. {SPEC_HELP}.")
    with _users_code(spec):
        module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    target = getattr(module, attr, None)
    if target is None:
        found = [n for n in dir(module) if not n.startswith("_")]
        raise UsageError(f"{where} has no {attr!r}; it defines: {', '.join(found[:20])}.")
    if isinstance(target, nn.Module):
        return target, attr
    if not callable(target):
        raise UsageError(f"{spec} is not callable (its type is {type(target).__name__}): name an "
                         "nn.Module subclass, a function that returns one, or a model instance.")
    _check_arguments(target, kwargs, spec)
    with _users_code(spec):
        model = target(**kwargs)
    if not isinstance(model, nn.Module):
        raise UsageError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module.")
    return model, attr


def default_input(spec: str) -> tuple[int, ...] | None:
    """The zoo's default input size for ``zoo:NAME`` specs, a run's input size, else None."""
    if is_run(spec):
        return load_run(spec)[0].input_size
    return zoo.info(spec[4:]).input_size if spec.startswith("zoo:") else None
