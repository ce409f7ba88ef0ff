"""`convscope explain`: the notes' arithmetic for every layer, or the cs231n VGG16 table."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from ..errors import UsageError
from .app import (ArgOpt, DebugOpt, InputOpt, ModelArg, app, friendly, layer_hint,
                  load_network)

STYLES = ("steps", "cs231n")


@app.command()
@friendly
def explain(
    model: str = ModelArg,
    input: Optional[str] = InputOpt,
    layer: Optional[str] = typer.Option(None, "--layer", "-l",
                                        help="only this layer, e.g. features.0"),
    style: str = typer.Option("steps", "--style",
                              help="steps (derivations) | cs231n (the notes' table)"),
    batch: int = typer.Option(1, "--batch", "-b", help="batch size"),
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Show the working: output sizes, weights, MACs, memory and receptive field per layer.

    \b
    Examples:
      convscope explain zoo:lenet5
      convscope explain zoo:vgg16 --layer features.0
      convscope explain zoo:resnet18 --layer layer2.0
      convscope explain zoo:vgg16 --style cs231n
      convscope explain mynet.py:Net --input 3x64x64
    """
    from ..analyses.cs231n import cs231n_table
    from ..analyses.explain import explain as explain_report
    from ..api import analyze
    from ..render.explain import render_cs231n, render_explanation

    if style not in STYLES:
        raise UsageError(f"--style {style!r} is not one of {', '.join(STYLES)}.")
    if style == "cs231n" and layer is not None:
        raise UsageError("--style cs231n tabulates every layer; --layer picks one of the steps "
                         "style. Give one of the two.")
    network, name, shapes = load_network(model, arg, input)
    report = analyze(network, shapes, batch_size=batch, name=name)
    if style == "cs231n":
        sys.stdout.write(render_cs231n(cs231n_table(report)))
        return
    inside = [row.name for row in report.rows if layer is not None
              and (row.name == layer or row.name.startswith(layer + "."))]
    if layer is not None and not inside:
        names = [row.name for row in report.rows]
        raise UsageError(f"{name} has no layer {layer!r}.{layer_hint(layer, names)}")
    sys.stdout.write(render_explanation(explain_report(report, layer)))
