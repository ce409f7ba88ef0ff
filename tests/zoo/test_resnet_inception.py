"""ResNet, GoogLeNet and Inception v3 against the numbers their papers and torchvision publish.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (PyTorch's own counter, independent
of convscope's rules): its total is 2 x the multiply-accumulates of convs and matmuls, biases
excluded. Counting runs on the meta device, so no arithmetic is done.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convscope import zoo
from convscope.errors import UsageError


def _meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return zoo.create(name, **kwargs)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _macs(name: str, **kwargs) -> int:
    model = _meta_model(name, **kwargs).eval()
    x = torch.empty(1, *zoo.info(name).input_size, device="meta")
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


# name -> exact parameter count (torchvision's model cards; googlenet without aux classifiers,
# inception_v3 with its aux classifier, which is on by default as in torchvision).
PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "googlenet": 6_624_904,
    "inception_v3": 27_161_264,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count_is_exact(name):
    assert _params(_meta_model(name)) == PARAMS[name]


def test_aux_classifiers_add_their_parameters():
    # googlenet aux heads: 2 x (1x1 conv 512|528->128 + BN, fc 2048->1024, fc 1024->1000)
    assert _params(_meta_model("googlenet", aux_logits=True)) == 13_004_888
    # inception_v3 AuxLogits: 1x1 conv 768->128, 5x5 conv 128->768 (+BN), fc 768->1000
    assert _params(_meta_model("inception_v3", aux_logits=False)) == 23_834_568


# name -> GMACs at the default input as torchvision's model cards print them ("GFLOPS" there,
# 2 decimals, though they are MACs): the v1.5 ResNets, googlenet (paper: ~1.5 G multiply-adds),
# inception_v3 (aux head does not run in eval mode).
TORCHVISION_GMACS = {
    "resnet18": 1.81,
    "resnet34": 3.66,
    "resnet50": 4.09,
    "resnet101": 7.80,
    "resnet152": 11.51,
    "googlenet": 1.50,
    "inception_v3": 5.71,
}


@pytest.mark.parametrize("name", TORCHVISION_GMACS)
def test_macs_match_torchvision(name):
    assert round(_macs(name) / 1e9, 2) == TORCHVISION_GMACS[name]


def test_resnet50_macs_to_three_decimals():
    assert round(_macs("resnet50") / 1e9, 3) == 4.089


# He et al. 2015, Table 1 "FLOPs" (multiply-adds, stride on the first 1x1 conv = variant v1),
# one decimal. Measured: 1.81, 3.66, 3.86, 7.57, 11.28; the paper's 3.6 for resnet34 is low
# by 0.06, so the tolerance is 0.1 rather than a rounding match.
PAPER_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6,
               "resnet152": 11.3}


@pytest.mark.parametrize("name", PAPER_GMACS)
def test_resnet_v1_macs_match_the_paper(name):
    assert abs(_macs(name, variant="v1") / 1e9 - PAPER_GMACS[name]) < 0.1


def test_variant_v1_moves_the_stride_to_the_first_1x1_conv():
    v15, v1 = _meta_model("resnet50"), _meta_model("resnet50", variant="v1")
    assert (v15.layer2[0].conv1.stride, v15.layer2[0].conv2.stride) == ((1, 1), (2, 2))
    assert (v1.layer2[0].conv1.stride, v1.layer2[0].conv2.stride) == ((2, 2), (1, 1))
    assert _params(v1) == _params(v15)
    # the 3x3 convs of layer2..4's first blocks run at a quarter of the pixels: 4.089 -> 3.858 G
    assert _macs("resnet50", variant="v1") == 3_857_973_248
    assert _macs("resnet50") == 4_089_184_256


def test_variant_v1_changes_nothing_in_basic_blocks():
    assert _macs("resnet18", variant="v1") == _macs("resnet18")


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(UsageError, match="v1.5"):
        zoo.create("resnet50", variant="v2")


# name -> input side for a real forward: the default, except resnet101/152 (64, any size
# works after the adaptive pool) and inception_v3 (75, its smallest valid input), for CI speed.
FORWARD_SIDES = {
    "resnet18": 224,
    "resnet34": 224,
    "resnet50": 224,
    "resnet101": 64,
    "resnet152": 64,
    "googlenet": 224,
    "inception_v3": 75,
}


@pytest.mark.parametrize("name", FORWARD_SIDES)
def test_eval_forward_gives_logits(name):
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    side = FORWARD_SIDES[name]
    with torch.no_grad():
        out = model(torch.randn(1, 3, side, side))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, 1000)
    assert torch.isfinite(out).all()


def test_googlenet_returns_aux_outputs_in_training_mode():
    torch.manual_seed(0)
    model = zoo.create("googlenet", num_classes=10, aux_logits=True).train()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 96))
    assert [tuple(t.shape) for t in out] == [(2, 10)] * 3
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert isinstance(model.eval()(torch.randn(1, 3, 96, 96)), torch.Tensor)


def test_inception_v3_returns_aux_outputs_in_training_mode():
    # Shape-only (meta device): the aux head needs the full 299x299 input (Mixed_6e >= 17x17).
    model = _meta_model("inception_v3", num_classes=10).train()
    out = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert out._fields == ("logits", "aux_logits")
    assert [tuple(t.shape) for t in out] == [(2, 10), (2, 10)]
    assert tuple(model.eval()(torch.empty(2, 3, 299, 299, device="meta")).shape) == (2, 10)


# name -> (kwargs, the parameters whose shapes num_classes=10 and in_channels=1 must change)
RESHAPED = {
    "resnet18": ({}, {"conv1.weight", "fc.weight", "fc.bias"}),
    "resnet50": ({}, {"conv1.weight", "fc.weight", "fc.bias"}),
    "googlenet": ({"aux_logits": True}, {"conv1.conv.weight", "fc.weight", "fc.bias",
                                         "aux1.fc2.weight", "aux1.fc2.bias",
                                         "aux2.fc2.weight", "aux2.fc2.bias"}),
    "inception_v3": ({}, {"Conv2d_1a_3x3.conv.weight", "fc.weight", "fc.bias",
                          "AuxLogits.fc.weight", "AuxLogits.fc.bias"}),
}


@pytest.mark.parametrize("name", RESHAPED)
def test_num_classes_and_in_channels_change_only_the_ends(name):
    kwargs, expected = RESHAPED[name]
    default = _meta_model(name, **kwargs).state_dict()
    custom = _meta_model(name, num_classes=10, in_channels=1, **kwargs).state_dict()
    assert default.keys() == custom.keys()
    changed = {key for key in default if default[key].shape != custom[key].shape}
    assert changed == expected
    side = zoo.info(name).input_size[-1]
    out = _meta_model(name, num_classes=10, in_channels=1, **kwargs).eval()(
        torch.empty(1, 1, side, side, device="meta"))
    assert tuple(out.shape) == (1, 10)


def test_one_sgd_step_lowers_the_resnet18_loss():
    torch.manual_seed(0)
    model = zoo.create("resnet18", num_classes=10).train()
    images, labels = torch.randn(4, 3, 64, 64), torch.randint(0, 10, (4,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_before = nn.functional.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss_before.backward()
    optimizer.step()
    loss_after = nn.functional.cross_entropy(model(images), labels)
    assert loss_after.item() < loss_before.item()


def test_registry_knows_family_and_default_input():
    assert zoo.info("resnet152").input_size == (3, 224, 224)
    assert zoo.info("googlenet").family == "googlenet"
    assert zoo.info("inception_v3").input_size == (3, 299, 299)
    assert "He et al., 2015" in zoo.info("resnet50").summary
