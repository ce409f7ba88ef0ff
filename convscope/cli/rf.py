"""`convscope rf`: the receptive field of every layer."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from ..errors import UsageError
from .app import (ArgOpt, DebugOpt, InputOpt, ModelArg, app, friendly, layer_hint,
                  load_network, stdout_console)

RF_FORMATS = ("table", "markdown", "json")


@app.command()
@friendly
def rf(
    model: str = ModelArg,
    input: Optional[str] = InputOpt,
    layer: Optional[str] = typer.Option(None, "--layer", "-l",
                                        help="show one layer (a module or a row name)"),
    depth: Optional[int] = typer.Option(None, "--depth", "-d", help="fold rows deeper than N"),
    format: str = typer.Option("table", "--format", "-f", help="table|markdown|json"),
    real: bool = typer.Option(False, "--real", help="run a real forward (data-dependent models)"),
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Receptive field per layer: size r, effective stride S and padding P per axis (unit u sees
    input positions u*S - P ... u*S - P + r - 1), centre, whether r exceeds the input, and
    whether merged paths (residual adds, concatenations) are aligned.

    \b
    Examples:
      convscope rf zoo:resnet18
      convscope rf zoo:inception_v3 --depth 1
      convscope rf zoo:vgg16 --layer features.30 --format json
      convscope rf mymodels.py:Net --input 1x64x64
    """
    from ..analyses.receptive_field import receptive_fields
    from ..api import analyze
    from ..render.receptive_field import print_rf, render_rf_json, render_rf_markdown

    if format not in RF_FORMATS:
        raise UsageError(f"--format {format!r} is not one of {', '.join(RF_FORMATS)}.")
    network, name, shapes = load_network(model, arg, input, shapes_only=not real)
    report = analyze(network, shapes, depth=depth, real=real, name=name)
    if layer is not None:
        report = _one_layer(report, layer, lambda d: analyze(network, shapes, depth=d, real=real,
                                                             name=name))
    fields = receptive_fields(report.graph)
    if format == "table":
        print_rf(report, fields, stdout_console())
    else:
        render = render_rf_json if format == "json" else render_rf_markdown
        sys.stdout.write(render(report, fields))


def _one_layer(report, layer: str, analyze_at):
    """The report cut to the rows named ``layer``; a module without a row is folded into one."""
    from dataclasses import replace

    rows = [r for r in report.rows if r.name == layer]
    if not rows:
        call = next((c for c in report.graph.calls if c.name == layer and c.name), None)
        if call is not None:
            folded = analyze_at(call.depth)
            rows = [r for r in folded.rows if r.name == layer]
    if not rows:
        # the rows in model order, then the modules folded into them (a block, a Sequential)
        names = [r.name for r in report.rows] + [c.name for c in report.graph.calls if c.name]
        raise UsageError(f"--layer {layer!r}: no such layer in {report.model_name}."
                         f"{layer_hint(layer, names)} `convscope rf MODEL` lists every layer.",
                         layer=layer)
    return replace(report, rows=rows)
