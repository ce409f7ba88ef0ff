"""`convscope conv` and `convscope pool`: one layer's arithmetic, without a model."""
from __future__ import annotations

import sys
from typing import Optional

import typer

from ..errors import UsageError
from .app import DebugOpt, app, friendly, too_large

InputCalc = typer.Option(..., "--input", "-i", help="channels x size without batch, e.g. 3x64x64")


def parse_ints(text: str, option: str, dims: int, minimum: int = 1) -> int | tuple[int, ...]:
    """``5`` -> 5; ``5,3`` or ``5x3`` -> (5, 3): one value for every side, or one per side of
    the ``dims`` spatial sides, each at least ``minimum``."""
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        values = ()
    one = str(minimum + 1)
    each = f"{option} {one}" + (f" or {option} {','.join([one] * dims)}" if dims > 1 else "")
    if not values or any(v < minimum for v in values):
        raise UsageError(f"{option} {text!r}: each value must be a whole number of at least "
                         f"{minimum}, e.g. {each}.")
    if any(v > 2**63 - 1 for v in values):  # PyTorch's own refusal would quote its C++ text
        raise UsageError(too_large(f": {option} {text!r}"))
    if len(values) not in (1, dims):
        sides = f"one value, or {dims} (one per side)" if dims > 1 else "one value"
        raise UsageError(f"{option} {text!r} gives {len(values)} values, but the input has "
                         f"{dims} spatial side{'s' * (dims != 1)}: give {sides}, e.g. {each}.")
    return values[0] if len(values) == 1 else values


def parse_padding(text: str, conv: bool, dims: int):
    if text in ("same", "valid"):
        if not conv:
            raise UsageError(f"--padding {text} is for convs; a pool takes a number, e.g. 1.")
        return text
    return parse_ints(text, "--padding", dims, minimum=0)


def _one_shape(text: str) -> tuple[int, ...]:
    from ..trace.inputs import parse_input

    shapes = parse_input(text)
    if len(shapes) != 1 or len(shapes[0]) < 2:
        raise UsageError(f"--input {text!r} must be one shape: channels x spatial sizes without "
                         "the batch, e.g. --input 3x64x64.")
    return shapes[0]


@app.command()
@friendly
def conv(
    input: str = InputCalc,
    out_channels: int = typer.Option(..., "--out-channels", "-o", help="number of filters"),
    kernel: str = typer.Option(..., "--kernel", "-k", help="kernel size, e.g. 3 or 5,3"),
    stride: str = typer.Option("1", "--stride", "-s"),
    padding: str = typer.Option("0", "--padding", "-p", help="N, N,M, same or valid"),
    dilation: str = typer.Option("1", "--dilation", "-d"),
    groups: int = typer.Option(1, "--groups", "-g"),
    padding_mode: str = typer.Option("zeros", "--padding-mode",
                                     help="zeros|reflect|replicate|circular"),
    bias: bool = typer.Option(True, "--bias/--no-bias"),
    debug: bool = DebugOpt,
):
    """One conv layer: output shape, weight and bias shapes, parameters, MACs, receptive field,
    and the padding that keeps the size.

    \b
    Examples:
      convscope conv --input 3x64x64 --out-channels 10 --kernel 5 --stride 2
      convscope conv --input 16x56x56 --out-channels 16 --kernel 3 --padding same --groups 16
    """
    from ..calculator import ConvOptions, conv_calculation
    from ..render.explain import render_calculation

    shape = _one_shape(input)
    dims = len(shape) - 1
    options = ConvOptions(shape, out_channels, parse_ints(kernel, "--kernel", dims),
                          parse_ints(stride, "--stride", dims), parse_padding(padding, True, dims),
                          parse_ints(dilation, "--dilation", dims), groups, padding_mode, bias)
    for flag, value in (("--out-channels", out_channels), ("--groups", groups)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}; e.g. {flag} 1.")
    sys.stdout.write(render_calculation(conv_calculation(options)))


@app.command()
@friendly
def pool(
    input: str = InputCalc,
    kernel: str = typer.Option(..., "--kernel", "-k", help="window size, e.g. 2 or 3,2"),
    stride: Optional[str] = typer.Option(None, "--stride", "-s", help="default: the kernel"),
    padding: str = typer.Option("0", "--padding", "-p"),
    ceil_mode: bool = typer.Option(False, "--ceil-mode", help="round the output size up"),
    kind: str = typer.Option("max", "--kind", help="max|avg"),
    debug: bool = DebugOpt,
):
    """One pooling layer: output shape, the formula, receptive field, size-keeping padding.

    \b
    Examples:
      convscope pool --input 64x112x112 --kernel 2
      convscope pool --input 64x112x112 --kernel 3 --stride 2 --padding 1
      convscope pool --input 3x7x7 --kernel 2 --ceil-mode
    """
    from ..calculator import PoolOptions, pool_calculation
    from ..render.explain import render_calculation

    shape = _one_shape(input)
    dims = len(shape) - 1
    options = PoolOptions(shape, parse_ints(kernel, "--kernel", dims),
                          parse_ints(stride, "--stride", dims) if stride is not None else None,
                          parse_padding(padding, False, dims), ceil_mode, kind)
    sys.stdout.write(render_calculation(pool_calculation(options)))
