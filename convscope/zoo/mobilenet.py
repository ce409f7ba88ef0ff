"""MobileNet V1 and V2: depthwise-separable networks for phones.

- MobileNetV1: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
  Vision Applications", 2017. Default input 3x224x224.
- MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018.
  Default input 3x224x224.

MobileNetV1 has two knobs. The width multiplier ``alpha`` thins every layer and is a builder
option. The resolution multiplier ``rho`` only shrinks the input (the weights do not change), so
it is not a builder option: ``mobilenet_v1_input_size(rho)`` gives the input for a ``rho``, and
the paper's four resolutions are registered as ``mobilenet_v1`` (224), ``mobilenet_v1_192``,
``mobilenet_v1_160`` and ``mobilenet_v1_128`` so that ``zoo.info`` knows their default input.

``make_divisible``, ``conv_bn_act``, ``ConvClassifier`` and ``init_weights`` are shared with the
later mobile families (MobileNetV3, EfficientNet), which import them from here.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

from ..errors import UsageError
from . import register_model

# MobileNetV1, Table 1: a 3x3 stride-2 conv to 32 channels, then 13 depthwise-separable blocks
# as (output channels, stride). The table gives the 13th depthwise conv stride 2 but a 7x7 input
# and output; stride 1 is right (reference code, and the 569M mult-adds of Table 6).
V1_STEM_CHANNELS = 32
V1_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)
V1_BASE_RESOLUTION = 224
# Table 7: resolution multiplier rho -> input side.
V1_RESOLUTIONS = {1.0: 224, 0.857: 192, 0.714: 160, 0.571: 128}

# MobileNetV2, Table 2: after a 3x3 stride-2 conv to 32 channels, stages of inverted residual
# blocks as (t expansion factor, c output channels, n repeats, s stride of the first block),
# then a 1x1 conv to 1280 channels.
V2_STEM_CHANNELS = 32
V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
V2_LAST_CHANNELS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, losing at most 10%.

    This is the rounding of the TensorFlow reference code (and torchvision's ``_make_divisible``).
    Worked examples: ``make_divisible(96 * 0.75) == 72``; ``make_divisible(32 * 0.35) == 16``,
    because 11.2 rounds to 8, which is more than 10% below 11.2, so one more divisor is added.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    groups: int = 1,
    activation: Callable[..., nn.Module] | None = nn.ReLU,
    norm: Callable[[int], nn.Module] = nn.BatchNorm2d,
) -> nn.Sequential:
    """Conv (no bias, "same" padding) + norm + activation, named ``0``, ``1``, ``2``.

    The layout of torchvision's ``Conv2dNormActivation``; ``activation=None`` leaves it linear.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                  groups=groups, bias=False),
        norm(out_channels),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


def init_weights(model: nn.Module) -> nn.Module:
    """Initialise as torchvision's mobile nets: He normal (fan_out) convs, unit BN, small Linear."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    return model


def require_positive(model: str, **options: float) -> None:
    """Raise a UsageError naming the first option of ``model`` that is not > 0."""
    for name, value in options.items():
        if not value > 0:
            raise UsageError(
                f"{model}: {name}={value!r} must be a positive number (1.0 is the paper's full "
                f"width); pass e.g. {name}=0.5 for a thinner network."
            )


class ConvClassifier(nn.Module):
    """``features`` -> global average pool -> flatten -> ``classifier``."""

    def __init__(self, features: nn.Module, classifier: nn.Module):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class DepthwiseSeparable(nn.Sequential):
    """MobileNetV1 block (paper Fig. 3): depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__(OrderedDict(
            depthwise=conv_bn_act(in_channels, in_channels, 3, stride, groups=in_channels),
            pointwise=conv_bn_act(in_channels, out_channels, 1),
        ))


class MobileNetV1(ConvClassifier):
    """MobileNetV1: ``features.0`` stem, ``features.1-13`` depthwise-separable blocks, fc."""


class InvertedResidual(nn.Module):
    """MobileNetV2 block (paper Table 1): expand 1x1, depthwise 3x3, linear project 1x1.

    The 1x1 expansion is skipped when ``expand_ratio`` is 1; the input is added back when the
    block keeps both the resolution and the channel count.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(ConvClassifier):
    """MobileNetV2 with torchvision's module names.

    ``features.0`` stem, ``features.1-17`` inverted residuals, ``features.18`` 1x1 conv to 1280,
    ``classifier.0`` dropout, ``classifier.1`` fc.
    """


def mobilenet_v1_input_size(rho: float = 1.0, in_channels: int = 3) -> tuple[int, int, int]:
    """The input (C, H, W) the paper uses for resolution multiplier ``rho``: side 224 * rho.

    >>> mobilenet_v1_input_size(0.714)
    (3, 160, 160)
    """
    if not 0 < rho <= 1:
        raise UsageError(
            f"mobilenet_v1: rho={rho!r} must lie in (0, 1] (the paper uses "
            f"{', '.join(map(str, V1_RESOLUTIONS))}); for larger inputs pass the size directly."
        )
    side = round(V1_BASE_RESOLUTION * rho)
    return (in_channels, side, side)


@register_model(input_size=(3, 224, 224))
def mobilenet_v1(*, num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0):
    """MobileNetV1 with width multiplier alpha (Howard et al. 2017), default input 3x224x224.

    ``alpha`` in (0, 1] thins every layer to ``int(channels * alpha)`` channels; the paper uses
    1.0, 0.75, 0.5 and 0.25. For the resolution multiplier see ``mobilenet_v1_input_size``.
    """
    require_positive("mobilenet_v1", alpha=alpha)
    width = max(1, int(V1_STEM_CHANNELS * alpha))
    layers: list[nn.Module] = [conv_bn_act(in_channels, width, 3, stride=2)]
    for channels, stride in V1_BLOCKS:
        out = max(1, int(channels * alpha))
        layers.append(DepthwiseSeparable(width, out, stride))
        width = out
    return init_weights(MobileNetV1(nn.Sequential(*layers), nn.Linear(width, num_classes)))


@register_model(input_size=(3, 192, 192))
def mobilenet_v1_192(*, num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0):
    """MobileNetV1 at rho 0.857 (Howard et al. 2017), default input 3x192x192; same weights."""
    return mobilenet_v1(num_classes=num_classes, in_channels=in_channels, alpha=alpha)


@register_model(input_size=(3, 160, 160))
def mobilenet_v1_160(*, num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0):
    """MobileNetV1 at rho 0.714 (Howard et al. 2017), default input 3x160x160; same weights."""
    return mobilenet_v1(num_classes=num_classes, in_channels=in_channels, alpha=alpha)


@register_model(input_size=(3, 128, 128))
def mobilenet_v1_128(*, num_classes: int = 1000, in_channels: int = 3, alpha: float = 1.0):
    """MobileNetV1 at rho 0.571 (Howard et al. 2017), default input 3x128x128; same weights."""
    return mobilenet_v1(num_classes=num_classes, in_channels=in_channels, alpha=alpha)


@register_model(input_size=(3, 224, 224))
def mobilenet_v2(
    *, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.2
):
    """MobileNetV2 with inverted residuals (Sandler et al. 2018), default input 3x224x224.

    ``width_mult`` scales every layer, rounded to a multiple of 8 by ``make_divisible``; the last
    1x1 conv keeps 1280 channels unless ``width_mult`` > 1 (as the paper and torchvision).
    """
    require_positive("mobilenet_v2", width_mult=width_mult)
    width = make_divisible(V2_STEM_CHANNELS * width_mult)
    layers: list[nn.Module] = [conv_bn_act(in_channels, width, 3, stride=2, activation=nn.ReLU6)]
    for expand_ratio, channels, repeats, first_stride in V2_STAGES:
        out = make_divisible(channels * width_mult)
        for index in range(repeats):
            stride = first_stride if index == 0 else 1
            layers.append(InvertedResidual(width, out, stride, expand_ratio))
            width = out
    last = make_divisible(V2_LAST_CHANNELS * max(1.0, width_mult))
    layers.append(conv_bn_act(width, last, 1, activation=nn.ReLU6))
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
    return init_weights(MobileNetV2(nn.Sequential(*layers), classifier))
