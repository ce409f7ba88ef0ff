"""VGG of Simonyan & Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015. Default input 3x224x224, 1000 classes.

Configurations A, B, D and E of the paper's Table 1 are vgg11, vgg13, vgg16 and vgg19. The ``_bn``
variants put batch norm (Ioffe & Szegedy 2015) after every conv, as torchvision does; the paper
has none. Like torchvision, an adaptive 7x7 average pool sits before the classifier, so smaller
inputs (even 32x32) run, module names read ``features.N``, ``avgpool``, ``classifier.N``, ReLUs
work in place (their outputs take no memory), and weights start as torchvision's do: convs
Kaiming-normal (fan_out, ReLU gain), Linear N(0, 0.01), biases zero, batch norm scale one.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from . import register_model

# Conv widths of the paper's Table 1, every conv 3x3 with padding 1 and followed by ReLU;
# "M" is a 2x2 max pool with stride 2.
_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
              512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}  # fmt: skip
_POOLED_SIZE = 7
_HIDDEN = 4096


def _features(config: tuple[int | str, ...], in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in config:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, width, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=True))
        in_channels = width
    return nn.Sequential(*layers)


def _classifier(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, _HIDDEN),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(_HIDDEN, _HIDDEN),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(_HIDDEN, num_classes),
    )


def _init_weights(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)


def _vgg(
    name: str, num_classes: int, in_channels: int, dropout: float, batch_norm: bool
) -> nn.Sequential:
    config = _CONFIGS[name]
    last_width = [width for width in config if width != "M"][-1]
    model = nn.Sequential(
        OrderedDict(
            features=_features(config, in_channels, batch_norm),
            avgpool=nn.AdaptiveAvgPool2d((_POOLED_SIZE, _POOLED_SIZE)),
            flatten=nn.Flatten(),
            classifier=_classifier(last_width * _POOLED_SIZE**2, num_classes, dropout),
        )
    )
    _init_weights(model)
    return model


@register_model(input_size=(3, 224, 224))
def vgg11(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-11, configuration A of Simonyan & Zisserman 2015, for 3x224x224 input."""
    return _vgg("vgg11", num_classes, in_channels, dropout, batch_norm=False)


@register_model(input_size=(3, 224, 224))
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-11 (Simonyan & Zisserman 2015) with batch norm after each conv, for 3x224x224 input."""
    return _vgg("vgg11", num_classes, in_channels, dropout, batch_norm=True)


@register_model(input_size=(3, 224, 224))
def vgg13(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-13, configuration B of Simonyan & Zisserman 2015, for 3x224x224 input."""
    return _vgg("vgg13", num_classes, in_channels, dropout, batch_norm=False)


@register_model(input_size=(3, 224, 224))
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-13 (Simonyan & Zisserman 2015) with batch norm after each conv, for 3x224x224 input."""
    return _vgg("vgg13", num_classes, in_channels, dropout, batch_norm=True)


@register_model(input_size=(3, 224, 224))
def vgg16(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-16, configuration D of Simonyan & Zisserman 2015, for 3x224x224 input."""
    return _vgg("vgg16", num_classes, in_channels, dropout, batch_norm=False)


@register_model(input_size=(3, 224, 224))
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-16 (Simonyan & Zisserman 2015) with batch norm after each conv, for 3x224x224 input."""
    return _vgg("vgg16", num_classes, in_channels, dropout, batch_norm=True)


@register_model(input_size=(3, 224, 224))
def vgg19(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-19, configuration E of Simonyan & Zisserman 2015, for 3x224x224 input."""
    return _vgg("vgg19", num_classes, in_channels, dropout, batch_norm=False)


@register_model(input_size=(3, 224, 224))
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """VGG-19 (Simonyan & Zisserman 2015) with batch norm after each conv, for 3x224x224 input."""
    return _vgg("vgg19", num_classes, in_channels, dropout, batch_norm=True)
