"""First-layer filters: the grid of normalised weights, and its PNG pixel for pixel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convscope.errors import UsageError
from convscope.show import filter_grid, first_conv, normalised_filters
from convscope.show.draw import TITLE_PX, draw_filters
from convscope.show.mosaic import tile_origin
from tests.show.helpers import block_centre, read_png, rgb255


def stretched(weight: torch.Tensor) -> torch.Tensor:
    """Each output channel min-max to [0, 1] over all its inputs, by hand."""
    low = weight.flatten(1).min(1).values[:, None, None, None]
    high = weight.flatten(1).max(1).values[:, None, None, None]
    return (weight - low) / (high - low)


def test_first_conv_is_the_first_conv2d_the_model_defines():
    model = nn.Sequential(nn.Identity(), nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()),
                          nn.Conv2d(8, 4, 1))
    name, conv = first_conv(model)
    assert name == "1.0" and conv is model[1][0]
    with pytest.raises(UsageError, match="no nn.Conv2d"):
        first_conv(nn.Sequential(nn.Linear(2, 2)))


def test_eight_colour_filters_3x3_make_a_13x13_grid_of_their_normalised_weights():
    weight = torch.randn(8, 3, 3, 3)
    grid = filter_grid(weight)
    # 8 tiles: 3 columns (ceil sqrt 8) x 3 rows, 3 px each plus 1-px gaps: 3*(3+1)+1 = 13
    assert grid.shape == (13, 13, 3)
    expected = stretched(weight).permute(0, 2, 3, 1)  # [O, kh, kw, RGB]
    for k in range(8):
        top, left = tile_origin(k, 8, (3, 3))
        assert (top, left) == (1 + 4 * (k // 3), 1 + 4 * (k % 3))
        assert torch.allclose(grid[top:top + 3, left:left + 3], expected[k])
        assert grid[top:top + 3, left:left + 3].min() == 0
        assert grid[top:top + 3, left:left + 3].max() == 1
    assert (grid[0] == 1).all() and (grid[:, 4] == 1).all()  # white gaps
    assert (grid[9:, 9:] == 1).all()  # the ninth cell is empty


def test_grey_inputs_give_one_tile_per_input_channel_normalised_per_filter():
    weight = torch.randn(4, 2, 5, 5)
    tiles = normalised_filters(weight)
    assert tiles.shape == (8, 5, 5, 3)
    expected = stretched(weight)
    for o in range(4):
        for i in range(2):
            tile = tiles[o * 2 + i]
            assert torch.equal(tile[..., 0], tile[..., 2])  # grey
            assert torch.allclose(tile[..., 0], expected[o, i])


def test_filters_png_has_one_scale_block_per_grid_pixel_in_the_weights_colours(tmp_path):
    weight = torch.randn(8, 3, 3, 3)
    grid = filter_grid(weight)
    path = draw_filters(grid, tmp_path / "filters.png", title="conv1: 8 filters 3x3", scale=10)
    png = read_png(path)
    assert png.shape == (13 * 10 + TITLE_PX, 13 * 10, 4)
    for row in range(13):
        for column in range(13):
            got = block_centre(png, row, column, 10).astype(int)
            assert np.abs(got - rgb255(grid[row, column].numpy())).max() <= 1, (row, column)
