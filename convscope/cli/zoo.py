"""`convscope zoo`: the table of every zoo model."""
from __future__ import annotations

import typer

from ..errors import UsageError
from .app import FORMATS, DebugOpt, app, friendly, stdout_console


@app.command("zoo")
@friendly
def zoo_table(
    pattern: str = typer.Argument("*", help="shell pattern over names, e.g. 'resnet*'"),
    format: str = typer.Option("table", "--format", "-f", help="table|markdown|csv|json"),
    debug: bool = DebugOpt,
):
    """Every zoo model: parameters, MACs, depth in weight layers and default input.

    \b
    Examples:
      convscope zoo
      convscope zoo 'vgg*' --format markdown
    """
    from ..catalogue import catalogue
    from ..render.catalogue import render_catalogue

    entries = catalogue(pattern)
    if not entries:
        raise UsageError(f"no zoo model matches {pattern!r}{_widened(pattern)}; `convscope zoo` "
                         "lists them all.")
    if format not in FORMATS:
        raise UsageError(f"--format {format!r} is not one of {', '.join(FORMATS)}.")
    render_catalogue(entries, format, stdout_console())


def _widened(pattern: str) -> str:
    """``; 'resnet*' matches resnet101, resnet152, ...`` for a pattern without wildcards that
    begins some names (a name alone matches only itself)."""
    from .. import zoo

    if any(c in pattern for c in "*?["):
        return ""
    found = zoo.names(pattern + "*")
    if not found:
        return ""
    more = f" and {len(found) - 4} more" if len(found) > 4 else ""
    return f"; {pattern + '*'!r} matches {', '.join(found[:4])}{more}"
