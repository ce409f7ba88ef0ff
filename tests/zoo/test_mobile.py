"""MobileNet V1 and V2 against the papers' and the authors' released figures.

MACs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts 2 FLOPs per
multiply-accumulate of convolutions and matmuls (bias excluded), so MACs = total / 2. Models are
built on the meta device for counting: only shapes matter, nothing is computed.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convscope import zoo
from convscope.errors import UsageError
from convscope.zoo.mobilenet import make_divisible, mobilenet_v1_input_size
from tests.zoo.helpers import macs, params


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


# ---- MobileNetV1 -------------------------------------------------------------------------------

def test_mobilenet_v1_has_the_reference_parameter_count():
    # conv weights + BN weights and biases + fc weight and bias, no conv bias (Keras' trainable)
    assert params(zoo.create("mobilenet_v1")) == 4_231_976


# Table 6 of the paper, 224x224 input: alpha -> (million mult-adds, million parameters).
PAPER_TABLE_6 = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}


@pytest.mark.parametrize("alpha", PAPER_TABLE_6)
def test_mobilenet_v1_width_multiplier_matches_paper_table_6(alpha):
    paper_macs, paper_params = PAPER_TABLE_6[alpha]
    assert round(macs("mobilenet_v1", alpha=alpha) / 1e6) == paper_macs
    assert round(params(zoo.create("mobilenet_v1", alpha=alpha)) / 1e6, 1) == paper_params


# Table 7 of the paper (alpha 1.0): side -> (rho, million mult-adds). Its rows match the 224 count
# scaled by (side/224)^2, which also shrinks the fc although its cost does not depend on the input:
# 568.7M * (160/224)^2 = 290.2M reads 290 where the exact count is 290.7M. The authors' released
# table (tensorflow/models, research/slim/nets/mobilenet_v1.md) lists the exact counts.
PAPER_TABLE_7 = {224: (1.0, 569), 192: (0.857, 418), 160: (0.714, 290), 128: (0.571, 186)}
RELEASED_V1_MACS = {224: 569, 192: 418, 160: 291, 128: 186}


@pytest.mark.parametrize("side", PAPER_TABLE_7)
def test_mobilenet_v1_resolution_multiplier_matches_paper_table_7(side):
    rho, paper_macs = PAPER_TABLE_7[side]
    name = "mobilenet_v1" if side == 224 else f"mobilenet_v1_{side}"
    assert mobilenet_v1_input_size(rho) == (3, side, side)
    assert zoo.info(name).input_size == (3, side, side)
    measured = macs(name) / 1e6
    assert round(measured) == RELEASED_V1_MACS[side]
    assert abs(measured - paper_macs) < 1
    assert params(zoo.create(name)) == 4_231_976


def test_mobilenet_v1_alpha_thins_every_layer_and_keeps_the_depth():
    full, half = zoo.create("mobilenet_v1"), zoo.create("mobilenet_v1", alpha=0.5)
    assert len(convs(full)) == len(convs(half)) == 27
    for wide, thin in zip(convs(full), convs(half)):
        assert thin.out_channels * 2 == wide.out_channels
        assert thin.groups in (1, thin.in_channels)
    assert half.classifier.in_features == 512


def test_mobilenet_v1_uses_depthwise_then_pointwise_and_stride_32():
    model = zoo.create("mobilenet_v1")
    layers = convs(model)
    depthwise = [c for c in layers if c.groups > 1]
    assert len(depthwise) == 13 and all(c.groups == c.in_channels for c in depthwise)
    assert [c.stride[0] for c in layers].count(2) == 5
    with torch.no_grad():
        features = model.eval().features(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, 1024, 7, 7)


@pytest.mark.parametrize("rho", [0, -0.5, 1.2])
def test_mobilenet_v1_input_size_rejects_rho_outside_0_1(rho):
    with pytest.raises(UsageError, match="rho"):
        mobilenet_v1_input_size(rho)


@pytest.mark.parametrize(
    ("name", "option"), [("mobilenet_v1", "alpha"), ("mobilenet_v2", "width_mult")]
)
def test_non_positive_multiplier_is_a_usage_error(name, option):
    with pytest.raises(UsageError, match=option):
        zoo.create(name, **{option: 0})


# ---- MobileNetV2 -------------------------------------------------------------------------------

def test_mobilenet_v2_matches_torchvision_counts():
    # torchvision: 3,504,872 params, 0.30 GFLOPS (its "GFLOPS" are MACs); paper: 300M mult-adds
    assert params(zoo.create("mobilenet_v2")) == 3_504_872
    assert round(macs("mobilenet_v2") / 1e9, 3) == 0.301


# The authors' released checkpoints (tensorflow/models, research/slim/nets/mobilenet/README.md):
# (width_mult, side) -> (million MACs, million params). Their MACs are truncated (300.77M reads 300,
# 0.75 at 192 gives 153.94M and reads 153) and their params leave out BatchNorm's weight and bias.
RELEASED_V2 = {
    (1.4, 224): (582, 6.06), (1.3, 224): (509, 5.34), (1.0, 224): (300, 3.47),
    (0.75, 224): (209, 2.61), (0.5, 224): (97, 1.95), (0.35, 224): (59, 1.66),
    (1.0, 192): (221, 3.47), (1.0, 160): (154, 3.47), (1.0, 128): (99, 3.47), (1.0, 96): (56, 3.47),
    (0.75, 192): (153, 2.61),
}


@pytest.mark.parametrize(("width_mult", "side"), RELEASED_V2)
def test_mobilenet_v2_width_and_resolution_match_released_table(width_mult, side):
    released_macs, released_params = RELEASED_V2[width_mult, side]
    assert int(macs("mobilenet_v2", (3, side, side), width_mult=width_mult) / 1e6) == released_macs
    model = zoo.create("mobilenet_v2", width_mult=width_mult)
    batch_norm = sum(params(m) for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert round((params(model) - batch_norm) / 1e6, 2) == released_params


def test_make_divisible_rounds_to_nearest_8_losing_at_most_10_percent():
    assert [make_divisible(v) for v in (32, 72, 11.2, 12, 3, 1792)] == [32, 72, 16, 16, 8, 1792]


@pytest.mark.parametrize(
    ("width_mult", "stem", "last"), [(0.35, 16, 1280), (1.0, 32, 1280), (1.4, 48, 1792)]
)
def test_mobilenet_v2_width_mult_rounds_channels_to_multiples_of_8(width_mult, stem, last):
    model = zoo.create("mobilenet_v2", width_mult=width_mult)
    assert model.features[0][0].out_channels == stem
    assert model.features[18][0].out_channels == last == model.classifier[1].in_features
    assert all(c.out_channels % 8 == 0 for c in convs(model))


def test_mobilenet_v2_uses_torchvision_module_names_and_residuals():
    model = zoo.create("mobilenet_v2")
    names = dict(model.named_modules())
    for name in ("features.0.0", "features.1.conv.0.0", "features.1.conv.1", "features.2.conv.0.0",
                 "features.17.conv.3", "features.18.0", "classifier.0", "classifier.1"):
        assert name in names
    assert len(model.features) == 19
    assert isinstance(names["classifier.0"], nn.Dropout) and names["classifier.0"].p == 0.2
    # one residual per repeated block: n - 1 per stage of Table 2 = 0+1+2+3+2+2+0
    assert sum(getattr(m, "use_residual", False) for m in model.modules()) == 10


# ---- both ----------------------------------------------------------------------------------------

ALL = ["mobilenet_v1", "mobilenet_v1_192", "mobilenet_v1_160", "mobilenet_v1_128", "mobilenet_v2"]


@pytest.mark.parametrize("name", ALL)
def test_forward_at_default_input_gives_one_logit_per_class(name):
    info = zoo.info(name)
    assert info.family == "mobilenet"
    assert "x".join(map(str, info.input_size)) in info.summary and "et al. 201" in info.summary
    model = zoo.create(name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *info.input_size)).shape == (2, 1000)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2"])
def test_num_classes_and_in_channels_change_only_first_conv_and_classifier(name):
    default = zoo.create(name).state_dict()
    custom = zoo.create(name, num_classes=10, in_channels=1).state_dict()
    assert default.keys() == custom.keys()
    changed = {k for k in default if default[k].shape != custom[k].shape}
    fc = "classifier" if name == "mobilenet_v1" else "classifier.1"
    assert changed == {"features.0.0.weight", f"{fc}.weight", f"{fc}.bias"}
    assert custom["features.0.0.weight"].shape[1] == 1
    assert custom[f"{fc}.weight"].shape[0] == 10


def test_initialisation_follows_torchvision():
    model = zoo.create("mobilenet_v2")
    head = model.classifier[1]
    assert head.bias.abs().sum() == 0 and 0.005 < head.weight.std() < 0.015
    stem = model.features[0][0]  # He normal, fan_out = 32 * 3 * 3 -> std sqrt(2 / 288)
    assert abs(stem.weight.std().item() - (2 / 288) ** 0.5) < 0.01
    assert all((m.weight == 1).all() and (m.bias == 0).all()
               for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize(
    ("name", "options"), [("mobilenet_v1", {"alpha": 0.25}), ("mobilenet_v2", {})]
)
def test_one_sgd_step_lowers_the_loss_on_a_fixed_batch(name, options):
    torch.manual_seed(0)
    model = zoo.create(name, num_classes=10, **options).train()
    images, labels = torch.randn(4, 3, 64, 64), torch.randint(0, 10, (4,))

    def loss() -> torch.Tensor:
        torch.manual_seed(1)  # the same dropout mask before and after the step
        return F.cross_entropy(model(images), labels)

    before = loss()
    before.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        for p in model.parameters():  # plain SGD; torch.optim's first import costs ~3 s
            p -= 0.1 * p.grad
        assert loss().item() < before.item()
