"""Training curves: the plotted lines are the history's values, epoch by epoch."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convscope.errors import UsageError
from convscope.show import curves
from convscope.show.draw import DPI, curves_figure, draw_curves
from tests.show.helpers import read_png

HISTORY = [
    {"epoch": 1, "train_loss": 2.1, "train_accuracy": 0.31, "val_loss": 1.9,
     "val_accuracy": 0.42, "lr": 0.1, "seconds": 1.5, "samples_per_s": 950.0},
    {"epoch": 2, "train_loss": 1.2, "train_accuracy": 0.64, "val_loss": 1.1,
     "val_accuracy": 0.70, "lr": 0.05, "seconds": 1.4, "samples_per_s": 990.0},
    {"epoch": 3, "train_loss": 0.7, "train_accuracy": 0.81, "val_loss": 0.9,
     "val_accuracy": 0.77, "lr": 0.01, "seconds": 1.4, "samples_per_s": 1000.0},
]


def test_curves_are_the_history_columns_per_panel():
    series = curves(HISTORY)
    assert series.epochs == [1, 2, 3]
    assert list(series.panels) == ["loss", "accuracy", "learning rate"]
    assert series.panels["loss"] == {"train": [2.1, 1.2, 0.7], "validation": [1.9, 1.1, 0.9]}
    assert series.panels["accuracy"] == {"train": [0.31, 0.64, 0.81],
                                         "validation": [0.42, 0.70, 0.77]}
    assert series.panels["learning rate"] == {"lr": [0.1, 0.05, 0.01]}


def test_a_missing_value_is_a_gap_and_a_missing_column_no_line():
    history = [{k: v for k, v in row.items() if not k.startswith("val")} for row in HISTORY]
    history[1].pop("lr")
    series = curves(history)
    assert series.panels["loss"] == {"train": [2.1, 1.2, 0.7]}
    lr = series.panels["learning rate"]["lr"]
    assert lr[0] == 0.1 and math.isnan(lr[1]) and lr[2] == 0.01
    with pytest.raises(UsageError, match="no history"):
        curves([])


def test_the_figure_plots_exactly_those_series(tmp_path):
    series = curves(HISTORY)
    fig = curves_figure(series, title="digits")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "learning rate"]
    for ax, (panel, lines) in zip(axes, series.panels.items()):
        assert [line.get_label() for line in ax.get_lines()] == list(lines)
        for line, values in zip(ax.get_lines(), lines.values()):
            assert list(line.get_xdata()) == [1, 2, 3]
            assert list(line.get_ydata()) == values
    assert axes[1].yaxis.get_major_formatter()(0.5, 0) == "50%"
    png = read_png(draw_curves(series, tmp_path / "curves.png"))
    assert png.shape[:2] == (round(3.4 * DPI), round(3 * 4.2 * DPI))
    assert len(np.unique(png.reshape(-1, 4), axis=0)) > 10  # lines and text, not a blank page
