"""Training curves: a run's per-epoch history as the series to plot, one panel per quantity.

A history is the list of per-epoch dicts that ``convscope train`` writes (``history.json``):
epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds, samples_per_s, with
accuracies as fractions 0..1. A value an epoch lacks is NaN (a gap in the line).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError

# panel -> (line label, history key); a panel with no key in the history is left out
PANELS = {
    "loss": (("train", "train_loss"), ("validation", "val_loss")),
    "accuracy": (("train", "train_accuracy"), ("validation", "val_accuracy")),
    "learning rate": (("lr", "lr"),),
}


@dataclass(frozen=True)
class Curves:
    """``epochs`` and, per panel, each line's values (one per epoch)."""

    epochs: list[int]
    panels: dict[str, dict[str, list[float]]]


def curves(history: list[dict]) -> Curves:
    """The series of ``history`` (see the module docstring), panels in the order of PANELS."""
    if not history:
        raise UsageError("the run has no history yet: train at least one epoch.")
    epochs = [int(row.get("epoch", index + 1)) for index, row in enumerate(history)]
    panels = {}
    for panel, lines in PANELS.items():
        series = {label: [_number(row.get(key)) for row in history] for label, key in lines
                  if any(key in row for row in history)}
        if series:
            panels[panel] = series
    return Curves(epochs, panels)


def _number(value) -> float:
    return math.nan if value is None else float(value)
