"""The Typer app and what every command shares: error handling, model loading, output formats."""
from __future__ import annotations

import functools
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..errors import ConvscopeError, UsageError, names_hint, out_of_memory, too_large

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="convscope: shapes, parameters, MACs, memory and receptive fields of CNNs.")
# no emoji codes: a MODEL spec's ``file.py:A:`` would print as ``file.py🅰``
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
FORMATS = ("table", "markdown", "csv", "json")


def friendly(command):
    """Run a command so a user's mistake prints one message and exits 2 (a traceback with --debug)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        debug = kwargs.get("debug", False)
        try:
            return command(*args, **kwargs)
        except ConvscopeError as exc:
            if debug:
                traceback.print_exc()
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(2)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours: say so, briefly
            if debug:
                traceback.print_exc()
            limit = beyond_limits(exc)
            if limit:
                err.print(f"error: {limit}", markup=False)
                raise typer.Exit(2) from None
            err.print(f"internal error: {type(exc).__name__}: {exc}\n(rerun with --debug for "
                      "the traceback, and please report it)", markup=False)
            raise typer.Exit(1)

    return run


def beyond_limits(exc: Exception) -> str | None:
    """The message for what torch refuses as too large, wherever a command meets it: a number
    past int64, or a real tensor past the machine's memory. None for anything else."""
    text = str(exc)
    if isinstance(exc, OverflowError) or "Overflow when unpacking long" in text:
        return too_large(f" ({type(exc).__name__}: {(text.splitlines() or [''])[0]})")
    if out_of_memory(exc):
        found = re.search(r"allocate (\d+) bytes", text)
        needed = f" of {int(found.group(1)) / 2**30:,.1f} GiB" if found else ""
        return (f"this machine does not have the memory for a real tensor{needed} (a real forward, "
                "training or pictures): use a smaller --batch or input size; summary, explain, "
                "memory and rf without --real use shape-only tensors, which take none.")
    return None


def parse_dtype(name: str):
    import torch

    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise UsageError(f"--dtype {name!r} is not a torch dtype; try float32, bfloat16 or float16.")
    return value


def weights_in(network, dtype):
    """``network`` with its floating parameters and buffers converted to a floating ``dtype``:
    on the command line ``--dtype`` is the input's and, for a floating one, the weights' too, as
    the fix for a mismatch (``model.to(...)``) is not a command-line user's to apply. The model
    is the command's own copy. An integer dtype (token ids) is the input's alone."""
    if dtype.is_floating_point:
        network.to(dtype)
    return network


def output_folder(path, option: str = "--out") -> Path:
    """Create the folder a command writes into before the work starts: a path that cannot be
    written fails now, with the user's words, not after an epoch of training."""
    if not str(path).strip():  # Path("") is the working directory
        raise UsageError(f"{option} is empty: give a folder name (created if missing), e.g. "
                         f"{option} pictures.")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{option} {path} is a file or inside one, but must be a folder: give "
                         f"a folder name (created if missing), e.g. {option} pictures.") from None
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create this folder ({exc.strerror}); give a "
                         "folder you can write to.") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: this folder is not writable; give one you can write "
                         "to.")
    return folder


def load_network(model: str, args: list[str], input: Optional[str], shapes_only: bool = True):
    """The network a MODEL names, its display name and its input shapes (--input, else the
    zoo's or the run's own)."""
    network, name, shapes, _ = load_network_and_run(model, args, input, shapes_only)
    return network, name, shapes


def load_network_and_run(model: str, args: list[str], input: Optional[str],
                         shapes_only: bool = True):
    """``load_network``, and the ``checkpoint.Run`` a run folder holds (None for any other
    MODEL): best.pt is read once, for the weights, the default input and the recipe."""
    from ..loading import default_input, load_model, parse_args, refuse_run_arguments
    from ..trace.inputs import parse_input
    from ..train.checkpoint import is_run, load_trained_model

    run = None
    try:
        kwargs = parse_args(args)
        if is_run(model):
            refuse_run_arguments(model, kwargs)
            network, run = load_trained_model(model)
            name = run.name
        else:
            network, name = load_model(model, kwargs, shapes_only=shapes_only)
    except (ValueError, RuntimeError, AssertionError) as exc:  # the builder raised: say where
        from ..analyses.validate import building_error

        raise building_error(exc, model) from exc
    # --input "" (an empty shell variable) is a shape to read, not a missing option
    default = run.input_size if run is not None else default_input(model)
    shapes = parse_input(input) if input is not None else [default]
    if shapes == [None]:
        raise UsageError(f"--input is needed for {model}: e.g. --input 3x224x224 "
                         "(channels x height x width, without the batch).")
    return network, name, shapes, run


def layer_hint(layer: str, names: list[str]) -> str:
    """What follows "no layer 'x'." for a --layer that names none (``errors.names_hint``)."""
    return f" {names_hint(layer, names)}"


def run_recipe(run):
    """The training step a ``checkpoint.Run`` took (``train.options.StepRecipe``), None for no
    run: ``memory`` and ``summary`` predict that step unless a flag says otherwise."""
    from ..train.options import step_recipe

    return step_recipe(run) if run is not None else None


def training_step(recipe, optimizer: Optional[str], weight_decay: Optional[float] = None):
    """(optimizer, weight decay) of the step ``memory`` and ``summary`` simulate: each as
    given, else the run's (``recipe``), else momentum and the optimizer's own decay (None)."""
    if recipe is not None:
        optimizer = optimizer or recipe.optimizer
        weight_decay = recipe.weight_decay if weight_decay is None else weight_decay
    return optimizer or "momentum", weight_decay


def describe_optimizer(recipe) -> str:
    """``sgd, momentum 0.9, weight decay 0.0005``: in the run's words (train's --optimizer),
    not memory's (whose ``sgd`` has no momentum)."""
    optimizer = {"momentum": f"sgd, momentum {recipe.momentum:g}",
                 "sgd": "sgd, no momentum"}.get(recipe.optimizer, recipe.optimizer)
    return f"{optimizer}, weight decay {recipe.weight_decay:g}"


def stdout_console() -> Console:
    """Standard output; piped output gets a wide page so tables are not wrapped at 80 columns."""
    return Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)


def emit_report(report, fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "table":
        from ..render.table import print_report

        print_report(report, stdout_console())
    else:
        text = {"markdown": report.to_markdown, "csv": report.to_csv, "json": report.to_json}[fmt]()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


ModelArg = typer.Argument(..., help="zoo:NAME, package.module:callable or file.py:callable")
InputOpt = typer.Option(None, "--input", "-i", help="shape without batch, e.g. 3x224x224")
ArgOpt = typer.Option([], "--arg", help="key=value passed to the model's builder (repeatable)")
DebugOpt = typer.Option(False, "--debug", help="show tracebacks")
