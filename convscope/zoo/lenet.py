"""LeNet-5 of LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proceedings of the IEEE, 1998. Default input 1x32x32 (28x28 digits padded by 2).

Built as common PyTorch versions build it, not as the 1998 paper does: ReLU instead of the scaled
tanh, 2x2 max pooling instead of trainable sub-sampling, every C3 map sees all six S2 maps (the
paper wires a sparse table), C5 is a Linear over the flattened 16x5x5 maps, and the output is a
Linear layer instead of Gaussian RBF units. Weights keep PyTorch's default initialisation.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from . import register_model

# (out_channels, kernel_size) of each conv stage; each is followed by ReLU and 2x2 max pooling.
_CONVS = ((6, 5), (16, 5))
# Widths of the hidden fully connected layers (C5 and F6 in the paper).
_HIDDEN = (120, 84)
# 32 -conv5-> 28 -pool-> 14 -conv5-> 10 -pool-> 5
_FINAL_SIZE = 5


def _features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for out_channels, kernel_size in _CONVS:
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size), nn.ReLU(), nn.MaxPool2d(2)]
        in_channels = out_channels
    return nn.Sequential(*layers)


def _classifier(in_features: int, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in _HIDDEN:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


@register_model(input_size=(1, 32, 32))
def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, for 1x32x32 digits; 61,706 params.

    The 32x32 input size is fixed: the first Linear expects 16x5x5 features.
    """
    flat_features = _CONVS[-1][0] * _FINAL_SIZE * _FINAL_SIZE
    return nn.Sequential(
        OrderedDict(
            features=_features(in_channels),
            flatten=nn.Flatten(),
            classifier=_classifier(flat_features, num_classes),
        )
    )
