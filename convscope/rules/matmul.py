"""Matrix products: mm, addmm (Linear), bmm, baddbmm, mv, dot, attention, and affine grids."""
from __future__ import annotations

from math import prod

from . import Cost, out_numel, rule


@rule("aten.mm")
def mm(node) -> Cost:
    a, b = node.args[0], node.args[1]
    # [M, K] @ [K, N]: M x N outputs, K MACs each
    return Cost(macs=a.shape[0] * a.shape[1] * b.shape[1])


@rule("aten.addmm")
def addmm(node) -> Cost:
    a, b = node.args[1], node.args[2]
    # bias [N] broadcast over [M, N], then [M, K] @ [K, N]
    return Cost(macs=a.shape[0] * a.shape[1] * b.shape[1], flops=out_numel(node))


@rule("aten.mv")
def mv(node) -> Cost:
    a = node.args[0]
    # [M, K] @ [K]: M outputs, K MACs each (spectral norm's power iteration)
    return Cost(macs=a.shape[0] * a.shape[1])


@rule("aten.addmv")
def addmv(node) -> Cost:
    a = node.args[1]
    return Cost(macs=a.shape[0] * a.shape[1], flops=out_numel(node))


@rule("aten.dot", "aten.vdot")
def dot(node) -> Cost:
    # [K] . [K]: one output, K MACs
    return Cost(macs=prod(node.args[0].shape))


@rule("aten.bmm")
def bmm(node) -> Cost:
    a, b = node.args[0], node.args[1]
    # [B, M, K] @ [B, K, N]
    return Cost(macs=a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])


@rule("aten.baddbmm")
def baddbmm(node) -> Cost:
    a, b = node.args[1], node.args[2]
    return Cost(macs=a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], flops=out_numel(node))


@rule(
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_attention_math",
    "aten.scaled_dot_product_attention",
)
def attention(node) -> Cost:
    q, k, v = node.args[0], node.args[1], node.args[2]
    batch = prod(q.shape[:-2])
    length, source = q.shape[-2], k.shape[-2]
    scores = batch * length * source
    # Q K^T: [.., L, E] @ [.., E, S]; then P V: [.., L, S] @ [.., S, Ev]; softmax ~3 per score
    return Cost(macs=scores * q.shape[-1] + scores * v.shape[-1], flops=3 * scores)


@rule("aten.affine_grid_generator")
def affine_grid(node) -> Cost:
    # every output point's base coordinates [x, y, 1] (or [x, y, z, 1]) times theta^T: out
    # [N, H, W, 2] (or [N, D, H, W, 3]), each coordinate d + 1 MACs
    return Cost(macs=out_numel(node) * (node.outputs[0].shape[-1] + 1))
