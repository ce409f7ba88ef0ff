"""How a trained model does on a split: accuracy, accuracy per class, confusion matrix."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Evaluation:
    """``confusion[i, j]``: samples of true class i predicted as class j."""

    classes: list[str]
    confusion: torch.Tensor  # [K, K] int64
    loss: float

    @property
    def samples(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(self.confusion.diagonal().sum()) / max(self.samples, 1)

    @property
    def per_class(self) -> list[tuple[str, int, float]]:
        """(class, samples, accuracy) per class; accuracy is nan for a class with no samples."""
        totals = self.confusion.sum(1)
        return [(name, int(total), float(self.confusion[i, i]) / int(total) if total else
                 float("nan")) for i, (name, total) in enumerate(zip(self.classes, totals))]


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Counts of (true, predicted) pairs as a [classes, classes] matrix."""
    flat = labels.long() * classes + predicted.long()
    return torch.bincount(flat, minlength=classes * classes).view(classes, classes)


def evaluation(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> Evaluation:
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    return Evaluation(classes, confusion_matrix(logits.argmax(1), labels, len(classes)), loss)
