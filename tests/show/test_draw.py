"""The confusion-matrix drawer `convscope evaluate` uses, and the missing-matplotlib message."""
from __future__ import annotations

import sys

import pytest
import torch

from convscope.errors import UsageError
from convscope.show.draw import DPI, confusion_figure, draw_confusion, draw_filters
from tests.show.helpers import read_png

MATRIX = torch.tensor([[5, 1, 0], [2, 7, 1], [0, 0, 9]])  # row: true class, column: predicted


def test_confusion_figure_shows_the_counts_the_classes_and_the_accuracy():
    fig = confusion_figure(MATRIX, ["cat", "dog", "fox"])
    ax = fig.axes[0]
    assert (ax.images[0].get_array() == MATRIX.numpy()).all()
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    assert cells == {(i, j): str(int(MATRIX[i, j])) for i in range(3) for j in range(3)}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "fox"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "fox"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert ax.get_title() == "accuracy 84.0% of 25 samples"  # (5 + 7 + 9) / 25


def test_confusion_png_grows_with_the_classes(tmp_path):
    small = read_png(draw_confusion(MATRIX, ["a", "b", "c"], tmp_path / "c3.png"))
    assert small.shape[:2] == (4 * DPI, 4 * DPI)  # at least 4 inches
    big = read_png(draw_confusion(torch.eye(20, dtype=torch.long) * 3,
                                  [str(k) for k in range(20)], tmp_path / "c20.png"))
    side = round((2 + 0.45 * 20) * DPI)  # 2 inches of margins and 0.45 inch per class
    assert big.shape[:2] == (side, side)


@pytest.mark.parametrize("matrix,classes,words", [
    (torch.zeros(2, 3), ["a", "b"], "square [K, K]"),
    (torch.zeros(3), ["a", "b", "c"], "square [K, K]"),
    (torch.zeros(3, 3), ["a", "b"], "3 classes but 2 class names"),
    (-torch.ones(2, 2), ["a", "b"], "negative"),
])
def test_confusion_rejects_what_is_not_a_confusion_matrix(tmp_path, matrix, classes, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        draw_confusion(matrix, classes, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_without_matplotlib_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'convscope\[train\]'"):
        draw_filters(torch.zeros(3, 3, 3), tmp_path / "f.png")
