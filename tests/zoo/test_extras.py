"""SqueezeNet, DenseNet, ShuffleNet V2, MobileNetV3 and EfficientNet against torchvision's figures.

torchvision's model pages give ``num_params`` and "GFLOPS" at 224x224, which are in fact MACs
(mobilenet_v2 reads 0.30 for its 300M mult-adds). MACs here come from ``FlopCounterMode``
(2 FLOPs per multiply-accumulate of convs and matmuls, bias excluded), counted on the meta device.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convscope import zoo
from convscope.errors import UsageError
from convscope.zoo.efficientnet import StochasticDepth
from convscope.zoo.shufflenet import channel_shuffle
from tests.zoo.helpers import macs, params


# torchvision model pages: name -> (num_params, GFLOPS at 224 = GMACs, 2 decimals).
TORCHVISION = {
    "squeezenet1_0": (1_248_424, 0.82),
    "squeezenet1_1": (1_235_496, 0.35),
    "densenet121": (7_978_856, 2.83),
    "shufflenet_v2_x1_0": (2_278_604, 0.14),
    "mobilenet_v3_large": (5_483_032, 0.22),
    "mobilenet_v3_small": (2_542_856, 0.06),
    "efficientnet_b0": (5_288_548, 0.39),
}
# name -> (first conv weight, last Linear or class conv): the layers num_classes/in_channels touch.
ENDS = {
    "squeezenet1_0": ("features.0.weight", "classifier.1"),
    "squeezenet1_1": ("features.0.weight", "classifier.1"),
    "densenet121": ("features.conv0.weight", "classifier"),
    "shufflenet_v2_x1_0": ("conv1.0.weight", "fc"),
    "mobilenet_v3_large": ("features.0.0.weight", "classifier.3"),
    "mobilenet_v3_small": ("features.0.0.weight", "classifier.3"),
    "efficientnet_b0": ("features.0.0.weight", "classifier.1"),
}


@pytest.mark.parametrize("name", TORCHVISION)
def test_parameters_and_macs_match_torchvision(name):
    num_params, gmacs = TORCHVISION[name]
    assert params(zoo.create(name)) == num_params
    assert round(macs(name) / 1e9, 2) == gmacs


@pytest.mark.parametrize("name", TORCHVISION)
def test_forward_at_default_input_gives_one_logit_per_class(name):
    info = zoo.info(name)
    assert info.input_size == (3, 224, 224) and "3x224x224" in info.summary
    model = zoo.create(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, *info.input_size)).shape == (1, 1000)


@pytest.mark.parametrize("name", TORCHVISION)
def test_num_classes_and_in_channels_change_only_first_conv_and_classifier(name):
    first, head = ENDS[name]
    default = zoo.create(name).state_dict()
    custom = zoo.create(name, num_classes=10, in_channels=1).state_dict()
    assert default.keys() == custom.keys()
    assert {k for k in default if default[k].shape != custom[k].shape} == {
        first, f"{head}.weight", f"{head}.bias"}
    assert custom[first].shape[1] == 1 and custom[f"{head}.weight"].shape[0] == 10


# SqueezeNet has no BatchNorm and ~3x larger gradients than the others, so it takes smaller steps.
LEARNING_RATES = {"squeezenet1_0": 0.003, "squeezenet1_1": 0.003}


@pytest.mark.parametrize("name", TORCHVISION)
def test_one_sgd_step_lowers_the_loss_on_a_fixed_batch(name):
    torch.manual_seed(0)
    model = zoo.create(name, num_classes=10).train()
    images, labels = torch.randn(4, 3, 64, 64), torch.randint(0, 10, (4,))

    def loss() -> torch.Tensor:
        torch.manual_seed(1)  # the same dropout and stochastic-depth draws before and after
        return F.cross_entropy(model(images), labels)

    before = loss()
    before.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        for p in model.parameters():
            p -= LEARNING_RATES.get(name, 0.01) * p.grad
        assert loss().item() < before.item()


def test_squeezenet1_1_needs_about_2_4x_fewer_macs_than_1_0():
    # the authors' repository: "2.4x less computation than SqueezeNet v1.0"
    assert 2.3 < macs("squeezenet1_0") / macs("squeezenet1_1") < 2.5


def test_densenet121_grows_by_k_and_halves_at_transitions():
    features = zoo.create("densenet121").features
    # 64 + 6*32 = 256 -> 128; 128 + 12*32 = 512 -> 256; 256 + 24*32 = 1024 -> 512; 512 + 16*32
    transitions = [getattr(features, f"transition{i}") for i in (1, 2, 3)]
    assert [t.conv.out_channels for t in transitions] == [128, 256, 512]
    assert features.norm5.num_features == 1024
    assert features.denseblock3.denselayer24.conv2.out_channels == 32


def test_channel_shuffle_interleaves_two_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shufflenet_v2_stage_widths_follow_table_5():
    model = zoo.create("shufflenet_v2_x1_0").eval()
    with torch.no_grad():
        x = model.maxpool(model.conv1(torch.zeros(1, 3, 224, 224)))
        stages = (model.stage2, model.stage3, model.stage4)
        shapes = [tuple((x := stage(x)).shape[1:]) for stage in stages]
    assert shapes == [(116, 28, 28), (232, 14, 14), (464, 7, 7)]
    assert [len(s) for s in (model.stage2, model.stage3, model.stage4)] == [4, 8, 4]


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_mobilenet_v3_width_mult_thins_layers_to_multiples_of_8(name):
    full, thin = zoo.create(name), zoo.create(name, width_mult=0.5)
    assert params(thin) < params(full) and macs(name, width_mult=0.5) < macs(name)
    convs = [m for m in thin.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)
    assert thin.classifier[0].out_features == full.classifier[0].out_features // 2
    with pytest.raises(UsageError, match="width_mult"):
        zoo.create(name, width_mult=0)


def test_mobilenet_v3_blocks_use_squeeze_excite_and_hard_swish_where_the_tables_say():
    model = zoo.create("mobilenet_v3_large")
    se = [type(m).__name__ for m in model.modules()].count("SqueezeExcitation")
    assert se == 8  # Table 1: SE in blocks 4-6 and 11-15
    assert sum(isinstance(m, nn.Hardswish) for m in model.modules()) == 2 + 2 * 9 + 1


def test_efficientnet_b0_stochastic_depth_grows_linearly_and_is_off_in_eval():
    model = zoo.create("efficientnet_b0")
    probs = [m.p for m in model.modules() if isinstance(m, StochasticDepth)]
    assert len(probs) == 16 and probs[0] == 0 and probs[-1] == pytest.approx(0.2 * 15 / 16)
    drop = StochasticDepth(0.5)
    x = torch.ones(1000, 1, 1, 1)
    assert torch.equal(drop.eval()(x), x)
    kept = drop.train()(x).flatten()
    assert set(kept.tolist()) == {0.0, 2.0} and 400 < (kept == 0).sum() < 600
