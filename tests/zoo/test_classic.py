"""The classic families (lenet, alexnet, vgg, allconv, fastai) against independent oracles.

Parameter counts and MACs are taken on the meta device: the module structure is the real one but
no weights are allocated, so the 130M-parameter VGGs cost nothing there. Each VGG is built with
real weights exactly once, for its real forward.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from convscope import zoo
from convscope.errors import UsageError

CLASSIC = [
    "lenet5", "alexnet", "all_cnn_c", "simple_cnn", "broken_cnn",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
]  # fmt: skip


def build_meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return zoo.create(name, **kwargs)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(name: str) -> int:
    """Conv and matmul multiply-accumulates at the default input, bias excluded."""
    model = build_meta(name)
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *zoo.info(name).input_size, device="meta"))
    return counter.get_total_flops() // 2  # FlopCounterMode counts one MAC as two FLOPs


def test_all_classic_models_are_registered():
    assert set(CLASSIC) <= set(zoo.names())
    assert zoo.names("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


@pytest.mark.parametrize(
    "name, params",
    [
        # conv 1*6*25+6 = 156, conv 6*16*25+16 = 2,416, fc 400*120+120 = 48,120,
        # fc 120*84+84 = 10,164, fc 84*10+10 = 850; total 61,706 (LeCun et al. 1998: 60k)
        ("lenet5", 61_706),
        # convs 23,296 + 307,392 + 663,936 + 884,992 + 590,080 = 2,469,696;
        # fc 9216*4096+4096 + 4096*4096+4096 + 4096*1000+1000 = 58,631,144
        ("alexnet", 61_100_840),
        # 3x3 convs: 3*96*9+96 = 2,688, 96*96*9+96 = 83,040 (x2), 96*192*9+192 = 166,080,
        # 192*192*9+192 = 331,968 (x3); 1x1 convs: 192*192+192 = 37,056, 192*10+10 = 1,930.
        # Total 1,369,738; the paper reports "1.3 M"
        ("all_cnn_c", 1_369_738),
        # convs 1*4*9+4 = 40, 4*8*9+8 = 296, 8*16*9+16 = 1,168, 16*32*9+32 = 4,640, 32*2*9+2 = 578
        ("simple_cnn", 6_722),
        # 1*30*9+30 = 300, 30*1*9+1 = 271
        ("broken_cnn", 571),
        # torchvision's published counts; each _bn adds 2 (scale, shift) per conv channel,
        # e.g. vgg11: 2*(64+128+2*256+4*512) = 5,504
        ("vgg11", 132_863_336),
        ("vgg11_bn", 132_868_840),
        ("vgg13", 133_047_848),
        ("vgg13_bn", 133_053_736),
        ("vgg16", 138_357_544),
        ("vgg16_bn", 138_365_992),
        ("vgg19", 143_667_240),
        ("vgg19_bn", 143_678_248),
    ],
)
def test_parameter_count(name, params):
    assert count_params(build_meta(name)) == params


def test_macs_lenet5():
    # conv1 28*28 * 6 * 1*5*5 = 117,600; conv2 10*10 * 16 * 6*5*5 = 240,000;
    # fc 400*120 + 120*84 + 84*10 = 58,920
    assert count_macs("lenet5") == 416_520


def test_macs_alexnet_matches_published_figure():
    assert round(count_macs("alexnet") / 1e9, 3) == 0.714


def test_macs_vgg16_matches_published_figure():
    assert round(count_macs("vgg16") / 1e9, 2) == 15.47


def test_macs_bn_variants_add_no_conv_or_matmul_work():
    assert count_macs("vgg11_bn") == count_macs("vgg11")


def test_macs_all_cnn_c():
    # out H*W * C_out * k*k*C_in per conv:
    # 32*32*96*27 = 2,654,208; 32*32*96*864 = 84,934,656; 16*16*96*864 = 21,233,664;
    # 16*16*192*864 = 42,467,328; 16*16*192*1728 = 84,934,656; 8*8*192*1728 = 21,233,664;
    # 6*6*192*1728 = 11,943,936; 6*6*192*192 = 1,327,104; 6*6*10*192 = 69,120
    assert count_macs("all_cnn_c") == 270_798_336


def test_macs_fastai():
    # 14*14*4*9 + 7*7*8*36 + 4*4*16*72 + 2*2*32*144 + 1*1*2*288
    assert count_macs("simple_cnn") == 58_608
    # two 28*28 maps of 30*1*9 and 1*30*9
    assert count_macs("broken_cnn") == 423_360


@pytest.mark.parametrize(
    "name, batch_size, output_shape",
    [
        ("lenet5", 2, (2, 10)),
        ("alexnet", 2, (2, 1000)),
        ("all_cnn_c", 2, (2, 10)),
        ("simple_cnn", 64, (64, 2)),
        ("broken_cnn", 64, (64, 1, 28, 28)),
    ],
)
def test_forward_at_default_input(name, batch_size, output_shape):
    model = zoo.create(name).eval()
    with torch.no_grad():
        out = model(torch.randn(batch_size, *zoo.info(name).input_size))
    assert tuple(out.shape) == output_shape


@pytest.mark.parametrize("name", [n for n in CLASSIC if n.startswith("vgg")])
def test_vgg_forward_and_torchvision_init(name):
    # Each VGG is built for real only here (~2 s each for 130M+ weights), so the init is checked
    # on the same build. The forward runs at 32x32 instead of 224x224 to keep CI fast: the
    # adaptive 7x7 pool still feeds the classifier its 512*7*7 features.
    model = zoo.create(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 1000)
    assert torch.isfinite(out).all()
    # Kaiming normal, fan_out mode: std = sqrt(2 / (64 * 3 * 3)) = 0.0589 over 1,728 draws
    first_conv = model.features[0].weight
    assert first_conv.std().item() == pytest.approx(0.0589, rel=0.1)
    # N(0, 0.01) over 25088 * 4096 draws
    assert model.classifier[0].weight.std().item() == pytest.approx(0.01, rel=0.01)
    assert all(not m.bias.any() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize(
    "name, depth", [("vgg11", 11), ("vgg13", 13), ("vgg16", 16), ("vgg19", 19)]
)
def test_vgg_depth_and_torchvision_names(name, depth):
    plain, bn = build_meta(name), build_meta(f"{name}_bn")
    weight_layers = [m for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weight_layers) == depth
    assert isinstance(plain.features[1], nn.ReLU)
    assert isinstance(bn.features[1], nn.BatchNorm2d)
    assert isinstance(bn.classifier[6], nn.Linear)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == depth - 3


def test_simple_cnn_halves_the_map_down_to_one_pixel():
    model = zoo.create("simple_cnn")
    x = torch.randn(64, 1, 28, 28)
    sizes = [tuple(model[: i + 1](x).shape[-2:]) for i in range(5)]
    assert sizes == [(14, 14), (7, 7), (4, 4), (2, 2), (1, 1)]


@pytest.mark.parametrize(
    "name, first_weight, last_layer",
    [
        ("lenet5", "features.0.weight", "classifier.4"),
        ("alexnet", "features.0.weight", "classifier.6"),
        ("vgg16", "features.0.weight", "classifier.6"),
        ("vgg16_bn", "features.0.weight", "classifier.6"),
        ("all_cnn_c", "features.1.weight", "features.19"),
        ("simple_cnn", "0.0.weight", "4"),
    ],
)
def test_num_classes_and_in_channels_change_only_first_and_last_layers(
    name, first_weight, last_layer
):
    default = dict(build_meta(name).named_parameters())
    custom = dict(build_meta(name, num_classes=7, in_channels=5).named_parameters())
    changed = {k for k in default if default[k].shape != custom[k].shape}
    assert changed == {first_weight, f"{last_layer}.weight", f"{last_layer}.bias"}
    assert custom[first_weight].shape[1] == 5
    assert custom[f"{last_layer}.weight"].shape[0] == 7
    assert custom[f"{last_layer}.bias"].shape == (7,)


def test_broken_cnn_takes_in_channels_only():
    model = zoo.create("broken_cnn", in_channels=3)
    assert tuple(model(torch.randn(2, 3, 28, 28)).shape) == (2, 1, 28, 28)
    with pytest.raises(UsageError, match="num_classes"):
        zoo.create("broken_cnn", num_classes=10)


@pytest.mark.parametrize("name", ["lenet5", "all_cnn_c", "simple_cnn"])
def test_one_sgd_step_lowers_the_loss_on_its_batch(name):
    torch.manual_seed(0)
    model = zoo.create(name, num_classes=4, in_channels=2).eval()  # eval: dropout off
    inputs = torch.randn(8, 2, *zoo.info(name).input_size[1:])
    labels = torch.randint(0, 4, (8,))
    # small enough to be a descent step for every seed in 0..29, large enough to show
    optimizer = torch.optim.SGD(model.parameters(), lr=0.003)

    loss_before = nn.functional.cross_entropy(model(inputs), labels)
    loss_before.backward()
    optimizer.step()
    with torch.no_grad():
        loss_after = nn.functional.cross_entropy(model(inputs), labels)
    assert loss_after < loss_before
