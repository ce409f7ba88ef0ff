"""Layers the CPU fuses into one op under a real forward count what their unfused ops count.

With ``real=True`` an eval-mode LSTM runs through oneDNN (``mkldnn_rnn_layer``), and
TransformerEncoderLayer and MultiheadAttention take their inference fast paths: one op each,
which was listed as uncounted (0 MACs for a whole transformer layer). On shape-only tensors the
same layers run unfused; both traces must give the same totals.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import convscope


class _Recurrent(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


class _Attention(nn.Module):
    def __init__(self, weights=False, average=True, masked=False):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)
        self.weights, self.average, self.masked = weights, average, masked

    def forward(self, x):
        mask = None
        if self.masked:  # the last key of the first sample is padding
            mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
            mask[0, -1] = True
        return self.attention(x, x, x, key_padding_mask=mask, need_weights=self.weights,
                              average_attn_weights=self.average)[0]


def _layer(**options):
    return nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, **options)


CASES = {
    "lstm": (lambda: _Recurrent(nn.LSTM(8, 16, batch_first=True)), (5, 8),
             "aten.mkldnn_rnn_layer.default"),
    "lstm without bias": (lambda: _Recurrent(nn.LSTM(8, 16, batch_first=True, bias=False)),
                          (5, 8), "aten.mkldnn_rnn_layer.default"),
    "lstm 2 layers bidirectional": (
        lambda: _Recurrent(nn.LSTM(8, 16, num_layers=2, bidirectional=True)), (5, 8),
        "aten.mkldnn_rnn_layer.default"),
    "encoder layer": (_layer, (5, 16), "aten._transformer_encoder_layer_fwd.default"),
    "encoder layer, gelu, norm first": (lambda: _layer(activation="gelu", norm_first=True),
                                        (5, 16), "aten._transformer_encoder_layer_fwd.default"),
    "encoder of two layers": (
        lambda: nn.TransformerEncoder(_layer(), 2, enable_nested_tensor=False), (5, 16),
        "aten._transformer_encoder_layer_fwd.default"),
    "attention": (_Attention, (5, 16), "aten._native_multi_head_attention.default"),
    "attention with averaged weights": (lambda: _Attention(weights=True), (5, 16),
                                        "aten._native_multi_head_attention.default"),
    "attention with a padding mask": (lambda: _Attention(masked=True), (5, 16),
                                      "aten._native_multi_head_attention.default"),
    # the unfused path adds the mask to every score: 200 FLOPs more here
    "attention with a padding mask and weights": (lambda: _Attention(weights=True, masked=True),
                                                  (5, 16),
                                                  "aten._native_multi_head_attention.default"),
    "attention with weights per head": (
        lambda: _Attention(weights=True, average=False), (5, 16),
        "aten._native_multi_head_attention.default"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_fused_layer_counts_what_its_unfused_ops_count(name):
    build, shape, fused = CASES[name]
    if fused == "aten.mkldnn_rnn_layer.default" and not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN: its LSTM runs unfused on the CPU too")
    model = build().eval()
    unfused = convscope.analyze(model, shape, batch_size=2)
    real = convscope.analyze(model, shape, batch_size=2, real=True)
    assert fused in {node.op for node in real.graph.nodes}  # the CPU did fuse the layer
    assert fused not in {node.op for node in unfused.graph.nodes}
    assert real.uncounted == {} and unfused.uncounted == {}
    assert (real.totals.macs, real.totals.other_flops) == (unfused.totals.macs,
                                                           unfused.totals.other_flops)


def test_the_worked_examples():
    # LSTM(8 -> 16), 5 steps, batch 2: 10 x 4*16*(8 + 16) MACs; 10 x 21*16 other FLOPs
    lstm = convscope.analyze(CASES["lstm"][0]().eval(), (5, 8), batch_size=2, real=True)
    assert (lstm.totals.macs, lstm.totals.other_flops) == (15_360, 3_360)
    # encoder layer E=16, 4 heads, F=32, 10 tokens: projections 10*16*48 + 10*16*16, attention
    # 2*2*5*5*16, feed forward 2*10*16*32; other: 15 per token-feature (biases 3 + 1 + 1,
    # residuals 2, norms 8), 2 per hidden value (bias, relu), 3 per score (2*4*5*5)
    layer = convscope.analyze(_layer().eval(), (5, 16), batch_size=2, real=True)
    assert layer.totals.macs == 7_680 + 2_560 + 1_600 + 10_240
    assert layer.totals.other_flops == 15 * 160 + 2 * 320 + 3 * 200
