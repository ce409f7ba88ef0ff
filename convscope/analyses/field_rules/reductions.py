"""Reductions and products: after them a unit sees a whole axis (global along it)."""
from __future__ import annotations

from ...graph import Ref
from ..field import Field, merge
from ..windows import ATTENTION_OPS
from . import arg, dim_index, field_rule, ints, union_of_args


@field_rule("aten.mean", "aten.sum", "aten.amax", "aten.amin", "aten.max", "aten.min",
            "aten.var", "aten.std", "aten.var_mean", "aten.std_mean", "aten.prod",
            "aten.logsumexp", "aten.argmax", "aten.argmin", "aten.any", "aten.all", "aten.nansum",
            "aten.norm", "aten.linalg_vector_norm", "aten.count_nonzero")
def reduction(node, field):
    x = node.args[0]
    if len(node.args) > 1 and isinstance(node.args[1], Ref):  # max(a, b): elementwise
        return union_of_args(node, field)
    f, ndim = field(x), len(x.shape)
    if f is None or not f.known:
        return f
    index = 2 if node.packet in ("aten.norm", "aten.linalg_vector_norm") else 1
    dims = ints(arg(node, index, "dim"), 1)
    dims = set(range(ndim)) if not dims else {dim_index(d, ndim) for d in dims}
    kept = len(node.outputs[0].shape) == ndim  # keepdim: reduced dims stay with size 1
    spread = f.spread(dims, x.shape)
    return spread if kept else spread.move(
        lambda d: None if d in dims else d - sum(r < d for r in dims), x.shape)


@field_rule("aten._softmax", "aten.softmax", "aten._log_softmax", "aten.log_softmax",
            "aten.sort", "aten.argsort", "aten.cumsum", "aten.cumprod")
def alongdim_index(node, field):
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    dim = dim_index(arg(node, 1, "dim", -1), len(x.shape))
    out = f.spread({dim}, x.shape)  # every unit reads the whole dim (cumsum: its prefix)
    if node.packet in ("aten.cumsum", "aten.cumprod") and dim in f.dims:
        out = out.unknown()
    return out


@field_rule("aten.native_group_norm", "aten.native_layer_norm", "aten.group_norm",
            "aten.layer_norm")
def normalisation(node, field):
    x, f = node.args[0], field(node.args[0])
    if f is None or not f.known:
        return f
    ndim = len(x.shape)
    # group norm averages over the spatial dims, layer norm over its normalised_shape's dims
    span = len(node.args[1]) if "layer_norm" in node.packet else ndim - 2
    out = f.spread(set(range(ndim - span, ndim)), x.shape)
    return tuple(out if m.shape == x.shape else None for m in node.outputs)



def _contract(f: Field | None, shape, dim: int, out, *more: int) -> tuple[Field, tuple] | None:
    """A matmul operand: ``dim`` (and ``more``) is summed over, the rest aligns to the output
    from the right."""
    if f is None or not f.known:
        return None if f is None else (f, shape)
    ndim = len(shape)
    summed = {dim_index(d, ndim) for d in (dim, *more)}
    moved = f.move(lambda d: None if d in summed else d + len(out) - ndim, shape)
    return moved, tuple(out)  # already aligned to the output


@field_rule("aten.mm", "aten.bmm", "aten.matmul", "aten.addmm", "aten.baddbmm", "aten.linear")
def matmul(node, field):
    out = node.outputs[0].shape
    offset = 1 if node.packet in ("aten.addmm", "aten.baddbmm") else 0
    a, b = node.args[offset], node.args[offset + 1]
    if len(a.shape) < 2 or len(b.shape) < 2:
        fields = [field(r) for r in (a, b) if field(r) is not None]
        return fields[0].unknown() if fields else None
    if node.packet == "aten.linear" and field(b) is not None:  # a weight computed from the input
        return field(b).unknown()
    paths = [_contract(field(a), a.shape, -1, out), _contract(field(b), b.shape, -2, out)]
    linear = node.packet == "aten.linear"
    bias = node.args[0] if offset else arg(node, 2, "bias") if linear else None
    if isinstance(bias, Ref) and field(bias) is not None:
        paths.append((field(bias), bias.shape))
    return merge([p for p in paths if p is not None], out)


@field_rule(*ATTENTION_OPS)
def attention(node, field):
    """softmax(Q K^T) V in one op, as its math decomposition's products read it: an output row
    reads its query's row, every key and every value (and its row of the mask); the op's other
    outputs (the log-sum-exp kept for backward) get None."""
    q, k, v = node.args[:3]
    out = node.outputs[0].shape
    if min(len(q.shape), len(k.shape), len(v.shape)) < 2:
        fields = [field(r) for r in (q, k, v) if field(r) is not None]
        return fields[0].unknown() if fields else None
    paths = [_contract(field(q), q.shape, -1, out), _contract(field(k), k.shape, -1, out, -2),
             _contract(field(v), v.shape, -2, out)]
    # a mask (or bias) is the one tensor beyond Q, K and V: attn_mask=, or attn_bias
    paths += [_contract(field(mask), mask.shape, -1, out) for mask in node.refs[3:]]
    found = merge([p for p in paths if p is not None], out)
    return (found, *[None] * (len(node.outputs) - 1))
