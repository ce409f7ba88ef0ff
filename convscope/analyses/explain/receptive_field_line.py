"""The receptive field after a conv, pool or upsampling, and the step the layer adds to it; the
fields are those ``convscope rf`` and the summary's RF column show
(``analyses/receptive_field.py``)::

    receptive field = 6x6 input pixels, jump 2 (r = 5 + (2−1)·1 = 6, j = 1·2 = 2; ...)

A transposed conv or an upsampling is a window on its input with a fractional stride (a 2x
upsampling steps by 1/2 of an input unit), as the field rules read it; the field is then an
estimate, marked ``~`` as ``rf`` marks it.
"""
from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from ...graph import Node
from ..field import number
from ..field_rules.windows import convolution_geometry, upsample_geometry
from ..receptive_field import ReceptiveFields
from ..windows import Window, pixels

ESTIMATE = "~: an estimate (fractional or uneven strides), as convscope rf marks it"


class Step(NamedTuple):
    """The window one op is on its input along one spatial dim: kernel k, stride s."""

    kernel: int | Fraction
    stride: int | Fraction
    how: str = ""  # how k and s come from the op, where they are not its own arguments


def window_steps(node: Node, window: Window) -> list[Step]:
    if window.kind != "transposed":
        return [Step(window.effective_kernel(d), window.stride[d])
                for d in range(len(window.stride))]
    geometry = convolution_geometry(node)
    steps = []
    for d in range(len(window.stride)):
        k, s = geometry(d)[:2]
        span, stride = window.effective_kernel(d), window.stride[d]
        steps.append(Step(k, s, f"as a window on its input k = ({span}−1)/{stride} + 1 = "
                                f"{number(k)}, s = 1/{stride}; "))
    return steps


def upsample_steps(node: Node) -> list[Step]:
    geometry, n = upsample_geometry(node), len(node.outputs[0].shape) - 2
    steps = []
    for d in range(n):
        k, s = geometry(d)[:2]
        values = "value" if k == 1 else "values"
        steps.append(Step(k, s, f"as a window on its input k = {number(k)} input {values} per "
                                f"output, s = {number(s)} input units per output unit; "))
    return steps


def receptive_field_line(found: ReceptiveFields, node: Node, steps: list[Step] | None
                         ) -> str | None:
    """The window step of the field ``convscope rf`` computes, on the layer's first axis that
    is not global: r = r_in + (k_eff − 1)·j_in, j = j_in·s. ``steps``: the op's window along
    each of its spatial dims; None for an op that has none (a Linear, a global pool)."""
    after = found.of_node(node.index)
    if after is None or not after.known:
        return None
    if after.is_global:
        return "receptive field = the whole input"
    before = found.of(node.args[0]) if node.args else None
    if before is None or not before.known or not steps:
        return None
    axis = next((i for i, (a, d) in enumerate(zip(before.axes, before.dims))
                 if d is not None and not a.whole and 0 <= d - 2 < len(steps)), None)
    if axis is None or after.axes[axis].whole:
        return None
    (a, b), step = (before.axes[axis], after.axes[axis]), steps[before.dims[axis] - 2]
    k, s = step.kernel, step.stride
    # ~: an upsampling or transposed conv on the way makes the field vary from unit to unit
    sizes = ("" if after.exact else "~") + "x".join(number(x.size) for x in after.axes)
    jumps = [("-" if x.whole else number(x.stride)) for x in after.axes]
    jump = jumps[0] if len(set(jumps)) == 1 else "x".join(jumps)
    return (f"receptive field = {sizes} input {pixels(len(after.axes))}, jump {jump} "
            f"({step.how}r = {number(a.size)} + ({number(k)}−1)·{number(a.stride)} = "
            f"{number(b.size)}, j = {number(a.stride)}·{number(s)} = {number(b.stride)}; "
            f"one step back: r_in = s·r + (k − s) = {number(s)}·r "
            f"{'+' if k >= s else '−'} {number(abs(k - s))})"
            + ("" if after.exact else f"; {ESTIMATE}"))
