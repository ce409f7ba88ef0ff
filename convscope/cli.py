"""The command line: wires loading, analysis and rendering together. Computes nothing itself."""
from __future__ import annotations

import functools
import sys
import traceback
from typing import List, Optional

import typer
from rich.console import Console

from .errors import ConvscopeError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="convscope: shapes, parameters, MACs, memory and receptive fields of CNNs.")
err = Console(stderr=True, highlight=False)
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
            err.print(f"internal error: {type(exc).__name__}: {exc}\n(rerun with --debug for "
                      "the traceback, and please report it)", markup=False)
            raise typer.Exit(1)

    return run


def _dtype(name: str):
    import torch

    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise UsageError(f"--dtype {name!r} is not a torch dtype; try float32, bfloat16 or float16.")
    return value


def _load(model: str, args: list[str], input: Optional[str], shapes_only: bool = True):
    from .loading import default_input, load_model, parse_args
    from .trace.inputs import parse_input

    network, name = load_model(model, parse_args(args), shapes_only=shapes_only)
    shapes = parse_input(input) if input else [default_input(model)]
    if shapes == [None]:
        raise UsageError(f"--input is needed for {model}: e.g. --input 3x224x224 "
                         "(channels x height x width, without the batch).")
    return network, name, shapes


def _emit(report, fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt == "table":
        from .render.table import print_report

        print_report(report, Console(highlight=False))
    else:
        text = {"markdown": report.to_markdown, "csv": report.to_csv, "json": report.to_json}[fmt]()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


ModelArg = typer.Argument(..., help="zoo:NAME, package.module:callable or file.py:callable")
InputOpt = typer.Option(None, "--input", "-i", help="shape without batch, e.g. 3x224x224")
ArgOpt = typer.Option([], "--arg", help="key=value passed to the model's builder (repeatable)")
DebugOpt = typer.Option(False, "--debug", help="show tracebacks")


@app.command()
@friendly
def summary(
    model: str = ModelArg,
    input: Optional[str] = InputOpt,
    batch: int = typer.Option(1, "--batch", "-b", help="batch size"),
    depth: Optional[int] = typer.Option(None, "--depth", "-d", help="fold rows deeper than N"),
    format: str = typer.Option("table", "--format", "-f", help="table|markdown|csv|json"),
    train: bool = typer.Option(False, "--train", help="trace in training mode"),
    real: bool = typer.Option(False, "--real", help="run a real forward (data-dependent models)"),
    dtype: str = typer.Option("float32", "--dtype", help="input dtype"),
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Per-layer table: output shape, parameters, MACs, output memory.

    Examples:
      convscope summary zoo:resnet50
      convscope summary zoo:vgg16 --depth 1 --format markdown
      convscope summary mymodels.py:Net --input 1x28x28 --batch 64 --arg num_classes=10
    """
    from .api import analyze

    network, name, shapes = _load(model, arg, input, shapes_only=not real)
    report = analyze(network, shapes, batch_size=batch, dtype=_dtype(dtype), train=train,
                     depth=depth, real=real, name=name)
    _emit(report, format)


@app.command("zoo")
@friendly
def zoo_table(
    pattern: str = typer.Argument("*", help="shell pattern over names, e.g. 'resnet*'"),
    format: str = typer.Option("table", "--format", "-f", help="table|markdown|csv|json"),
    debug: bool = DebugOpt,
):
    """Every zoo model: parameters, MACs and default input.

    Examples:
      convscope zoo
      convscope zoo 'vgg*' --format markdown
    """
    from .catalogue import catalogue
    from .render.catalogue import render_catalogue

    entries = catalogue(pattern)
    if not entries:
        raise UsageError(f"no zoo model matches {pattern!r}; `convscope zoo` lists them all.")
    if format not in FORMATS:
        raise UsageError(f"--format {format!r} is not one of {', '.join(FORMATS)}.")
    render_catalogue(entries, format, Console(highlight=False))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
