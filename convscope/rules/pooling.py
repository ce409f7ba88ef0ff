"""Pooling and spatial reductions: one FLOP per element of every window, no MACs."""
from __future__ import annotations

from math import prod

from . import Cost, out_numel, rule


def _pair(value, dims: int) -> list[int]:
    return list(value) * (dims if len(value) == 1 else 1) if value else []


@rule("aten.max_pool2d_with_indices", "aten.max_pool2d", "aten.max_pool1d",
      "aten.max_pool3d_with_indices", "aten.avg_pool2d", "aten.avg_pool1d", "aten.avg_pool3d",
      "aten.max_pool1d_with_indices")
def window_pool(node) -> Cost:
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
