"""The training loop: plain PyTorch, one function per pass over the data.

``train_epoch`` is the loop every PyTorch tutorial writes (forward, cross-entropy, zero_grad,
backward, step); the only additions are running sums for the progress line, kept as tensors so
they cost no synchronisation, and an optional callback per batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

BatchCallback = Callable[[int, float, float], None]  # (samples, mean loss, accuracy) so far


@dataclass
class Pass:
    """One pass over a loader: mean loss, accuracy, samples and seconds."""

    loss: float
    accuracy: float
    samples: int
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


class _Sums:
    def __init__(self, device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.samples = 0
        self.started = time.perf_counter()

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        self.loss += loss.detach() * len(labels)
        self.correct += (logits.detach().argmax(1) == labels).sum()
        self.samples += len(labels)

    def result(self) -> Pass:
        samples = max(self.samples, 1)
        return Pass(self.loss.item() / samples, self.correct.item() / samples, self.samples,
                    time.perf_counter() - self.started)


def train_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer,
                device: torch.device, on_batch: Optional[BatchCallback] = None) -> Pass:
    model.train()
    sums = _Sums(device)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sums.add(logits, labels, loss)
        if on_batch is not None:
            on_batch(sums.samples, sums.loss.item() / sums.samples,
                     sums.correct.item() / sums.samples)
    return sums.result()


@torch.no_grad()
def predict(model: nn.Module, loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of every sample of ``loader``, on the CPU, in loader order."""
    model.eval()
    logits, labels = [], []
    for images, batch_labels in loader:
        logits.append(model(images.to(device)).float().cpu())
        labels.append(batch_labels)
    return torch.cat(logits), torch.cat(labels)


def validate(model: nn.Module, loader, device: torch.device) -> Pass:
    started = time.perf_counter()
    logits, labels = predict(model, loader, device)
    loss = F.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    return Pass(loss, accuracy, len(labels), time.perf_counter() - started)
