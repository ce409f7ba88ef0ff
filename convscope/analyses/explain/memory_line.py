"""A layer's output memory: its output shape × bytes per value, and whether the layer allocates it
at all (a view or an in-place op writes into its input)::

    output memory = 1 × 6 × 28 × 28 = 4,704 values × 4 bytes = 18,816 bytes (18.38 KiB)
"""
from __future__ import annotations

from math import prod

from ..highlights import human_bytes


def memory_line(row, nodes, shape, allocated: int, passed_through: bool = False) -> str:
    """``allocated``: the new memory the row's ops allocate (``costs.allocates``);
    ``passed_through``: the row ran no op and returns its input."""
    itemsize = _bytes_per_value(row, nodes, shape)
    numel = prod(shape)
    text = (f"output memory = {' × '.join(map(str, shape))} = {numel:,} values × {itemsize} "
            f"bytes = {numel * itemsize:,} bytes")
    if numel * itemsize >= 1024:
        text += f" ({human_bytes(numel * itemsize)})"
    if passed_through:
        text += " (returns its input: no new memory)"
    elif nodes and allocated == 0:
        text += (" (a view of its input: no new memory)" if all(n.view for n in nodes) else
                 " (in place: written into its input, no new memory)")
    return text


def _bytes_per_value(row, nodes, shape) -> int:
    # one output: its element size is the row's bytes per value (a max pool's int64
    # indices are made too, but not returned)
    itemsize = (row.output_bytes // max(prod(shape), 1)
                if len(row.output_shapes) == 1 and row.output_bytes else None)
    return itemsize or next((n.outputs[0].itemsize for n in reversed(nodes) if n.outputs), 4)
