"""Ops that move positions or dims: padding, crops, splits, views, permutations, flips."""
from __future__ import annotations

from ..field import Field
from . import arg, dim_index, field_rule, ints, union_of_args


@field_rule("aten.constant_pad_nd", "aten.pad", "aten.reflection_pad1d", "aten.reflection_pad2d",
            "aten.reflection_pad3d", "aten.replication_pad1d", "aten.replication_pad2d",
            "aten.replication_pad3d", "aten._pad_circular")
def pad(node, field):
    x, widths = node.args[0], list(node.args[1])
    f = field(x)
    # widths = [left of last dim, right of last dim, left of the dim before, ...]
    for k in range(len(widths) // 2):
        if f is not None and f.known:
            f = f.shift(len(x.shape) - 1 - k, -widths[2 * k])  # unit u reads input u - left
    return f


@field_rule("aten.slice")
def slice_(node, field):
    x = node.args[0]
    dim = dim_index(arg(node, 1, "dim", 0), len(x.shape))
    start, step = arg(node, 2, "start") or 0, arg(node, 4, "step", 1)
    start = max(start + x.shape[dim], 0) if start < 0 else min(start, x.shape[dim])
    f = field(x)
    return f if f is None or not f.known else f.shift(dim, start, step)


@field_rule("aten.narrow")
def narrow(node, field):
    x, f = node.args[0], field(node.args[0])
    dim, start = dim_index(node.args[1], len(x.shape)), node.args[2]
    return f if f is None or not f.known else f.shift(dim, start % x.shape[dim])


@field_rule("aten.select")
def select(node, field):
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    dim = dim_index(node.args[1], len(x.shape))
    return _drop(f.shift(dim, node.args[2] % x.shape[dim]), dim, len(x.shape))


def _drop(f: Field, dim: int, ndim: int) -> Field:
    """Remove ``dim`` (one unit left on it, as after select): later dims move down one."""
    return f.move(lambda d: None if d == dim else d - (d > dim), [1] * ndim)


@field_rule("aten.unbind")
def unbind(node, field):
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    dim = dim_index(arg(node, 1, "dim", 0), len(x.shape))
    return tuple(_drop(f.shift(dim, k), dim, len(x.shape)) for k in range(len(node.outputs)))


@field_rule("aten.split", "aten.split_with_sizes", "aten.chunk", "aten.unsafe_split",
            "aten.split_with_sizes_copy", "aten.unsafe_split_with_sizes")
def split(node, field):
    x, f = node.args[0], field(node.args[0])
    dim = dim_index(arg(node, 2, "dim", 0), len(x.shape))
    if f is None or not f.known or dim not in f.dims:
        return f
    offsets = [0]
    for meta in node.outputs[:-1]:
        offsets.append(offsets[-1] + meta.shape[dim])
    return tuple(f.shift(dim, start) for start in offsets)  # part k starts at offsets[k]



# -- views and permutations ------------------------------------------------------------------

@field_rule("aten.view", "aten._unsafe_view", "aten.reshape", "aten._reshape_alias",
            "aten.view_copy", "aten.squeeze", "aten.unsqueeze", "aten.flatten", "aten.unflatten",
            "aten.squeeze_", "aten.unsqueeze_", "aten.view_as", "aten.reshape_as")
def view(node, field):
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    return f.reshaped(x.shape, node.outputs[0].shape)


@field_rule("aten.permute", "aten.transpose", "aten.t", "aten.transpose_", "aten.t_",
            "aten.permute_copy", "aten.transpose_copy")
def permute(node, field):
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    ndim = len(x.shape)
    if node.packet.endswith("permute") or node.packet.endswith("permute_copy"):
        order = [dim_index(d, ndim) for d in node.args[1]]
    else:
        two = node.args[1:3] if len(node.args) > 2 else (0, 1)  # t(): the only two dims
        a, b = (dim_index(d, ndim) for d in two)
        order = list(range(ndim))
        if ndim > 1:
            order[a], order[b] = order[b], order[a]
    return f.move(order.index, x.shape)  # output dim k is input dim order[k]


@field_rule("aten.expand", "aten.expand_as", "aten.expand_copy", "aten.broadcast_to")
def expand(node, field):
    return union_of_args(node, field)



# -- positions convscope does not follow -----------------------------------------------------

@field_rule("aten.flip", "aten.roll", "aten.index_select", "aten.gather", "aten.index",
            "aten._unsafe_index")
def reorder(node, field):
    """Ops that move positions along some dims: unknown when a spatial dim is among them."""
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    ndim = len(x.shape)
    if node.packet in ("aten.index", "aten._unsafe_index"):
        indexed = [d for d, i in enumerate(node.args[1]) if i is not None]
        if len(indexed) != 1 or len(node.outputs[0].shape) != ndim:
            return f.unknown()  # advanced indexing may move dims to the front
    elif node.packet == "aten.flip":
        indexed = node.args[1]
    elif node.packet == "aten.roll":
        indexed = ints(arg(node, 2, "dims"), 1) or list(range(ndim))
    else:
        indexed = [node.args[1]]
    touched = {dim_index(d, ndim) for d in indexed}
    f = f.released(touched)  # positions moved along a merged dim: its axes spread
    return f.unknown() if touched & set(f.dims) else f


@field_rule("aten.take", "aten.as_strided", "aten.unfold", "aten.im2col", "aten.col2im",
            "aten.grid_sampler_2d", "aten.masked_select", "aten.nonzero", "aten.diagonal")
def unfollowed(node, field):
    """Ops that move spatial positions around in ways convscope does not follow."""
    known = [field(r) for r in node.refs if field(r) is not None]
    return known[0].unknown() if known else None
