"""Feature maps: a real forward's intermediate output, one panel per channel."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from convscope.errors import UsageError
from convscope.show import feature_maps, feature_mosaic
from convscope.show.draw import draw_features
from convscope.show.mosaic import tile_origin
from tests.show.helpers import assert_untouched_by, block_centre, read_png, rgb255


def small_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 5, 3, stride=2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(5 * 7 * 7, 4))


def test_feature_maps_equal_the_sub_sequence_run_by_hand_in_eval_mode():
    model = small_net().train()
    model[1].running_mean.fill_(0.3)  # eval mode reads these; train mode would not
    image = torch.randn(3, 16, 16)
    with torch.no_grad():
        expected = model.eval()[:3](image[None])[0]
        deeper = model[:5](image[None])[0]
    model.train()
    assert torch.allclose(feature_maps(model, "2", image), expected)
    assert feature_maps(model, "4", image).shape == (5, 7, 7)
    assert torch.allclose(feature_maps(model, "4", image), deeper)
    assert_untouched_by(model, lambda: feature_maps(model, "1", image))


def test_feature_maps_teach_about_unknown_and_flat_layers():
    model, image = small_net(), torch.randn(3, 16, 16)
    with pytest.raises(UsageError, match=r"no layer named '3\.0'.*Did you mean: 3"):
        feature_maps(model, "3.0", image)
    with pytest.raises(UsageError, match=r"\[N, C, H, W\] map; 6 gives \[1, 4\]"):
        feature_maps(model, "6", image)


def test_feature_mosaic_stretches_each_channel_and_leaves_nan_gaps():
    maps = torch.randn(6, 5, 5) * torch.arange(1, 7)[:, None, None]  # very different ranges
    picture = feature_mosaic(maps)
    assert picture.shape == (2 * 6 + 1, 3 * 6 + 1)  # 6 panels: 2 rows x 3 columns of 5+1 px
    assert int(picture.isnan().sum()) == picture.numel() - 6 * 25
    for k in range(6):
        top, left = tile_origin(k, 6, (5, 5))
        panel = picture[top:top + 5, left:left + 5]
        low, high = maps[k].min(), maps[k].max()
        assert torch.allclose(panel, (maps[k] - low) / (high - low))


@pytest.mark.parametrize("channels", [4, 6, 10])
def test_features_png_has_one_panel_per_channel(tmp_path, channels):
    maps = torch.randn(channels, 4, 4)
    picture = feature_mosaic(maps)
    png = read_png(draw_features(picture, tmp_path / "f.png", scale=8))
    columns = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / columns)
    assert png.shape[:2] == ((rows * 5 + 1) * 8, (columns * 5 + 1) * 8)
    viridis = matplotlib.colormaps["viridis"]
    for k in range(rows * columns):
        top, left = tile_origin(k, channels, (4, 4))
        for i, j in [(0, 0), (3, 3), (1, 2)]:
            got = block_centre(png, top + i, left + j, 8, title=False).astype(int)
            want = rgb255(viridis(float(picture[top + i, left + j]))) if k < channels else (
                np.array([255, 255, 255]))  # an empty cell is blank
            assert np.abs(got - want).max() <= 1, (k, i, j)
