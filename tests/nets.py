"""Small networks that exercise every kind of graph the issues name."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convscope import zoo


class Residual(nn.Module):
    """Two basic blocks, the second with a strided 1x1 shortcut; the add is functional."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU(inplace=True))
        self.a1 = nn.Conv2d(16, 16, 3, padding=1)
        self.a2 = nn.Conv2d(16, 16, 3, padding=1)
        self.b1 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.b2 = nn.Conv2d(32, 32, 3, padding=1)
        self.shortcut = nn.Conv2d(16, 32, 1, stride=2)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(x + self.a2(F.relu(self.a1(x))))
        x = F.relu(self.shortcut(x) + self.b2(F.relu(self.b1(x))))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InceptionStyle(nn.Module):
    """1x1, 3x3, 5x5 and pool branches concatenated on channels."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b3 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 5, padding=2))
        self.pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(8, 3, 1))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        y = torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], dim=1)
        return self.fc(y.mean(dim=(2, 3)))


class DepthwiseSeparable(nn.Sequential):
    def __init__(self):
        super().__init__(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU6(),
            nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10),
        )


class SharedConv(nn.Module):
    """One conv module called twice: two rows, parameters counted once."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.conv(torch.relu(self.conv(x))))


class TwoInputs(nn.Module):
    """An image and a vector of side information, joined before the classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(2))
        self.side = nn.Linear(6, 8)
        self.fc = nn.Linear(40, 3)

    def forward(self, image, extra):
        return self.fc(torch.cat([self.features(image).flatten(1), self.side(extra)], dim=1))


def simple_cnn():
    return zoo.create("simple_cnn")


# name -> (builder, input shapes without batch)
NETWORKS = {
    "simple_cnn": (simple_cnn, [(1, 28, 28)]),
    "residual": (Residual, [(3, 32, 32)]),
    "inception_style": (InceptionStyle, [(8, 17, 17)]),
    "depthwise_separable": (DepthwiseSeparable, [(3, 64, 64)]),
    "shared_conv": (SharedConv, [(4, 16, 16)]),
    "two_inputs": (TwoInputs, [(3, 12, 12), (6,)]),
}
