"""ShuffleNet V2: channel split, two cheap branches, concatenation and a channel shuffle.

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", 2018.
Default input 3x224x224.

Network of Table 5: conv1 3x3 stride 2 and a max pool, three stages of units, conv5 1x1, global
pool and fc. A stride-1 unit splits the channels in two halves, keeps one and runs the other
through 1x1 - depthwise 3x3 - 1x1; a stride-2 unit runs the whole input through two branches
(each halving the resolution) so the channels double. Both end with a shuffle of two groups.
Module names follow torchvision (``stage2.0.branch1``, ``conv5``, ``fc``). torchvision leaves the
weights at PyTorch's defaults; here they start as in the mobile families (``init_weights``).
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .mobilenet import conv_bn_act, init_weights

# name -> (units per stage 2-4, output channels of conv1, stages 2-4 and conv5), Table 5.
SHUFFLENET_V2_VARIANTS = {
    "shufflenet_v2_x1_0": ((4, 8, 4), (24, 116, 232, 464, 1024)),
}
SHUFFLE_GROUPS = 2


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: [a0 a1 b0 b1] -> [a0 b0 a1 b1] for 2 groups."""
    n, c, h, w = x.shape
    # [N, C, H, W] -> [N, g, C/g, H, W] -> [N, C/g, g, H, W] -> [N, C, H, W]
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """One ShuffleNet V2 unit (paper Fig. 3 c and d); ``branch1`` exists only when stride is 2."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        half = out_channels // 2
        if stride > 1:
            depthwise = conv_bn_act(in_channels, in_channels, 3, stride, groups=in_channels,
                                    activation=None)
            self.branch1 = nn.Sequential(*depthwise, *conv_bn_act(in_channels, half, 1))
        branch2_in = in_channels if stride > 1 else half
        self.branch2 = nn.Sequential(
            *conv_bn_act(branch2_in, half, 1),
            *conv_bn_act(half, half, 3, stride, groups=half, activation=None),
            *conv_bn_act(half, half, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, x = x.chunk(2, dim=1)
            out = torch.cat([kept, self.branch2(x)], 1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], 1)
        return channel_shuffle(out, SHUFFLE_GROUPS)


class ShuffleNetV2(nn.Module):
    """conv1, maxpool, stage2-4, conv5, global pool, fc."""

    def __init__(self, repeats: tuple[int, ...], channels: tuple[int, ...], in_channels: int,
                 num_classes: int):
        super().__init__()
        self.conv1 = conv_bn_act(in_channels, channels[0], 3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        width = channels[0]
        for stage, (units, out) in enumerate(zip(repeats, channels[1:]), start=2):
            blocks = [ShuffleUnit(width, out, 2)]
            blocks += [ShuffleUnit(out, out, 1) for _ in range(units - 1)]
            setattr(self, f"stage{stage}", nn.Sequential(*blocks))
            width = out
        self.conv5 = conv_bn_act(width, channels[-1], 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(torch.flatten(self.avgpool(self.conv5(x)), 1))


@register_model(input_size=(3, 224, 224))
def shufflenet_v2_x1_0(*, num_classes: int = 1000, in_channels: int = 3):
    """ShuffleNet V2 1.0x (Ma et al. 2018), default input 3x224x224."""
    repeats, channels = SHUFFLENET_V2_VARIANTS["shufflenet_v2_x1_0"]
    return init_weights(ShuffleNetV2(repeats, channels, in_channels, num_classes))
