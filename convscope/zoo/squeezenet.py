"""SqueezeNet: AlexNet-level accuracy from Fire modules with few parameters.

Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", 2016. Default input 3x224x224 (torchvision's; the paper feeds 227x227).

Version 1.0 is the paper's Table 1. Version 1.1 comes from the authors' repository: a 3x3 stem
with 64 channels and earlier pooling, 2.4x fewer MACs for the same accuracy. Both end in a 1x1
conv to one channel per class and a global average pool instead of a fully connected layer.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model

POOL = "M"  # 3x3 max pool, stride 2, ceil mode

# version -> ((stem channels, stem kernel), layers): each layer a Fire module as
# (squeeze 1x1, expand 1x1, expand 3x3) channels, or POOL.
SQUEEZENET_VARIANTS = {
    "1_0": ((96, 7), (
        POOL, (16, 64, 64), (16, 64, 64), (32, 128, 128),
        POOL, (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256),
        POOL, (64, 256, 256),
    )),
    "1_1": ((64, 3), (
        POOL, (16, 64, 64), (16, 64, 64),
        POOL, (32, 128, 128), (32, 128, 128),
        POOL, (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
    )),
}


class Fire(nn.Module):
    """Squeeze 1x1 + ReLU, then expand 1x1 and 3x3 side by side (+ ReLU), concatenated."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([
            self.expand1x1_activation(self.expand1x1(x)),
            self.expand3x3_activation(self.expand3x3(x)),
        ], 1)


class SqueezeNet(nn.Module):
    """``features`` (stem, pools, Fire modules), ``classifier`` (dropout, 1x1 conv, ReLU, pool)."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential):
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def _init_weights(model: SqueezeNet) -> SqueezeNet:
    """torchvision's scheme: He uniform convs, except the class conv, which is normal(0, 0.01)."""
    final_conv = model.classifier[1]
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            if module is final_conv:
                nn.init.normal_(module.weight, 0.0, 0.01)
            else:
                nn.init.kaiming_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def _squeezenet(version: str, num_classes: int, in_channels: int, dropout: float) -> SqueezeNet:
    (stem_channels, stem_kernel), layers = SQUEEZENET_VARIANTS[version]
    features: list[nn.Module] = [
        nn.Conv2d(in_channels, stem_channels, stem_kernel, stride=2),
        nn.ReLU(inplace=True),
    ]
    width = stem_channels
    for layer in layers:
        if layer == POOL:
            features.append(nn.MaxPool2d(3, stride=2, ceil_mode=True))
        else:
            features.append(Fire(width, *layer))
            width = layer[1] + layer[2]
    classifier = nn.Sequential(
        nn.Dropout(dropout),
        nn.Conv2d(width, num_classes, 1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
    )
    return _init_weights(SqueezeNet(nn.Sequential(*features), classifier))


@register_model(input_size=(3, 224, 224))
def squeezenet1_0(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
    """SqueezeNet 1.0, Fire modules (Iandola et al. 2016), default input 3x224x224."""
    return _squeezenet("1_0", num_classes, in_channels, dropout)


@register_model(input_size=(3, 224, 224))
def squeezenet1_1(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
    """SqueezeNet 1.1, 2.4x fewer MACs than 1.0 (Iandola et al. 2016), default input 3x224x224."""
    return _squeezenet("1_1", num_classes, in_channels, dropout)
