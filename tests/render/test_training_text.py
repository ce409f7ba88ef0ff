"""Training and evaluation text: names the user chose are printed as they are."""
from __future__ import annotations

from types import SimpleNamespace

import torch
from rich.console import Console

from convscope.render.evaluation import print_evaluation


def test_class_names_with_square_brackets_are_printed_as_they_are():
    # "[bold]birds" printed as "birds", "dogs [old]" as "dogs": rich read them as styles
    names = ["[bold]birds", "cats [i]", "dogs [old]"]
    confusion = torch.tensor([[2, 0, 0], [0, 1, 1], [0, 0, 3]])
    result = SimpleNamespace(accuracy=6 / 7, confusion=confusion, samples=7, loss=0.5,
                             classes=names, per_class=[(n, 2, 1.0) for n in names])
    console = Console(width=200, record=True, color_system=None)
    print_evaluation(result, "val split", console)
    text = console.export_text()
    assert all(text.count(name) == 3 for name in names)  # per class, a column, a row
