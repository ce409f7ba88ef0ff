"""DenseNet: every layer sees the feature maps of all earlier layers in its block.

Huang et al., "Densely Connected Convolutional Networks", 2017 (CVPR; arXiv 2016). Default input
3x224x224.

This is DenseNet-BC, the ImageNet model of Table 1: a 7x7 stride-2 stem and a max pool, four
dense blocks of bottleneck layers (BN-ReLU-1x1 conv to ``4k`` channels, BN-ReLU-3x3 conv to ``k``
new channels, concatenated to the input), transitions that halve channels (compression 0.5) and
resolution between blocks, and a final BN-ReLU, global pool and fc. Module names follow
torchvision (``features.denseblock1.denselayer1.conv1``, ``features.transition1.conv``, ...).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from . import register_model
from .mobilenet import ConvClassifier

# name -> (growth rate k, layers per dense block, stem channels), Table 1.
DENSENET_VARIANTS = {
    "densenet121": (32, (6, 12, 24, 16), 64),
}
BOTTLENECK_WIDTH = 4  # the 1x1 bottleneck conv outputs 4k channels
COMPRESSION = 0.5  # a transition keeps half the channels


class DenseLayer(nn.Sequential):
    """BN-ReLU-1x1 conv (4k) then BN-ReLU-3x3 conv (k): the k new channels of one layer."""

    def __init__(self, in_channels: int, growth_rate: int):
        bottleneck = BOTTLENECK_WIDTH * growth_rate
        super().__init__(OrderedDict(
            norm1=nn.BatchNorm2d(in_channels),
            relu1=nn.ReLU(inplace=True),
            conv1=nn.Conv2d(in_channels, bottleneck, 1, bias=False),
            norm2=nn.BatchNorm2d(bottleneck),
            relu2=nn.ReLU(inplace=True),
            conv2=nn.Conv2d(bottleneck, growth_rate, 3, padding=1, bias=False),
        ))


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; each one's output is concatenated to the running input."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int):
        super().__init__({
            f"denselayer{i + 1}": DenseLayer(in_channels + i * growth_rate, growth_rate)
            for i in range(num_layers)
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.values():
            # [N, C, H, W] -> [N, C + k, H, W]
            x = torch.cat([x, layer(x)], 1)
        return x


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv to ``out_channels``, then 2x2 average pool, stride 2."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(OrderedDict(
            norm=nn.BatchNorm2d(in_channels),
            relu=nn.ReLU(inplace=True),
            conv=nn.Conv2d(in_channels, out_channels, 1, bias=False),
            pool=nn.AvgPool2d(2, stride=2),
        ))


class DenseNet(ConvClassifier):
    """``features`` (stem, dense blocks, transitions, BN-ReLU), global pool, ``classifier``."""


def _init_weights(model: DenseNet) -> DenseNet:
    """torchvision's scheme: He normal (fan_in) convs, unit BN, zero fc bias."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
    return model


def _densenet(name: str, num_classes: int, in_channels: int) -> DenseNet:
    growth_rate, block_layers, width = DENSENET_VARIANTS[name]
    features = nn.Sequential(OrderedDict(
        conv0=nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
        norm0=nn.BatchNorm2d(width),
        relu0=nn.ReLU(inplace=True),
        pool0=nn.MaxPool2d(3, stride=2, padding=1),
    ))
    for index, num_layers in enumerate(block_layers, start=1):
        features.add_module(f"denseblock{index}", DenseBlock(num_layers, width, growth_rate))
        width += num_layers * growth_rate
        if index < len(block_layers):
            out = int(width * COMPRESSION)
            features.add_module(f"transition{index}", Transition(width, out))
            width = out
    features.add_module("norm5", nn.BatchNorm2d(width))
    features.add_module("relu5", nn.ReLU(inplace=True))
    return _init_weights(DenseNet(features, nn.Linear(width, num_classes)))


@register_model(input_size=(3, 224, 224))
def densenet121(*, num_classes: int = 1000, in_channels: int = 3):
    """DenseNet-121, k=32, blocks (6, 12, 24, 16) (Huang et al. 2017), default input 3x224x224."""
    return _densenet("densenet121", num_classes, in_channels)
