"""Counting helpers shared by the zoo tests: parameters of a built model, MACs by torch's counter.

``macs`` builds the model on the meta device (only shapes matter, nothing is computed) and asks
``torch.utils.flop_counter.FlopCounterMode``, which counts 2 FLOPs per multiply-accumulate of
convolutions and matrix products (bias excluded): MACs = total / 2. It is an oracle independent of
convscope's own rules.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convscope import zoo


def params(model: nn.Module) -> int:
    """Every parameter element of ``model``: ``sum(p.numel())`` over its unique parameters."""
    return sum(p.numel() for p in model.parameters())


def macs(name: str, input_size: tuple[int, ...] | None = None, **options) -> int:
    """Multiply-accumulates of zoo model ``name`` at batch 1 (default input unless given)."""
    with torch.device("meta"):
        model = zoo.create(name, **options).eval()
    size = input_size or zoo.info(name).input_size
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *size, device="meta"))
    return counter.get_total_flops() // 2
