"""The effective receptive field: its heat lies inside the theoretical box, and fills it when
nothing can cancel; the box is the hand arithmetic u*S - P ... u*S - P + r - 1."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from convscope.errors import UsageError
from convscope.show import effective_field
from convscope.show.draw import draw_erf
from tests.show.helpers import assert_untouched_by, block_centre, conv_stack, read_png, rgb255


def nonzero_box(heat: torch.Tensor) -> tuple[int, int, int, int]:
    rows, columns = heat.nonzero().unbind(1)
    top, left = int(rows.min()), int(columns.min())
    return top, left, int(rows.max()) - top + 1, int(columns.max()) - left + 1


# (layers as (kernel, stride, padding), input, layer, unit, box), each box by hand:
CASES = [
    # three 3x3 convs, padding 1: r = 1 + 2 + 2 + 2 = 7, S 1, P 3; 15 -> 15, middle unit 7:
    # rows 7 - 3 = 4 .. 10
    ([(3, 1, 1)] * 3, (1, 15, 15), "2", (7, 7), (4, 4, 7, 7)),
    # no padding: 15 -> 13 -> 11 -> 9, middle unit 4, P 0: rows 4 .. 10 again
    ([(3, 1, 0)] * 3, (1, 15, 15), "2", (4, 4), (4, 4, 7, 7)),
    # 3x3 stride 2 pad 1, then 3x3 pad 1: r = 1 + 2 + 2*2 = 7, S 2, P = 1 + 1*2 = 3;
    # 16 -> 8 -> 8, middle unit 3: rows 3*2 - 3 = 3 .. 9
    ([(3, 2, 1), (3, 1, 1)], (1, 16, 16), "1", (3, 3), (3, 3, 7, 7)),
    # the first conv alone of that stack: r 3, S 2, P 1; 16 -> 8, unit 3: rows 5 .. 7
    ([(3, 2, 1), (3, 1, 1)], (1, 16, 16), "0", (3, 3), (5, 5, 3, 3)),
    # four 3x3 pad 1 on 8 x 12: r 9, P 4; unit (3, 5): rows -1 .. 7 clipped to 0 .. 7,
    # columns 1 .. 9
    ([(3, 1, 1)] * 4, (1, 8, 12), "3", (3, 5), (0, 1, 8, 9)),
]


@pytest.mark.parametrize("layers,size,layer,unit,box", CASES)
def test_positive_linear_stack_fills_exactly_its_theoretical_box(layers, size, layer, unit,
                                                                 box):
    model = conv_stack(*layers, positive=True)
    erf = effective_field(model, layer, size, samples=2)
    assert erf.unit == unit and erf.box == box and erf.layer == layer
    assert erf.heat.shape == size[1:]
    assert nonzero_box(erf.heat) == box
    assert bool((erf.heat[box[0]:box[0] + box[2], box[1]:box[1] + box[3]] > 0).all())
    assert erf.inside == pytest.approx(1.0)


@pytest.mark.parametrize("layers,size,layer,unit,box", CASES)
def test_random_relu_stack_stays_inside_its_theoretical_box(layers, size, layer, unit, box):
    torch.manual_seed(1)
    model = conv_stack(*layers, relu=True, channels=4)
    erf = effective_field(model, f"{int(layer) * 2 + 1}", size, samples=16)  # after the ReLU
    assert erf.box == box and erf.heat.sum() > 0
    top, left, height, width = nonzero_box(erf.heat)
    assert box[0] <= top and top + height <= box[0] + box[2]
    assert box[1] <= left and left + width <= box[1] + box[3]
    assert erf.inside == pytest.approx(1.0)


def test_the_heat_is_the_mean_absolute_input_gradient_of_the_middle_unit():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Conv2d(3, 2, 3))
    images = torch.randn(4, 2, 9, 9)
    erf = effective_field(model, "2", (2, 9, 9), images=images)
    total = torch.zeros(9, 9)
    for image in images:  # one unit, one image at a time: d(sum over channels)/d input
        x = image[None].clone().requires_grad_(True)
        model(x)[0, :, 2, 2].sum().backward()
        total += x.grad[0].abs().sum(0)
    assert erf.unit == (2, 2)
    assert torch.allclose(erf.heat, total / 4, atol=1e-6)


def test_effective_field_leaves_the_model_alone_and_teaches():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).train()
    model[0].bias.requires_grad_(False)
    assert_untouched_by(model, lambda: effective_field(model, "3", (1, 8, 8)))
    with pytest.raises(UsageError, match=r"\[N, C, H, W\] map; 5 gives \[8, 2\]"):
        effective_field(model, "5", (1, 8, 8))
    with pytest.raises(UsageError, match=r"no layer named '7'"):
        effective_field(model, "7", (1, 8, 8))
    with pytest.raises(UsageError, match="image input C x H x W, got 1x8"):
        effective_field(model, "3", (1, 8))


def test_erf_png_draws_the_box_round_the_heat_on_black(tmp_path):
    model = conv_stack((3, 1, 1), (3, 1, 1), (3, 1, 1), positive=True)
    erf = effective_field(model, "2", (1, 15, 15), samples=2)
    png = read_png(draw_erf(erf.heat, erf.box, tmp_path / "erf.png", scale=10))
    assert png.shape[:2] == (150, 150)
    magma = matplotlib.colormaps["magma"]
    peak = erf.heat / erf.heat.max()
    for row in range(15):
        for column in range(15):
            got = block_centre(png, row, column, 10, title=False).astype(int)
            assert np.abs(got - rgb255(magma(float(peak[row, column])))).max() <= 1
    assert np.abs(png[0, 0, :3].astype(int) - rgb255(magma(0.0))).max() <= 1  # black
    edge = png[4 * 10, 7 * 10 + 5, :3]  # on the box's top edge (row 4's top border)
    assert tuple(edge) == (0, 255, 255)  # cyan
