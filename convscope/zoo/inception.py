"""Inception v3: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", 2015.

Input 3x299x299 (anything from 75x75 up runs). Layout and module names follow torchvision
(``Conv2d_1a_3x3`` ... ``Mixed_5b`` ... ``Mixed_7c``, ``AuxLogits``, ``fc``). Every conv is
GoogLeNet's ``BasicConv2d`` (conv without bias, BatchNorm with eps=0.001, ReLU). torchvision's
``transform_input`` (re-normalising inputs for its ported weights) is not reproduced.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from . import register_model
from .googlenet import BasicConv2d

# module -> (block type, in channels, pool features (A) or 7x7 bottleneck width (C))
_MIXED: dict[str, tuple[str, int, int | None]] = {
    "Mixed_5b": ("A", 192, 32),
    "Mixed_5c": ("A", 256, 64),
    "Mixed_5d": ("A", 288, 64),
    "Mixed_6a": ("B", 288, None),
    "Mixed_6b": ("C", 768, 128),
    "Mixed_6c": ("C", 768, 160),
    "Mixed_6d": ("C", 768, 160),
    "Mixed_6e": ("C", 768, 192),
    "Mixed_7a": ("D", 768, None),
    "Mixed_7b": ("E", 1280, None),
    "Mixed_7c": ("E", 2048, None),
}
_AUX_AFTER = "Mixed_6e"


class InceptionOutputs(NamedTuple):
    """What an Inception v3 with its auxiliary classifier returns in training mode."""

    logits: torch.Tensor
    aux_logits: torch.Tensor


@register_model(input_size=(3, 299, 299))
def inception_v3(*, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 dropout: float = 0.5) -> nn.Module:
    """Inception v3 as in torchvision (Szegedy et al., 2015); input 3x299x299.

    Returns logits ``[N, num_classes]``. With ``aux_logits=True`` (the default) the model holds
    the auxiliary classifier ``AuxLogits`` on ``Mixed_6e``; in training mode it then returns
    ``InceptionOutputs(logits, aux_logits)``, in eval mode still only logits.
    """
    return Inception3(num_classes, in_channels, aux_logits, dropout)


def _row(in_channels: int, out_channels: int, k: int) -> BasicConv2d:
    """A 1xk conv, half of a factorised kxk one; size-preserving."""
    return BasicConv2d(in_channels, out_channels, kernel_size=(1, k), padding=(0, k // 2))


def _column(in_channels: int, out_channels: int, k: int) -> BasicConv2d:
    """A kx1 conv, the other half of a factorised kxk one; size-preserving."""
    return BasicConv2d(in_channels, out_channels, kernel_size=(k, 1), padding=(k // 2, 0))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 module (paper Fig. 5): 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | pool->1x1."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5x5 = self.branch5x5_2(self.branch5x5_1(x))
        b3x3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(_avg_pool(x))
        return torch.cat([self.branch1x1(x), b5x5, b3x3, pool], 1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 grid reduction (paper Fig. 10): 3x3/2 | 1x1->3x3->3x3/2 | max pool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), b3x3dbl, pool], 1)


class InceptionC(nn.Module):
    """17x17 module (paper Fig. 6) with 7x7 convs factorised into 1x7 and 7x1."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = _row(c7, c7, 7)
        self.branch7x7_3 = _column(c7, 192, 7)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = _column(c7, c7, 7)
        self.branch7x7dbl_3 = _row(c7, c7, 7)
        self.branch7x7dbl_4 = _column(c7, c7, 7)
        self.branch7x7dbl_5 = _row(c7, 192, 7)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7x7dbl = self.branch7x7dbl_2(self.branch7x7dbl_1(x))
        b7x7dbl = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(b7x7dbl)))
        pool = self.branch_pool(_avg_pool(x))
        return torch.cat([self.branch1x1(x), b7x7, b7x7dbl, pool], 1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 grid reduction: 1x1->3x3/2 | 1x1->1x7->7x1->3x3/2 | max pool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = _row(192, 192, 7)
        self.branch7x7x3_3 = _column(192, 192, 7)
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3x3 = self.branch3x3_2(self.branch3x3_1(x))
        b7x7x3 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(b7x7x3))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3x3, b7x7x3, pool], 1)


class InceptionE(nn.Module):
    """8x8 module (paper Fig. 7): the 3x3 branches end in parallel 1x3 and 3x1 convs."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = _row(384, 384, 3)
        self.branch3x3_2b = _column(384, 384, 3)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _row(384, 384, 3)
        self.branch3x3dbl_3b = _column(384, 384, 3)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3x3 = self.branch3x3_1(x)
        b3x3 = torch.cat([self.branch3x3_2a(b3x3), self.branch3x3_2b(b3x3)], 1)
        b3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3x3dbl = torch.cat([self.branch3x3dbl_3a(b3x3dbl), self.branch3x3dbl_3b(b3x3dbl)], 1)
        pool = self.branch_pool(_avg_pool(x))
        return torch.cat([self.branch1x1(x), b3x3, b3x3dbl, pool], 1)


_BLOCKS = {"A": InceptionA, "B": InceptionB, "C": InceptionC, "D": InceptionD, "E": InceptionE}


class InceptionAux(nn.Module):
    """Auxiliary head on the 17x17 grid: 5x5/3 average pool, 1x1 conv, 5x5 conv, pool, fc."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class Inception3(nn.Module):
    """Stem of five convs and two max pools, eleven Mixed modules, global pool, dropout, fc."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 dropout: float = 0.5):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        for name, (kind, channels, option) in _MIXED.items():
            block = _BLOCKS[kind]
            self.add_module(name, block(channels) if option is None else block(channels, option))
            if name == _AUX_AFTER:
                self.AuxLogits = InceptionAux(channels, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))
        x = self.maxpool2(x)
        aux = None
        for name in _MIXED:
            x = getattr(self, name)(x)
            if name == _AUX_AFTER and self.AuxLogits is not None and self.training:
                aux = self.AuxLogits(x)
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return x if aux is None else InceptionOutputs(x, aux)


def _init_weights(model: Inception3) -> None:
    """torchvision's scheme: truncated normal convs and fcs (std 0.1), BN as identity.

    The auxiliary head starts smaller (conv1 std 0.01, fc std 0.001), as torchvision intends.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, mean=0.0, std=0.1, a=-2, b=2)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if model.AuxLogits is not None:
        nn.init.trunc_normal_(model.AuxLogits.conv1.conv.weight, std=0.01, a=-2, b=2)
        nn.init.trunc_normal_(model.AuxLogits.fc.weight, std=0.001, a=-2, b=2)
