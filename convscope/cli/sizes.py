"""`convscope sizes`: the smallest input that runs, and the sizes no stride drops pixels of."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from ..errors import UsageError
from .app import ArgOpt, DebugOpt, InputOpt, ModelArg, app, friendly, load_network


@app.command()
@friendly
def sizes(
    model: str = ModelArg,
    input: Optional[str] = InputOpt,
    max: Optional[int] = typer.Option(None, "--max",
                                      help="largest side to list (default: 2 x input, at most "
                                           "65536, or 8 periods past the smallest if that is "
                                           "larger)"),
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Which input sizes pass through the network, and which pass every stride without dropping
    pixels (cs231n: "the input should be divisible by 2 many times").

    \b
    Examples:
      convscope sizes zoo:vgg16
      convscope sizes zoo:lenet5
      convscope sizes mynet.py:Net --input 3x100x100
    """
    from ..probe import checked_trace, size_report
    from ..render.explain import render_sizes
    from ..trace.inputs import make_spec

    if max is not None and max < 1:
        raise UsageError(f"--max is the largest side to list and must be at least 1, got {max}; "
                         "e.g. --max 64.")
    network, name, shapes = load_network(model, arg, input)
    spec = make_spec(shapes)
    report = size_report(network, spec, limit=max)
    if report.smallest is None:
        checked_trace(network, spec)  # raises why the given input fails, if it does
    sys.stdout.write(render_sizes(report, name))
