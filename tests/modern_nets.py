"""Small but faithful versions of architectures users bring today, a few blocks each with their
real layer types and configurations: the trace's fast paths and lowerings must give them the
graph PyTorch's own kernels give (tests/trace/test_fastpaths.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's downsampling norm: a LayerNorm over channels of an NCHW map."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> permute to NHWC -> LayerNorm -> Linear 4x -> GELU -> Linear -> layer
    scale -> permute back -> stochastic depth (identity in eval) -> residual."""

    def __init__(self, dim, drop_path=0.1):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.drop_path = drop_path

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        y = (self.gamma * y).permute(0, 3, 1, 2)
        if self.training and self.drop_path > 0:
            keep = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(1 - self.drop_path)
            y = y * keep / (1 - self.drop_path)
        return x + y


class ConvNeXt(nn.Module):
    def __init__(self, dims=(32, 64), depths=(2, 2), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4),
                                  LayerNorm2d(dims[0], eps=1e-6))
        stages = []
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i:
                stages.append(nn.Sequential(LayerNorm2d(dims[i - 1], eps=1e-6),
                                            nn.Conv2d(dims[i - 1], dim, 2, stride=2)))
            stages.extend(ConvNeXtBlock(dim) for _ in range(depth))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean([-2, -1])))


class ViT(nn.Module):
    """Patch embedding conv -> flatten/transpose -> cls token -> position embedding ->
    TransformerEncoderLayers (pre-norm, GELU) -> LayerNorm -> head on the cls token."""

    def __init__(self, size=64, patch=16, dim=64, depth=2, heads=4, num_classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (size // patch) ** 2 + 1, dim))
        self.encoder = nn.Sequential(*(
            nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.norm(self.encoder(x + self.pos_embed))
        return self.head(x[:, 0])


def _conv_bn_silu(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.SiLU(inplace=True))


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        scale = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.silu(self.fc1(scale))))


class FusedMBConv(nn.Module):
    """EfficientNetV2: a 3x3 expansion conv (fused), optional SE, a 1x1 projection."""

    def __init__(self, cin, cout, expand, stride, se):
        super().__init__()
        hidden = cin * expand
        layers = [_conv_bn_silu(cin, hidden, 3, stride)]
        if se:
            layers.append(SqueezeExcite(hidden, max(1, cin // 4)))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class MBConv(nn.Module):
    """EfficientNetV2's later stages: 1x1 expand, 3x3 depthwise, SE, 1x1 project."""

    def __init__(self, cin, cout, expand, stride):
        super().__init__()
        hidden = cin * expand
        self.block = nn.Sequential(_conv_bn_silu(cin, hidden, 1),
                                   _conv_bn_silu(hidden, hidden, 3, stride, groups=hidden),
                                   SqueezeExcite(hidden, max(1, cin // 4)),
                                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class EfficientNetV2(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn_silu(3, 24, 3, 2), FusedMBConv(24, 24, 1, 1, False),
            FusedMBConv(24, 48, 4, 2, False), FusedMBConv(48, 48, 4, 1, False),
            MBConv(48, 64, 4, 2), MBConv(64, 64, 4, 1), _conv_bn_silu(64, 128, 1))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Dropout(0.2), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def _double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Two levels down (max pool), one up by ConvTranspose2d and one by bilinear interpolation,
    skips concatenated on channels."""

    def __init__(self, classes=2, width=16):
        super().__init__()
        self.inc = _double_conv(3, width)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), _double_conv(width, 2 * width))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _double_conv(2 * width, 4 * width))
        self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.conv1 = _double_conv(4 * width, 2 * width)
        self.conv2 = _double_conv(3 * width, width)
        self.outc = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        y = self.conv1(torch.cat([x2, self.up1(x3)], dim=1))
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)
        return self.outc(self.conv2(torch.cat([x1, y], dim=1)))


class ConvBnSiLU(nn.Sequential):
    def __init__(self, cin, cout, k=1, s=1):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03), nn.SiLU(inplace=True))


class SPPF(nn.Module):
    """YOLOv5/v8's spatial pyramid pooling, fast: three 5x5 stride-1 max pools, concatenated."""

    def __init__(self, cin, cout):
        super().__init__()
        hidden = cin // 2
        self.cv1 = ConvBnSiLU(cin, hidden)
        self.cv2 = ConvBnSiLU(4 * hidden, cout)
        self.m = nn.MaxPool2d(5, stride=1, padding=2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class YoloNeck(nn.Module):
    """A backbone of strided convs, SPPF, and an FPN top-down path: upsample (nearest), cat
    with the backbone's feature, conv; two detection outputs."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Sequential(ConvBnSiLU(3, 16, 3, 2), ConvBnSiLU(16, 32, 3, 2),
                                ConvBnSiLU(32, 64, 3, 2))
        self.b2 = ConvBnSiLU(64, 128, 3, 2)
        self.sppf = SPPF(128, 128)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = ConvBnSiLU(192, 64, 3)
        self.head_p4 = nn.Conv2d(64, 3 * 85, 1)
        self.head_p5 = nn.Conv2d(128, 3 * 85, 1)

    def forward(self, x):
        p3 = self.b1(x)
        p5 = self.sppf(self.b2(p3))
        p4 = self.fuse(torch.cat([self.up(p5), p3], 1))
        return self.head_p4(p4), self.head_p5(p5)


class ResNeXtBlock(nn.Module):
    """A bottleneck whose 3x3 conv is grouped (ResNeXt's cardinality, RegNet's group width)."""

    def __init__(self, cin, cout, groups, stride):
        super().__init__()
        width = cout // 2
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        y += identity
        return self.relu(y)


class ResNeXt(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(ResNeXtBlock(32, 64, 8, 1), ResNeXtBlock(64, 64, 8, 1),
                                    ResNeXtBlock(64, 128, 8, 2), ResNeXtBlock(128, 128, 8, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class GroupNormNet(nn.Module):
    """Conv -> GroupNorm -> ReLU blocks with a residual, as detection heads and small-batch
    training use; ``channels_last`` builds it in that memory format (inputs follow)."""

    def __init__(self, channels_last=True, num_classes=10):
        super().__init__()

        def block(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                 nn.GroupNorm(8, cout), nn.ReLU(inplace=True))

        self.features = nn.Sequential(block(3, 32, 2), block(32, 32, 1), block(32, 64, 2),
                                      block(64, 64, 1))
        self.head = nn.Linear(64, num_classes)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.features(x).mean((2, 3)))


# name -> (builder, input shape without batch)
MODERN = {
    "convnext": (ConvNeXt, (3, 64, 64)),
    "vit": (ViT, (3, 64, 64)),
    "efficientnet_v2": (EfficientNetV2, (3, 64, 64)),
    "unet": (UNet, (3, 64, 64)),
    "yolo_neck": (YoloNeck, (3, 64, 64)),
    "resnext": (ResNeXt, (3, 64, 64)),
    "groupnorm_channels_last": (GroupNormNet, (3, 64, 64)),
}
