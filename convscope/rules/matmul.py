"""Matrix products: mm, addmm (Linear), bmm, baddbmm, addbmm, mv, dot, attention, bilinear
forms, affine grids, and pairwise distances (cdist, pdist)."""
from __future__ import annotations

from math import inf, prod

from . import Cost, arg, out_numel, rule


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


@rule("aten.addbmm")
def addbmm(node) -> Cost:
    a, b = node.args[1], node.args[2]
    # input [M, N] plus the sum over b of [B, M, K] @ [B, K, N]: the sum is the products' own
    # accumulation, so B·M·K·N MACs, and the input's add
    return Cost(macs=a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], flops=out_numel(node))


# softmax(Q K^T) V in one op: the CPU's fused op (trace.attention), the GPUs', the math one
ATTENTION_OPS = (
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_attention_math",
    "aten.scaled_dot_product_attention",
)


@rule(*ATTENTION_OPS)
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


@rule("aten._cdist_forward")
def cdist(node) -> Cost:
    x1, p = node.args[0], node.args[2]
    # x1 [B, P, M], x2 [B, R, M]: out [B, P, R], every distance over M features
    return _distances(out_numel(node), x1.shape[-1], p)


@rule("aten._pdist_forward")
def pdist(node) -> Cost:
    x, p = node.args[0], arg(node, 1, "p", 2)
    # x [N, M]: out [N * (N - 1) / 2], every distance over M features
    return _distances(out_numel(node), x.shape[-1], p)


def _distances(pairs: int, features: int, p: float) -> Cost:
    """``pairs`` p-norms of differences, as the CPU kernel computes each: for p = 2 a subtract,
    then the square accumulated (a MAC) per feature, and a square root per distance; for other p
    a subtract, ``|d|^p`` and an add (or max, for inf) per feature, and a p-th root per distance
    where p needs one (not 0, 1 or inf)."""
    if p == 2:
        return Cost(macs=pairs * features, flops=pairs * (features + 1))
    root = 0 if p in (0, 1, inf) else 1
    return Cost(flops=pairs * (3 * features + root))


@rule("aten._euclidean_dist")
def euclidean_dist(node) -> Cost:
    """torch.cdist's matrix-product path (by default for p = 2 and more than 25 points in either
    set): each row gets its squared norm and a 1 appended, so that one product gives
    ||a||^2 - 2 a.b + ||b||^2, then clamp at 0 and square root. x1 [.., P, M], x2 [.., R, M]:
    the norms square and sum x1 and x2 (2 per element), -2 * x1 is 1 per element of x1."""
    x1, x2 = node.args[0], node.args[1]
    # [.., P, M + 2] @ [.., M + 2, R]: out [.., P, R], M + 2 MACs each; clamp_min_, sqrt_ 1 each
    macs = out_numel(node) * (x1.shape[-1] + 2)
    return Cost(macs=macs, flops=3 * prod(x1.shape) + 2 * prod(x2.shape) + 2 * out_numel(node))


@rule("aten._trilinear")
def trilinear(node) -> Cost:
    """nn.Bilinear's y = x1^T A x2: ``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)``
    unsqueezes each input at its ``expand`` dims, then sums products in two steps, as ATen does:
    i1 * i2 over the summed dims where i3 is 1, then that * i3 over the rest. Each step's MACs
    are its broadcast volume. Bilinear [B, in1] x [out, in1, in2] x [B, in2]:
    B*out*in1*in2 + B*out*in2, what the two bmm calls per output feature make on the CPU."""
    shapes = [_unsqueezed(t.shape, dims) for t, dims in zip(node.args[:3], node.args[3:6])]
    summed = set(node.args[6])
    first = [max(a, b) for a, b in zip(shapes[0], shapes[1])]
    summed_first = {d for d in summed if shapes[2][d] == 1}
    kept = [1 if d in summed_first else size for d, size in enumerate(first)]
    return Cost(macs=prod(first) + prod(max(a, b) for a, b in zip(kept, shapes[2])))


def _unsqueezed(shape, dims) -> list[int]:
    sizes = list(shape)
    for d in sorted(dims):
        sizes.insert(d, 1)
    return sizes
