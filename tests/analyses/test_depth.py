"""Depth as papers count it: weight layers on the longest path from the input to an output."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import convscope
from convscope import zoo
from convscope.analyses.explain import explain


class _Residual(nn.Module):
    """conv -> conv on the main path, a 1x1 conv on the shortcut: 2 deep, not 3."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.shortcut = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))) + self.shortcut(x)


class _Attention(nn.Module):
    """Q K^T and P V read no weight: only the projections and the head are layers."""

    def __init__(self):
        super().__init__()
        self.qkv, self.head = nn.Linear(8, 24), nn.Linear(8, 2)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.head(torch.softmax(q @ k.transpose(1, 2), -1) @ v)


class _TwoHeads(nn.Module):
    """The deeper output sets the depth: 3 layers to ``deep``, 1 to ``shallow``."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.deep = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Flatten(), nn.LazyLinear(2))
        self.shallow = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.shallow(x), self.deep(self.stem(x))


def _names(model, shape):
    return convscope.analyze(model, shape).weight_layers()


def test_a_shortcut_beside_the_main_path_counts_once():
    assert _names(_Residual(), (4, 8, 8)) == ("a", "b")


def test_attention_products_of_two_activations_are_no_layers():
    assert _names(_Attention(), (5, 8)) == ("qkv", "head")


def test_a_bias_added_to_a_product_of_activations_makes_no_layer():
    class Biased(_Attention):  # ALiBi's baddbmm: a bias of its own added to Q K^T
        def __init__(self):
            super().__init__()
            self.alibi = nn.Parameter(torch.zeros(1, 5, 5))

        def forward(self, x):
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            scores = torch.baddbmm(self.alibi.expand(len(x), 5, 5), q, k.transpose(1, 2))
            return self.head(torch.softmax(scores, -1) @ v)

    assert _names(Biased(), (5, 8)) == ("qkv", "head")


def test_the_deepest_output_sets_the_depth():
    model = _TwoHeads()
    model(torch.zeros(1, 3, 8, 8))  # the lazy Linear gets its shape
    assert _names(model, (3, 8, 8)) == ("stem", "deep.0", "deep.2")


def test_a_conv_whose_weight_is_computed_is_a_layer_and_a_model_s_own_conv_is_named_by_it():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3))
            self.w = nn.Parameter(torch.randn(2, 4, 1, 1))

        def forward(self, x):
            return nn.functional.conv2d(self.conv(x), self.w)

    assert _names(Functional(), (3, 8, 8)) == ("conv", "Functional")


def test_a_network_without_weight_layers_has_depth_0():
    assert _names(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)), (3, 8, 8)) == ()
    assert explain(convscope.analyze(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)),
                                     (3, 8, 8))).depth == ""


@pytest.mark.parametrize("name,depth", [
    # as the papers (and torchvision's docs) count them
    ("lenet5", 5), ("alexnet", 8), ("vgg11", 11), ("vgg13", 13), ("vgg16_bn", 16), ("vgg19", 19),
    ("googlenet", 22), ("inception_v3", 48), ("resnet18", 18), ("resnet34", 34),
    ("resnet50", 50), ("resnet101", 101), ("resnet152", 152), ("densenet121", 121),
    ("mobilenet_v1", 28),
])
def test_zoo_models_are_as_deep_as_their_papers_say(name, depth):
    with zoo.shapes_only():
        model = zoo.create(name)
    assert len(convscope.analyze(model, zoo.info(name).input_size).weight_layers()) == depth


def test_explain_names_the_layers_of_the_longest_path():
    with zoo.shapes_only():
        model = zoo.create("vgg16")
    depth = explain(convscope.analyze(model, (3, 224, 224))).depth
    assert depth.startswith("16 weight layers on the longest path from the input to the output")
    assert depth.endswith(": features.0 → features.2 → features.5 → features.7 → features.10 → "
                          "features.12 → features.14 → features.17 → features.19 → features.21 → "
                          "features.24 → features.26 → features.28 → classifier.0 → "
                          "classifier.3 → classifier.6.")
    with zoo.shapes_only():
        deep = explain(convscope.analyze(zoo.create("resnet50"), (3, 224, 224))).depth
    assert deep.startswith("50 weight layers") and " → … → layer4.2.conv2 → layer4.2.conv3 → fc." \
        in deep
