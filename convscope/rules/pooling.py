"""Pooling and spatial reductions: one FLOP per element of every window, no MACs."""
from __future__ import annotations

from math import prod

from . import FREE, Cost, out_numel, rule


def _pair(value, dims: int) -> list[int]:
    return list(value) * (dims if len(value) == 1 else 1) if value else []


@rule("aten.max_pool2d_with_indices", "aten.max_pool2d", "aten.max_pool1d",
      "aten.max_pool3d_with_indices", "aten.avg_pool2d", "aten.avg_pool1d", "aten.avg_pool3d",
      "aten.max_pool1d_with_indices", "aten.fractional_max_pool2d", "aten.fractional_max_pool3d")
def window_pool(node) -> Cost:
    # fractional max pooling's windows are kernel_size too, at uneven pseudo-random strides; its
    # kernel_size is args[1], as max pooling's
    x, kernel = node.args[0], node.args[1]
    dims = len(x.shape) - 2
    # out [N, C, H', W'] x kH*kW comparisons (max) or additions (avg)
    return Cost(flops=out_numel(node) * prod(_pair(kernel, dims)))


@rule("aten._adaptive_avg_pool2d", "aten.adaptive_avg_pool2d", "aten.adaptive_max_pool2d",
      "aten._adaptive_avg_pool3d", "aten.adaptive_max_pool3d", "aten.adaptive_avg_pool1d",
      "aten.mean", "aten.sum", "aten.amax", "aten.amin", "aten.max", "aten.min", "aten.var",
      "aten.std", "aten.var_mean", "aten.prod", "aten.logsumexp", "aten.norm", "aten.linalg_vector_norm")
def reduction(node) -> Cost:
    # every input element is read once into its window's sum or maximum
    return Cost(flops=prod(node.args[0].shape))


@rule("aten._embedding_bag", "aten._embedding_bag_forward_only")
def embedding_bag(node) -> Cost:
    weight, indices = node.args[0], node.args[1]
    mode = node.args[4] if len(node.args) > 4 else node.kwargs.get("mode", 0)
    weighted = len(node.args) > 6 and node.args[6] is not None  # per_sample_weights
    looked_up = prod(indices.shape) * weight.shape[1]
    # a pooling of looked-up rows: one add (sum, mean) or compare (max) per value read, one
    # multiply per value when per-sample weights scale it, one divide per output for mean
    divides = out_numel(node) if mode == 1 else 0
    return Cost(flops=looked_up * (2 if weighted else 1) + divides)


@rule("aten.col2im")
def col2im(node) -> Cost:
    # nn.Fold: every patch value [N, C*kH*kW, L] is added into its output position
    return Cost(flops=prod(node.args[0].shape))


@rule("aten.scatter", "aten.scatter_", "aten.scatter_add", "aten.scatter_add_",
      "aten.scatter_reduce", "aten.scatter_reduce_")
def scatter(node) -> Cost:
    # one add (or multiply, max, mean's sum) per position the index names; a plain scatter only
    # copies. scatter_reduce's reduce is positional, scatter's keyword-only
    reduces = "add" in node.packet or "reduce" in node.packet or "reduce" in node.kwargs
    return Cost(flops=prod(node.args[2].shape)) if reduces else FREE


@rule("aten.index_put", "aten.index_put_", "aten._index_put_impl", "aten._index_put_impl_")
def index_put(node) -> Cost:
    # index_put_(indices, values, accumulate=True): one add per position the indices name (the
    # values broadcast to them); without accumulate, a copy
    accumulate = node.args[3] if len(node.args) > 3 else node.kwargs.get("accumulate", False)
    return Cost(flops=_indexed_positions(node.args[0].shape, node.args[1])) if accumulate else FREE


def _indexed_positions(shape, indices) -> int:
    """How many elements ``x[indices]`` names: the index tensors' broadcast shape, times every
    dim no index tensor covers (a None index is a whole dim, a ``:``)."""
    given = [i for i in indices if i is not None]
    broadcast: list[int] = []
    for index in given:
        dims = list(index.shape)
        broadcast = [max(a, b) for a, b in zip([1] * (len(dims) - len(broadcast)) + broadcast,
                                               [1] * (len(broadcast) - len(dims)) + dims)]
    whole = [n for d, n in enumerate(shape) if d >= len(indices) or indices[d] is None]
    return prod(broadcast) * prod(whole)


@rule("aten.index_add", "aten.index_add_")
def index_add(node) -> Cost:
    # one add per value of source (times alpha: one multiply more per value where alpha != 1)
    alpha = node.kwargs.get("alpha", node.args[4] if len(node.args) > 4 else 1)
    return Cost(flops=prod(node.args[3].shape) * (1 if alpha == 1 else 2))
