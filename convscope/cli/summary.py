"""`convscope summary`: the per-layer table."""
from __future__ import annotations

from typing import List, Optional

import typer

from .app import ArgOpt, DebugOpt, InputOpt, ModelArg, parse_dtype, emit_report, load_network, app, friendly


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
    from ..api import analyze

    network, name, shapes = load_network(model, arg, input, shapes_only=not real)
    report = analyze(network, shapes, batch_size=batch, dtype=parse_dtype(dtype), train=train,
                     depth=depth, real=real, name=name)
    emit_report(report, format)
