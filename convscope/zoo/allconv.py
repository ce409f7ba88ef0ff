"""All-CNN-C of Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for simplicity: the all
convolutional net", ICLR 2015 workshop. Default input 3x32x32 (CIFAR-10), 10 classes.

Model C of the paper's Table 1 with each 3x3 max pool replaced by a 3x3 conv of stride 2
(Table 2, "All-CNN-C"), and no fully connected layer: a 1x1 conv gives one map per class and a
global average pool turns each map into a logit. As in the paper every conv, the class conv too,
is followed by ReLU, and dropout is applied to the input (20%) and after each strided conv (50%).
The paper does not state an initialisation; convs here are Kaiming-normal (fan_in, ReLU gain) with
zero biases so the nine-layer plain ReLU stack trains without batch norm.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from . import register_model

# (out_channels, kernel_size, stride, padding), each conv followed by ReLU. The strided convs
# replace the pools; the seventh conv is unpadded, so the maps are 6x6 at the class conv, as in
# the paper's "global averaging over 6x6": 32 -> 32 -> 32 -> 16 -> 16 -> 16 -> 8 -> 6 -> 6.
_LAYERS = (
    (96, 3, 1, 1), (96, 3, 1, 1), (96, 3, 2, 1),
    (192, 3, 1, 1), (192, 3, 1, 1), (192, 3, 2, 1),
    (192, 3, 1, 0), (192, 1, 1, 0),
)  # fmt: skip


def _features(
    in_channels: int, num_classes: int, input_dropout: float, dropout: float
) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout(input_dropout)]
    for out_channels, kernel_size, stride, padding in _LAYERS:
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU()]
        if stride > 1:
            layers.append(nn.Dropout(dropout))
        in_channels = out_channels
    layers += [nn.Conv2d(in_channels, num_classes, kernel_size=1), nn.ReLU()]
    return nn.Sequential(*layers)


def _init_weights(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)


@register_model(input_size=(3, 32, 32))
def all_cnn_c(
    num_classes: int = 10, in_channels: int = 3, input_dropout: float = 0.2, dropout: float = 0.5
) -> nn.Sequential:
    """All-CNN-C (Springenberg et al. 2015): strided convs, no pooling, for 3x32x32 CIFAR input.

    1,369,738 parameters with 10 classes (the paper rounds to 1.3 M).
    """
    model = nn.Sequential(
        OrderedDict(
            features=_features(in_channels, num_classes, input_dropout, dropout),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
        )
    )
    _init_weights(model)
    return model
