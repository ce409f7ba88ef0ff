"""EfficientNet-B0: the searched MBConv baseline that compound scaling grows into B1-B7.

Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", 2019.
Default input 3x224x224.

Table 1 of the paper: a 3x3 stride-2 conv to 32 channels, seven stages of MBConv blocks, a 1x1
conv to 1280 channels, global pool, dropout and fc. An MBConv block is MobileNetV2's inverted
residual with SiLU, a squeeze-and-excitation (squeezed to a quarter of the block's *input*
channels) and stochastic depth on the residual branch. Module names follow torchvision
(``features.1.0.block.2.fc1``, ``classifier.1``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import register_model
from .mobilenet import ConvClassifier, conv_bn_act, init_weights, make_divisible
from .mobilenetv3 import SqueezeExcitation

# Table 1, MBConv stages as
# (expand ratio, kernel, stride of the first block, input channels, output channels, repeats).
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
B0_LAST_CHANNELS = 1280
SE_REDUCTION = 4
STOCHASTIC_DEPTH = 0.2  # drop probability of the last block; earlier blocks get linearly less


class StochasticDepth(nn.Module):
    """While training, zero a sample's residual branch with probability ``p`` (Huang et al. 2016)
    and scale survivors by 1 / (1 - p); the identity at inference."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        survival = 1.0 - self.p
        keep = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(survival)
        return x * keep / survival

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MBConv(nn.Module):
    """Expand 1x1 (skipped for ratio 1), depthwise kxk, SE, linear project 1x1, residual."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 expand_ratio: int, drop_prob: float):
        super().__init__()
        expanded = make_divisible(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv_bn_act(in_channels, expanded, 1, activation=nn.SiLU))
        layers += [
            conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, activation=nn.SiLU),
            SqueezeExcitation(expanded, max(1, in_channels // SE_REDUCTION), nn.SiLU, nn.Sigmoid),
            conv_bn_act(expanded, out_channels, 1, activation=None),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop_prob)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_residual else out


class EfficientNet(ConvClassifier):
    """EfficientNet: ``features`` (stem, stages 1-7, last conv), pool, ``classifier``."""


def _init_weights(model: EfficientNet) -> EfficientNet:
    """torchvision's scheme: the mobile nets' one, but fc weights uniform in +-1/sqrt(classes)."""
    init_weights(model)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.out_features)
            nn.init.uniform_(module.weight, -bound, bound)
    return model


@register_model(input_size=(3, 224, 224))
def efficientnet_b0(
    *, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2,
    stochastic_depth: float = STOCHASTIC_DEPTH,
):
    """EfficientNet-B0 (Tan and Le 2019), default input 3x224x224.

    ``stochastic_depth`` is the drop probability of the last MBConv block; block ``i`` of ``n``
    drops with ``stochastic_depth * i / n`` while training.
    """
    total_blocks = sum(stage[-1] for stage in B0_STAGES)
    layers: list[nn.Module] = [conv_bn_act(in_channels, B0_STAGES[0][3], 3, 2, activation=nn.SiLU)]
    index = 0
    for expand_ratio, kernel, first_stride, stage_in, out, repeats in B0_STAGES:
        stage = []
        for repeat in range(repeats):
            width, stride = (stage_in, first_stride) if repeat == 0 else (out, 1)
            drop_prob = stochastic_depth * index / total_blocks
            stage.append(MBConv(width, out, kernel, stride, expand_ratio, drop_prob))
            index += 1
        layers.append(nn.Sequential(*stage))
    layers.append(conv_bn_act(B0_STAGES[-1][4], B0_LAST_CHANNELS, 1, activation=nn.SiLU))
    classifier = nn.Sequential(
        nn.Dropout(dropout, inplace=True), nn.Linear(B0_LAST_CHANNELS, num_classes)
    )
    return _init_weights(EfficientNet(nn.Sequential(*layers), classifier))
