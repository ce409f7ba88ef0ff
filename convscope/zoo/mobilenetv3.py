"""MobileNetV3 Large and Small: searched inverted residuals with squeeze-excite and hard-swish.

Howard et al., "Searching for MobileNetV3", 2019. Default input 3x224x224.

Each block is MobileNetV2's inverted residual (expand 1x1, depthwise kxk, linear project 1x1)
with an optional squeeze-and-excitation after the depthwise conv and ReLU or hard-swish as its
nonlinearity. The head pools before its last 1x1 layer, so that layer is a Linear:
``classifier.0`` Linear, ``classifier.1`` hard-swish, ``classifier.2`` dropout, ``classifier.3``
Linear. Module names and BatchNorm settings (eps 1e-3, momentum 0.01) follow torchvision.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn

from . import register_model
from .mobilenet import ConvClassifier, conv_bn_act, init_weights, make_divisible, require_positive

RE, HS = "RE", "HS"
ACTIVATIONS = {RE: nn.ReLU, HS: nn.Hardswish}

# Blocks as (kernel, expanded channels, output channels, squeeze-excite, nonlinearity, stride).
# Large: Table 1; Small: Table 2. Both start with a 3x3 stride-2 conv to 16 channels (hard-swish).
V3_LARGE = (
    (3, 16, 16, False, RE, 1),
    (3, 64, 24, False, RE, 2),
    (3, 72, 24, False, RE, 1),
    (5, 72, 40, True, RE, 2),
    (5, 120, 40, True, RE, 1),
    (5, 120, 40, True, RE, 1),
    (3, 240, 80, False, HS, 2),
    (3, 200, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1),
    (3, 184, 80, False, HS, 1),
    (3, 480, 112, True, HS, 1),
    (3, 672, 112, True, HS, 1),
    (5, 672, 160, True, HS, 2),
    (5, 960, 160, True, HS, 1),
    (5, 960, 160, True, HS, 1),
)
V3_SMALL = (
    (3, 16, 16, True, RE, 2),
    (3, 72, 24, False, RE, 2),
    (3, 88, 24, False, RE, 1),
    (5, 96, 40, True, HS, 2),
    (5, 240, 40, True, HS, 1),
    (5, 240, 40, True, HS, 1),
    (5, 120, 48, True, HS, 1),
    (5, 144, 48, True, HS, 1),
    (5, 288, 96, True, HS, 2),
    (5, 576, 96, True, HS, 1),
    (5, 576, 96, True, HS, 1),
)
# name -> (blocks, width of the hidden Linear of the head); the last conv is 6x the last block.
V3_VARIANTS = {
    "mobilenet_v3_large": (V3_LARGE, 1280),
    "mobilenet_v3_small": (V3_SMALL, 1024),
}
V3_STEM_CHANNELS = 16
V3_LAST_CONV_EXPANSION = 6
SE_REDUCTION = 4
V3_BATCH_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class SqueezeExcitation(nn.Module):
    """Hu et al. 2018: pool to 1x1, 1x1 conv down, activation, 1x1 conv up, gate, scale input."""

    def __init__(self, channels: int, squeeze: int, activation=nn.ReLU, gate=nn.Hardsigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation()
        self.scale_activation = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(scale)


class InvertedResidualV3(nn.Module):
    """Expand 1x1 (skipped when ``expanded == in_channels``), depthwise kxk, SE, project 1x1."""

    def __init__(self, in_channels: int, kernel: int, expanded: int, out_channels: int,
                 use_se: bool, nonlinearity: str, stride: int):
        super().__init__()
        act = ACTIVATIONS[nonlinearity]
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv_bn_act(in_channels, expanded, 1, activation=act, norm=V3_BATCH_NORM))
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, groups=expanded,
                                  activation=act, norm=V3_BATCH_NORM))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // SE_REDUCTION)))
        layers.append(conv_bn_act(expanded, out_channels, 1, activation=None, norm=V3_BATCH_NORM))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class MobileNetV3(ConvClassifier):
    """MobileNetV3: ``features`` (stem, blocks, last conv), pool, ``classifier`` (two Linears)."""


def _mobilenet_v3(name: str, num_classes: int, in_channels: int, width_mult: float,
                  dropout: float) -> MobileNetV3:
    require_positive(name, width_mult=width_mult)
    blocks, head_width = V3_VARIANTS[name]
    width = make_divisible(V3_STEM_CHANNELS * width_mult)
    layers: list[nn.Module] = [
        conv_bn_act(in_channels, width, 3, stride=2, activation=nn.Hardswish, norm=V3_BATCH_NORM)
    ]
    for kernel, expanded, out, use_se, nonlinearity, stride in blocks:
        out = make_divisible(out * width_mult)
        layers.append(InvertedResidualV3(width, kernel, make_divisible(expanded * width_mult), out,
                                         use_se, nonlinearity, stride))
        width = out
    last_conv = V3_LAST_CONV_EXPANSION * width
    layers.append(conv_bn_act(width, last_conv, 1, activation=nn.Hardswish, norm=V3_BATCH_NORM))
    hidden = make_divisible(head_width * width_mult)
    classifier = nn.Sequential(
        nn.Linear(last_conv, hidden),
        nn.Hardswish(inplace=True),
        nn.Dropout(dropout, inplace=True),
        nn.Linear(hidden, num_classes),
    )
    return init_weights(MobileNetV3(nn.Sequential(*layers), classifier))


@register_model(input_size=(3, 224, 224))
def mobilenet_v3_large(
    *, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.2
):
    """MobileNetV3-Large (Howard et al. 2019), default input 3x224x224.

    ``width_mult`` scales every layer, the head's hidden Linear included, rounded to multiples of 8.
    """
    return _mobilenet_v3("mobilenet_v3_large", num_classes, in_channels, width_mult, dropout)


@register_model(input_size=(3, 224, 224))
def mobilenet_v3_small(
    *, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.2
):
    """MobileNetV3-Small (Howard et al. 2019), default input 3x224x224.

    ``width_mult`` scales every layer, the head's hidden Linear included, rounded to multiples of 8.
    """
    return _mobilenet_v3("mobilenet_v3_small", num_classes, in_channels, width_mult, dropout)
