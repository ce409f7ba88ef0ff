"""`sizes`: the smallest input that runs, and the sizes no stride drops pixels of."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from convscope import zoo
from convscope.analyses.sizes import dropped
from convscope.probe import attempt, size_report, smallest_input
from convscope.render.explain import render_sizes
from convscope.trace.inputs import make_spec
from tests.conftest import runs_for_real


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
    from convscope.errors import UsageError

    model, spec = zoo.create("lenet5"), make_spec((1, 32, 32))
    for limit in (1, 10, 31):  # lenet5 runs from 32: there is nothing to list up to these
        with pytest.raises(UsageError, match="below the smallest input that runs, 1x32x32: "
                                             "give --max 32 or more"):
            size_report(model, spec, limit=limit)
    with pytest.raises(UsageError, match="give --max 65536 or less"):
        size_report(model, spec, limit=10**8)
    assert size_report(model, spec, limit=32).largest is None  # up to 32: all of it runs


def _space_to_depth():
    # YOLOv5's Focus layer as PixelUnshuffle: odd sides fail with a message about the shape
    # that no rule names as a size problem, and the pool after it steps 2 x 2 = 4 input pixels
    return nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 8, 3, padding=1), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3))


def _signal():
    # a 1-d pool runs as a 2-d one on an unsqueezed input; max_pool1d checks its size before
    # any op runs, so a collapse there has no failing op to classify
    return nn.Sequential(nn.Conv1d(2, 8, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool1d(3, 2),
                         nn.Conv1d(8, 8, 5, dilation=2), nn.AvgPool1d(2),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 4))


@pytest.mark.parametrize("build, given", [(_space_to_depth, (3, 32, 32)), (_signal, (2, 100))])
def test_the_smallest_input_is_found_past_failures_no_rule_names(build, given):
    # sizes once stopped at the first unrecognised failure (side 1) and said "no input size up
    # to 4096 runs", about models that run at the very input given
    model = build().eval()
    smallest = smallest_input(model, make_spec(given))
    truth = next(s for s in range(1, 200)
                 if runs_for_real(model, (given[0],) + (s,) * (len(given) - 1)))
    assert smallest == (given[0],) + (truth,) * (len(given) - 1)
    assert size_report(model, make_spec(given)).smallest == smallest


def test_a_model_that_runs_at_odd_sides_only_is_found_from_the_input_given():
    # a 2x2 conv leaves side - 1, which PixelUnshuffle(2) needs even: no power of two runs,
    # so the doubling search alone said "no input size up to 4096 runs" about 3x33x33
    model = nn.Sequential(nn.Conv2d(3, 8, 2), nn.PixelUnshuffle(2)).eval()
    report = size_report(model, make_spec((3, 33, 33)))
    truth = [s for s in range(1, 40) if runs_for_real(model, (3, s, s))]
    assert report.smallest == (3, truth[0], truth[0]) and truth[:3] == [3, 5, 7]


class _Focus(nn.Module):
    """YOLOv5's Focus as strided slices: cat needs the four of the same size, so odd sides fail."""

    def forward(self, x):
        return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2],
                          x[..., 1::2, 1::2]], 1)


@pytest.mark.parametrize("build, given, period", [
    (_space_to_depth, (3, 32, 32), 4),  # unshuffle 2 x pool 2
    # with no window after it, an unshuffle (or Focus's slices) once did not count: the period
    # was the pool's 2, and 6, 10, 14, ... were listed though the unshuffle fails on their odd
    # 3, 5, 7; pool 2 x unshuffle 2 = 4
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.PixelUnshuffle(2)),
     (3, 32, 32), 4),
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), _Focus()),
     (3, 32, 32), 4),
    (_signal, (2, 100), 8),  # conv 2 x pool 2 x avg pool 2
    # at its smallest side (1) every map is 1x1 and every field global: the period is read at
    # the given input too (conv 2 x pool 2 x conv 2 x conv 2)
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3), nn.MaxPool2d(3, 2, 1),
                           nn.Conv2d(8, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1)), (3, 64, 64), 16),
])
def test_the_period_counts_every_stride_and_the_listed_sizes_match_size_by_size_traces(
        build, given, period):
    # the period once followed explain's simpler fields, which lost the stride of a
    # PixelUnshuffle and of a 1-d pool (run as a 2-d one): the repeated pattern then listed
    # sizes that drop pixels (14 for the unshuffle, 43 for the 1-d net)
    model = build().eval()
    report = size_report(model, make_spec(given))
    assert report.period == period
    side, top = report.smallest[1], report.limit

    def shape(s):
        return (given[0],) + (s,) * (len(given) - 1)

    truth = tuple(s for s in range(side, top + 1) if runs_for_real(model, shape(s))
                  and dropped(attempt(model, make_spec(shape(s)))) == ())
    assert report.clean == truth


class _AddsHalves(nn.Module):
    """Adds the even pixels of a pooled map to its odd ones: on a 1- or 3-pixel map one of the
    two is 1 pixel and broadcasts, so sides 2-7 run, but a 5-pixel map (10, 11) fails."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool(self.conv(x))
        return x[..., ::2, ::2] + x[..., 1::2, 1::2]


def test_sizes_a_broadcast_lets_run_are_not_taken_for_the_pattern():
    # the pattern was read from sides 2-5, which all run: "every size up to 64 runs" and
    # 10, 14, 18, ... were listed as clean, though every pooled map of odd side 5 or more fails
    model = _AddsHalves().eval()
    report = size_report(model, make_spec((3, 32, 32)))
    truth = tuple(s for s in range(2, 65) if runs_for_real(model, (3, s, s))
                  and dropped(attempt(model, make_spec((3, s, s)))) == ())
    assert report.clean == truth
    assert truth[:6] == (2, 4, 6, 8, 12, 16) and report.gaps
    assert report.rule == "2, 4, 6, then multiples of 4"
    assert "no size up to 64 is too large, though some do not run" in render_sizes(report, "m")


def _real_unseen(model, length):
    """(layer, input length, positions at the end no window reaches that are input) of every
    conv and pool of a real forward at ``length``, windows that skip by design left out."""
    found, handles = [], []

    def hook(name, m):
        def record(module, args, output):
            k, s, p, d = (m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1))
            k, s, p, d = (v[0] if isinstance(v, tuple) else v for v in (k, s, p, d))
            size, out = args[0].shape[-1], output.shape[-1]
            # the last window ends at (out − 1)·s + d(k − 1) + 1 of the padded input
            unseen = size + 2 * p - ((out - 1) * s + d * (k - 1) + 1)
            if d * (k - 1) + 1 >= s:
                found.append((name, size, max(0, unseen - p)))
        return record

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)):
            handles.append(m.register_forward_hook(hook(name, m)))
    try:
        runs = runs_for_real(model, (2, length))
    finally:
        for h in handles:
            h.remove()
    return found if runs else None


def test_a_1d_network_is_described_in_lengths_positions_and_single_strides():
    # a 1-d pool runs as a 2-d one on a height of 1: sizes once reported its drops as columns of
    # a width, its stride as 1x2, its inputs as squares and the largest input as 2x23x23
    model = _signal().eval()
    for length in range(41, 120):
        real = _real_unseen(model, length)
        drops = dropped(attempt(model, make_spec((2, length))))
        assert [(d.layer, d.size, d.rows) for d in drops] == [r for r in real if r[2]]
        for d in drops:
            assert d.axis == "length" and f"position{'s' * (d.rows != 1)} of its " \
                f"{d.size}-length input" in d.text()
    report = size_report(model, make_spec((2, 100)))
    assert [(s.layer, s.stride) for s in report.strided] == [("0", (2,)), ("2", (2,)), ("4", (2,))]
    text = render_sizes(report, "signal")
    assert text.startswith("signal: input 2xL\n") and "square" not in text
    assert "the pattern repeats every 8 positions" in text and "column" not in text
    # the line about a given input that drops nothing once said pixels (98 = 42 + 7·8 is clean)
    assert "pixel" not in text
    clean = render_sizes(size_report(model, make_spec((2, 98))), "signal")
    assert clean.endswith("at 2x98: no layer drops positions\n") and "pixel" not in clean
    # a Linear after the flatten fixes the length: 22 and 23 -conv3-> 20, 21 -pool2-> 10
    fixed = nn.Sequential(nn.Conv1d(2, 4, 3), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(40, 3))
    runs = [n for n in range(1, 60) if runs_for_real(fixed, (2, n))]
    report = size_report(fixed, make_spec((2, 22)))
    assert (report.smallest, report.largest) == ((2, runs[0]), runs[-1]) == ((2, 22), 23)
    assert "largest input that runs: 2x23\n" in render_sizes(report, "fixed")


@pytest.mark.parametrize("build, given", [
    (_space_to_depth, (3, 32, 32)),  # runs at even sides from 12: no side is too large
    # the unshuffle fails on odd sides, the Linear wants 4·5·5: runs at 20 and 22 only
    (lambda: nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 4, 3, padding=1), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(4 * 5 * 5, 3)), (3, 20, 20)),
    (lambda: zoo.create("lenet5"), (1, 32, 32)),  # runs from 32 to 35
])
def test_the_largest_input_is_the_largest_side_that_runs_for_every_max(build, given):
    # the search for the largest once read every failure no rule names as "too large": with
    # --max 33, an unshuffle failing on 33 said the largest input was 24, though 32 runs
    model = build().eval()
    runs = [s for s in range(1, 80) if runs_for_real(model, (given[0], s, s))]
    for limit in range(runs[0], 56):
        report = size_report(model, make_spec(given), limit=limit)
        below = [s for s in runs if s <= limit]
        text = render_sizes(report, "net")
        if report.largest is None:  # no size up to the limit is too large: a larger one runs
            assert limit in runs or any(s > limit for s in runs)
            assert report.gaps == (below != list(range(runs[0], limit + 1)))
            assert ("though some do not run" in text) == report.gaps
        else:
            assert report.largest == below[-1] and not any(s > limit for s in runs)
            assert f"largest input that runs: {given[0]}x{below[-1]}x{below[-1]}\n" in text


@pytest.mark.parametrize("build, rule", [
    # a transposed conv, or a padded conv, grows a 1x1 map: no broadcast, and the pattern
    # holds from the smallest side (they read "1, 2, ..., 8, then every size from 9" and
    # "3, then every 2 from 5")
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1),
                           nn.ConvTranspose2d(8, 8, 2, 2), nn.ConvTranspose2d(8, 3, 2, 2)),
     "every size from 1"),
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, 2), nn.Conv2d(8, 8, 3, 1, padding=2)),
     "every 2 from 3"),
])
def test_a_layer_that_grows_a_1x1_map_is_no_broadcast(build, rule):
    model = build().eval()
    report = size_report(model, make_spec((3, 64, 64)))
    assert report.rule == rule and report.periodic_from == report.smallest[1]
    top = report.limit
    truth = tuple(s for s in range(report.smallest[1], top + 1)
                  if runs_for_real(model, (3, s, s))
                  and dropped(attempt(model, make_spec((3, s, s)))) == ())
    assert report.clean == truth


class _TwoViews(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x, y):
        return self.conv(x) + self.conv(y)


def test_inputs_shaped_like_the_first_follow_it():
    # only the first input grew: "largest input that runs: 3x4x4" for a model that runs at any
    # size, and "no size up to 4 passes", each drop listed twice
    report = size_report(_TwoViews(), make_spec([(3, 16, 16), (3, 16, 16)]))
    assert (report.smallest, report.largest, report.limit) == ((3, 3, 3), None, 32)
    assert report.clean[:4] == (3, 5, 7, 9)
    model = _TwoViews()
    for side in (report.smallest[1], *report.clean[:3], 32):
        x = torch.zeros(1, 3, side, side)
        assert model(x, x).shape[2] == (side - 3) // 2 + 1
    text = render_sizes(report, "TwoViews")
    assert "strided layers: conv (stride 2x2); the pattern repeats every 2 pixels" in text
    assert text.count("never looks at the last 1 row") == 1


def test_a_model_no_square_fits_says_so_and_reads_the_input_given():
    # "no input size up to 4096 runs" about a model that runs at the 1x29x9 it was given
    rect = nn.Sequential(nn.Conv2d(1, 2, (5, 1), stride=(4, 1)), nn.Flatten(),
                         nn.Linear(2 * 7 * 9, 3))
    report = size_report(rect, make_spec((1, 29, 9)))
    assert report.smallest is None and report.given_runs
    assert render_sizes(report, "rect").splitlines()[1:] == [
        "no square input up to 4096 runs, but 1x29x9 does: the sizes that run are not square, "
        "and this command scans square ones only", "at 1x29x9: no layer drops pixels"]
