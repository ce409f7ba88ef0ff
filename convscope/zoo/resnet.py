"""ResNet of He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", 2015.

Default input 3x224x224 (smaller inputs run too: an adaptive average pool precedes ``fc``).

Module names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
``fc``) so that a report on a zoo model reads like one on ``torchvision.models.resnet50()``.

Two placements of the stride in a bottleneck block that halves the resolution:

- ``variant="v1.5"`` (default, torchvision): on the 3x3 conv ``conv2``.
- ``variant="v1"`` (the paper): on the first 1x1 conv ``conv1``, so ``conv2`` already runs at the
  halved resolution. Same parameters, fewer MACs: resnet50 3.86 G instead of 4.09 G.

Basic blocks (resnet18, resnet34) have no 1x1 conv; both variants build the same network.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UsageError
from . import register_model

# depth -> (block type, number of blocks in layer1..layer4), the paper's Table 1
_RESNETS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
_STAGE_WIDTHS = (64, 128, 256, 512)
_VARIANTS = ("v1.5", "v1")


def _resnet(depth: int, num_classes: int, in_channels: int, variant: str) -> ResNet:
    if variant not in _VARIANTS:
        raise UsageError(
            f"resnet{depth}: variant={variant!r} is not known; expected 'v1.5' (torchvision, "
            f"stride on the 3x3 conv, the default) or 'v1' (the paper, stride on the first 1x1)."
        )
    kind, layers = _RESNETS[depth]
    return ResNet(_BLOCKS[kind], layers, num_classes, in_channels, stride_on_1x1=variant == "v1")


@register_model(input_size=(3, 224, 224))
def resnet18(*, num_classes: int = 1000, in_channels: int = 3, variant: str = "v1.5") -> nn.Module:
    """ResNet-18, basic blocks [2, 2, 2, 2] (He et al., 2015); input 3x224x224.

    ``variant`` ("v1.5" or "v1") only matters for bottleneck blocks; see the module docstring.
    """
    return _resnet(18, num_classes, in_channels, variant)


@register_model(input_size=(3, 224, 224))
def resnet34(*, num_classes: int = 1000, in_channels: int = 3, variant: str = "v1.5") -> nn.Module:
    """ResNet-34, basic blocks [3, 4, 6, 3] (He et al., 2015); input 3x224x224.

    ``variant`` ("v1.5" or "v1") only matters for bottleneck blocks; see the module docstring.
    """
    return _resnet(34, num_classes, in_channels, variant)


@register_model(input_size=(3, 224, 224))
def resnet50(*, num_classes: int = 1000, in_channels: int = 3, variant: str = "v1.5") -> nn.Module:
    """ResNet-50, bottleneck blocks [3, 4, 6, 3] (He et al., 2015); input 3x224x224.

    ``variant="v1.5"`` (default, torchvision) strides the 3x3 conv of a downsampling block,
    ``variant="v1"`` strides its first 1x1 conv as the paper does.
    """
    return _resnet(50, num_classes, in_channels, variant)


@register_model(input_size=(3, 224, 224))
def resnet101(*, num_classes: int = 1000, in_channels: int = 3, variant: str = "v1.5") -> nn.Module:
    """ResNet-101, bottleneck blocks [3, 4, 23, 3] (He et al., 2015); input 3x224x224.

    ``variant="v1.5"`` (default, torchvision) strides the 3x3 conv of a downsampling block,
    ``variant="v1"`` strides its first 1x1 conv as the paper does.
    """
    return _resnet(101, num_classes, in_channels, variant)


@register_model(input_size=(3, 224, 224))
def resnet152(*, num_classes: int = 1000, in_channels: int = 3, variant: str = "v1.5") -> nn.Module:
    """ResNet-152, bottleneck blocks [3, 8, 36, 3] (He et al., 2015); input 3x224x224.

    ``variant="v1.5"`` (default, torchvision) strides the 3x3 conv of a downsampling block,
    ``variant="v1"`` strides its first 1x1 conv as the paper does.
    """
    return _resnet(152, num_classes, in_channels, variant)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut; the first conv carries the stride.

    ``stride_on_1x1`` is accepted so both blocks share one signature; there is no 1x1 conv here.
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1,
                 downsample: nn.Module | None = None, stride_on_1x1: bool = False):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut; the stride sits on conv2 or conv1."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1,
                 downsample: nn.Module | None = None, stride_on_1x1: bool = False):
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if stride_on_1x1 else (1, stride)
        self.conv1 = _conv1x1(in_channels, width, stride_1x1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride_3x3)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, width * self.expansion)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
}


def _stage(block, in_channels: int, width: int, count: int, stride: int,
           stride_on_1x1: bool) -> nn.Sequential:
    """``count`` blocks; the first changes resolution/width and so needs a projection shortcut."""
    out_channels = width * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            _conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
        )
    blocks = [block(in_channels, width, stride, downsample, stride_on_1x1)]
    blocks += [block(out_channels, width, stride_on_1x1=stride_on_1x1) for _ in range(count - 1)]
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), four stages (layer1..layer4), global pool, fc."""

    def __init__(self, block, layers: tuple[int, ...], num_classes: int = 1000,
                 in_channels: int = 3, stride_on_1x1: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (width, count) in enumerate(zip(_STAGE_WIDTHS, layers)):
            stride = 1 if index == 0 else 2
            stage = _stage(block, channels, width, count, stride, stride_on_1x1)
            self.add_module(f"layer{index + 1}", stage)
            channels = width * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _init_weights(model: nn.Module) -> None:
    """torchvision's scheme: He normal (fan_out) convs, BN as identity, PyTorch's default fc."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
