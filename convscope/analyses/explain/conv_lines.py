"""A conv's weights, parameters and MACs, from its weight tensor and the output PyTorch gave.

For 10 filters of 5x5 on 3 channels with a 30x30 output (seed 001)::

    weights = 10 filters × 3 channels × 5 × 5 = 750, bias 10, parameters 760
    parameters = n_k(c·k²+1) = 10·(3·5²+1) = 760
    MACs = 30 × 30 positions × 10 filters × (3 × 5 × 5) weights each = 675,000

A transposed conv's weight is [C_in, C_out/groups, k, ...]: its MACs count input values (each
meets C_out/groups × k × ... weights), not output positions.
"""
from __future__ import annotations

from math import prod

from ...graph import Node
from ...rules import cost_of
from ..windows import Window


def conv_lines(node: Node, window: Window) -> list[str]:
    weight, bias = node.args[1], node.args[2]
    kernel = " × ".join(map(str, weight.shape[2:]))
    c_out, per = weight.shape[0], weight.shape[1]  # a transposed conv's c_out is its C_in
    count = prod(weight.shape)
    bias_count = bias.shape[0] if bias is not None else 0
    total = count + bias_count
    lines = [f"{_weights(node, window, kernel)} = {count:,}, "
             + (f"bias {bias_count}, parameters {total:,}" if bias_count else
                f"no bias, parameters {total:,}")]
    square = len(weight.shape) == 4 and weight.shape[2] == weight.shape[3]
    if window.groups == 1 and square and bias_count and window.kind == "conv":
        k = weight.shape[2]
        lines.append(f"parameters = n_k(c·k²+1) = {c_out}·({per}·{k}²+1) = {total:,}")
    lines.append(_macs_line(node, window, kernel))
    return lines


def _weights(node: Node, window: Window, kernel: str) -> str:
    """``weights = 10 filters × 3 channels × 5 × 5``: the factors of the weight tensor's size."""
    x, weight, groups = node.args[0], node.args[1], window.groups
    if window.kind == "transposed":
        c_in, per = weight.shape[0], weight.shape[1]
        return (f"weights = {c_in} input channels × {_counted(per, 'output channel')}"
                f"{f' per group ({groups} groups)' if groups > 1 else ''} × {kernel}")
    c_out, per = weight.shape[0], weight.shape[1]
    each = f" each ({x.shape[1]} in / {groups} groups)" if groups > 1 else ""
    return f"weights = {_counted(c_out, 'filter')} × {_counted(per, 'channel')}{each} × {kernel}"


def _macs_line(node: Node, window: Window, kernel: str) -> str:
    x, weight, out = node.args[0], node.args[1], node.outputs[0].shape
    per, macs = weight.shape[1], cost_of(node).macs
    if window.kind == "transposed":
        return f"MACs = {' × '.join(map(str, x.shape))} inputs × ({per} × {kernel}) = {macs:,}"
    positions = " × ".join(map(str, out[2:]))
    images = f"{out[0]} images × " if out[0] > 1 else ""
    return (f"MACs = {images}{positions} positions × {_counted(weight.shape[0], 'filter')}"
            f" × ({per} × {kernel}) weights each = {macs:,}")


def _counted(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"
