"""An upsampling's output size (``nn.Upsample``, ``F.interpolate``) and what each output value
reads. Given a scale factor, PyTorch computes the size as ⌊H × scale⌋; given a size, it takes it::

    output height = ⌊7 × 2⌋ = 14 (scale_factor=2)
    no parameters: each output value is a copy of the nearest input value
"""
from __future__ import annotations

from math import floor

from ...graph import Node
from ..field_rules import arg, spatial_count
from ..field_rules.windows import UPSAMPLE_OPS, upsample_scales, upsample_taps
from ..windows import AXES


def upsample_of(nodes: list[Node]) -> Node | None:
    return next((n for n in nodes if n.packet in UPSAMPLE_OPS), None)


def upsample_lines(node: Node) -> list[str]:
    n = spatial_count(node)
    size, out = node.args[0].shape[-n:], node.outputs[0].shape[-n:]
    axes = AXES.get(n, [f"dim {d}" for d in range(n)])
    scales = upsample_scales(node)
    return [_size_line(axes[d], size[d], out[d], scales[d]) for d in range(n)] + [_reads(node, n)]


def _size_line(axis: str, size: int, out: int, scale: float | None) -> str:
    if not scale:  # F.interpolate computed the size itself (recompute_scale_factor) or got one
        return f"output {axis} = {out}, as given (size=, or recompute_scale_factor=True)"
    value = floor(size * scale)  # in double precision, as PyTorch's C++ does
    torch_says = f" (PyTorch gives {out})" if value != out else ""
    return f"output {axis} = ⌊{size} × {scale:g}⌋ = {value}{torch_says} (scale_factor={scale:g})"


def _reads(node: Node, n: int) -> str:
    taps = upsample_taps(node)
    if taps == 1:
        return "no parameters: each output value is a copy of the nearest input value"
    corners = " (align_corners=True)" if arg(node, 2, "align_corners") is True else ""
    window = "x".join([str(taps)] * n) if n > 1 else str(taps)
    return (f"no parameters: each output value is a weighted average of the {window} nearest "
            f"input values{corners}")
