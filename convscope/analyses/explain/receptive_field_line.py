"""The receptive field after a conv or pool, and the step the layer adds to it; the fields are
those ``convscope rf`` and the summary's RF column show (``analyses/receptive_field.py``)::

    receptive field = 6x6 input pixels, jump 2 (r = 5 + (2−1)·1 = 6, j = 1·2 = 2; ...)
"""
from __future__ import annotations

from ...graph import Node
from ..field import number
from ..receptive_field import ReceptiveFields
from ..windows import Window, pixels


def receptive_field_line(found: ReceptiveFields, node: Node, window: Window | None) -> str | None:
    """The window step of the field ``convscope rf`` computes, on the layer's first axis that
    is not global: r = r_in + (k_eff − 1)·j_in, j = j_in·s."""
    after = found.of_node(node.index)
    if after is None or not after.known:
        return None
    if after.is_global:
        return "receptive field = the whole input"
    before = found.of(node.args[0]) if node.args else None
    if before is None or not before.known or window is None or window.kind == "transposed":
        return None
    axis = next((i for i, (a, d) in enumerate(zip(before.axes, before.dims))
                 if d is not None and not a.whole and 0 <= d - 2 < len(window.stride)), None)
    if axis is None or after.axes[axis].whole:
        return None
    d, (a, b) = before.dims[axis] - 2, (before.axes[axis], after.axes[axis])
    k, s = window.effective_kernel(d), window.stride[d]
    # ~: an upsampling or transposed conv on the way makes the field vary from unit to unit
    sizes = ("" if after.exact else "~") + "x".join(number(x.size) for x in after.axes)
    jumps = [("-" if x.whole else number(x.stride)) for x in after.axes]
    jump = jumps[0] if len(set(jumps)) == 1 else "x".join(jumps)
    return (f"receptive field = {sizes} input {pixels(len(after.axes))}, jump {jump} "
            f"(r = {number(a.size)} + ({k}−1)·{number(a.stride)} = {number(b.size)}, j = "
            f"{number(a.stride)}·{s} = {number(b.stride)}; one step back: r_in = s·r + (k − s) = "
            f"{s}·r {'+' if k >= s else '−'} {abs(k - s)})")
