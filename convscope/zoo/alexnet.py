"""AlexNet of Krizhevsky, Sutskever & Hinton, "ImageNet classification with deep convolutional
neural networks", NeurIPS 2012. Default input 3x224x224, 1000 classes.

This is the single-tower variant torchvision ships, from Krizhevsky's 2014 "One weird trick for
parallelizing convolutional neural networks": 64-192-384-256-256 conv channels instead of the
two-GPU 96-256-384-384-256, no local response normalisation, and an adaptive 6x6 average pool so
inputs other than 224 still reach the classifier. Module names match torchvision's
(``features.N``, ``avgpool``, ``classifier.N``), and, as there, weights keep PyTorch's default
initialisation.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from . import register_model

# (out_channels, kernel_size, stride, padding) per conv, each followed by ReLU;
# "M" is an overlapping 3x3 max pool with stride 2.
_FEATURES = (
    (64, 11, 4, 2), "M",
    (192, 5, 1, 2), "M",
    (384, 3, 1, 1),
    (256, 3, 1, 1),
    (256, 3, 1, 1), "M",
)  # fmt: skip
_POOLED_SIZE = 6
_HIDDEN = 4096


def _features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for spec in _FEATURES:
        if spec == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            continue
        out_channels, kernel_size, stride, padding = spec
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(inplace=True)]
        in_channels = out_channels
    return nn.Sequential(*layers)


def _classifier(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, _HIDDEN),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(_HIDDEN, _HIDDEN),
        nn.ReLU(inplace=True),
        nn.Linear(_HIDDEN, num_classes),
    )


@register_model(input_size=(3, 224, 224))
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Sequential:
    """AlexNet (Krizhevsky et al. 2012), torchvision's single-tower variant, for 3x224x224 input.

    61,100,840 parameters and 0.714 G multiply-accumulates at 224x224 with 1000 classes.
    """
    last_channels = [spec for spec in _FEATURES if spec != "M"][-1][0]
    return nn.Sequential(
        OrderedDict(
            features=_features(in_channels),
            avgpool=nn.AdaptiveAvgPool2d((_POOLED_SIZE, _POOLED_SIZE)),
            flatten=nn.Flatten(),
            classifier=_classifier(last_channels * _POOLED_SIZE**2, num_classes, dropout),
        )
    )
