"""Whole layers the CPU runs as one op, which only a real forward (``real=True``) meets: an
LSTM layer through oneDNN, and the inference fast paths of nn.TransformerEncoderLayer and
nn.MultiheadAttention. On shape-only tensors the same layers run unfused, so each rule counts
what their unfused ops count: one number for a layer whichever backend traced it.
"""
from __future__ import annotations

from math import prod

from . import Cost, arg, rule


@rule("aten.mkldnn_rnn_layer")
def lstm_layer(node) -> Cost:
    """One layer and direction of nn.LSTM. Each step, per sample: the gates x W_ih^T + h W_hh^T
    (4H x (I + H) MACs); their sum (4H), three sigmoids, two tanh, three products and the cell's
    add (9H): 13H other FLOPs, 21H with the two biases added (8H)."""
    x, hidden, biased, batch_first = node.args[0], node.args[10], node.args[12], node.args[14]
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    samples = steps * batch
    return Cost(macs=samples * 4 * hidden * (x.shape[-1] + hidden),
                flops=samples * hidden * (13 + 8 * bool(biased)))


def _self_attention(batch: int, heads: int, length: int, embed: int) -> Cost:
    """Multi-head self-attention over ``length`` tokens, as its unfused ops: the projections in
    (3E x E MACs a token) and out (E x E), their biases (1 per element made; the fused ops
    always have them), and softmax(Q K^T) V (2 x L x E MACs a token, 3 per score for the
    softmax, as ``matmul.attention``)."""
    tokens = batch * length
    return Cost(macs=4 * tokens * embed * embed + 2 * tokens * length * embed,
                flops=4 * tokens * embed + 3 * batch * heads * length * length)


@rule("aten._native_multi_head_attention")
def multi_head_attention(node) -> Cost:
    """nn.MultiheadAttention's fast path: query, key and value [B, L, E] (the op takes no other
    shapes). Asked for the attention weights (``need_weights``, the default), the unfused path
    scales the queries by 1/sqrt(E/heads) itself (1 per query element), adds a mask to every
    score (1 each) and averages the weights over the heads (1 per score read, as
    ``aten.mean``)."""
    query, heads = node.args[0], node.args[4]
    batch, length, embed = prod(query.shape[:-2]), query.shape[-2], query.shape[-1]
    cost = _self_attention(batch, heads, length, embed)
    if arg(node, 10, "need_weights", True):
        scores = batch * heads * length * length
        averaged = arg(node, 11, "average_attn_weights", True)
        masked = arg(node, 9, "mask") is not None  # the unfused path adds it to every score
        cost += Cost(flops=batch * length * embed + (averaged + masked) * scores)
    return cost


@rule("aten._transformer_encoder_layer_fwd")
def transformer_encoder_layer(node) -> Cost:
    """nn.TransformerEncoderLayer's fast path, src [B, L, E]: self-attention, then the feed
    forward E -> F -> E (2 x E x F MACs a token; its biases 1 per element made, the activation
    1 per hidden element), two residual adds (E each) and two layer norms (4 per element)."""
    src, heads = node.args[0], node.args[2]
    batch, length, embed = prod(src.shape[:-2]), src.shape[-2], src.shape[-1]
    hidden = node.args[14].shape[0]  # ffn_weight_1 [F, E]
    tokens = batch * length
    feed_forward = Cost(macs=tokens * 2 * embed * hidden,
                        flops=tokens * (2 * hidden + embed + 2 * embed + 8 * embed))
    return _self_attention(batch, heads, length, embed) + feed_forward
