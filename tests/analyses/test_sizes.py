"""`sizes`: the smallest input that runs, and the sizes no stride drops pixels of."""
from __future__ import annotations

import torch
from torch import nn

from convscope import zoo
from convscope.analyses.sizes import dropped
from convscope.probe import attempt, size_report, smallest_input
from convscope.trace.inputs import make_spec


def meta(name):
    with torch.device("meta"):
        return zoo.create(name)


def test_smallest_input_of_the_notes_networks():
    # five 2x2/2 pools: 32 -> 1; below 32 the last pool has nothing left
    assert smallest_input(meta("vgg11"), make_spec((3, 224, 224))) == (3, 32, 32)
    # LeNet's first Linear wants 16·5·5: 32 -conv5-> 28 -pool-> 14 -conv5-> 10 -pool-> 5
    assert smallest_input(zoo.create("lenet5"), make_spec((1, 32, 32))) == (1, 32, 32)
    # padded stride-2 convs never collapse: ⌊(H + 2 − 3) / 2⌋ + 1 >= 1
    assert smallest_input(zoo.create("simple_cnn"), make_spec((1, 28, 28))) == (1, 1, 1)
    # channels do not depend on the size: nothing to search
    assert smallest_input(nn.Sequential(nn.Conv2d(3, 4, 3)), make_spec((1, 8, 8))) is None


def test_vgg_sizes_are_multiples_of_32_and_each_listed_size_is_checked_by_a_trace():
    model = meta("vgg11")
    report = size_report(model, make_spec((3, 224, 224)))
    assert report.smallest == (3, 32, 32) and report.largest is None and report.period == 32
    assert report.rule == "multiples of 32"
    assert report.clean[:8] == (32, 64, 96, 128, 160, 192, 224, 256)
    # the period is extrapolated; check two periods size by size with PyTorch
    truth = tuple(s for s in range(32, 96) if dropped(attempt(model, make_spec((3, s, s)))) == ())
    assert truth == tuple(s for s in report.clean if s < 96) == (32, 64)
    assert report.drops_given == ()


def test_a_size_that_drops_pixels_names_the_layer_and_the_remainder():
    drops = dropped(attempt(meta("vgg16"), make_spec((3, 100, 100))))
    # 100 -> 50 -> 25, and the third pool sees 25 rows: 25 − 2 = 23 is odd, the last row is lost
    assert [d.layer for d in drops] == ["features.16", "features.16"]
    assert drops[0].text() == ("features.16 (MaxPool2d) never looks at the last 1 row of its "
                               "25-height input: 25 + 2·0 − 1·(2−1) − 1 = 23 is not divisible by 2")
    assert drops[1].axis == "width"


def test_lenet_runs_on_32_to_35_and_only_32_drops_nothing():
    report = size_report(zoo.create("lenet5"), make_spec((1, 28, 28)))
    assert report.smallest == (1, 32, 32) and report.largest == 35
    assert report.clean == (32,) and report.rule == "only 32"
    assert not report.given_runs


def test_resnet_padding_absorbs_every_remainder_and_1x1_downsamples_are_set_aside():
    report = size_report(meta("resnet18"), make_spec((3, 224, 224)))
    assert report.smallest == (3, 1, 1) and report.rule == "every size from 1"
    skipping = [s.layer for s in report.strided if s.skips]
    assert skipping == ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]


def test_a_limit_below_the_smallest_size_or_beyond_listing_is_a_usage_error():
    import pytest

    from convscope.errors import UsageError

    model, spec = zoo.create("lenet5"), make_spec((1, 32, 32))
    for limit in (1, 10, 31):  # lenet5 runs from 32: there is nothing to list up to these
        with pytest.raises(UsageError, match="below the smallest input that runs, 1x32x32: "
                                             "give --max 32 or more"):
            size_report(model, spec, limit=limit)
    with pytest.raises(UsageError, match="give --max 65536 or less"):
        size_report(model, spec, limit=10**8)
    assert size_report(model, spec, limit=32).largest is None  # up to 32: all of it runs
