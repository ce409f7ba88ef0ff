"""Matrix products: mm, addmm (Linear), bmm, baddbmm, addbmm, mv, dot, attention, bilinear
forms, and affine grids."""
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
