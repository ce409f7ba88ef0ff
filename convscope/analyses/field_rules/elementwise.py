"""Where paths meet: elementwise ops and concatenation take the union of their inputs' fields."""
from __future__ import annotations

from ...graph import Ref
from ...rules.activations import ONE_PER_ELEMENT
from ..field import merge
from . import arg, dim_index, field_rule, union_of_args


@field_rule("aten.cat", "aten.concat", "aten.concatenate", "aten.stack")
def cat(node, field):
    tensors = [t for t in node.args[0] if isinstance(t, Ref)]
    out = node.outputs[0].shape
    dim = arg(node, 1, "dim", 0)
    paths = []
    for t in tensors:
        f = field(t)
        if f is None:
            continue
        if node.packet == "aten.stack":  # a new dim at ``dim``: later dims move up one
            new = dim_index(dim, len(t.shape) + 1)
            f = f.move(lambda d: d + (d >= new), t.shape)
            shape = tuple(out)
        else:
            new, shape = dim_index(dim, len(t.shape)), t.shape
            f = f.released({new})  # tokens of a flattened map and a class token: spread
            if f.known and new in f.dims:  # joined along a spatial axis: positions jump
                return f.unknown()
        paths.append((f, shape))
    return merge(paths, out)


# every op that costs one FLOP per element keeps the field, and so do these
_ELEMENTWISE = ONE_PER_ELEMENT + [
    "nan_to_num", "clip",
    "dropout", "native_dropout", "feature_dropout", "alpha_dropout", "bernoulli",
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional", "batch_norm", "cudnn_batch_norm",
    "clone", "contiguous", "_to_copy", "to", "alias", "detach", "lift_fresh", "lift_fresh_copy",
    "copy", "channel_shuffle", "native_channel_shuffle", "type_as",
]


@field_rule(*[f"aten.{op}" for op in _ELEMENTWISE] + [f"aten.{op}_" for op in _ELEMENTWISE])
def elementwise(node, field):
    return union_of_args(node, field)


@field_rule(*[f"aten.{op}" for op in [
    "empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "randint_like",
    "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided", "empty_strided",
    "zero_", "fill", "fill_", "size", "sym_size", "_local_scalar_dense", "item",
    "_shape_as_tensor"]])
def no_field(node, field):
    """Ops that take a tensor only for its shape: their outputs depend on no input position."""
    return None
