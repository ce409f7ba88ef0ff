"""The optimizers the memory simulation steps with, by the names the CLI takes (``OPTIMIZERS``),
and the state (momentum, Adam moments) they keep between steps."""
from __future__ import annotations

import torch

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
# Inception's RMSprop (seed 002): decay 0.9, epsilon 1.0; convscope train builds it too
RMSPROP_RECIPE = {"alpha": 0.9, "eps": 1.0}


def make_optimizer(name: str, params: list[torch.Tensor], weight_decay: float | None = None,
                   nesterov: bool = False) -> torch.optim.Optimizer:
    """The optimizers the CLI names, as a CPU training loop makes them (no foreach kernels).
    ``weight_decay`` None keeps the optimizer's own default (0; AdamW 0.01). It costs memory
    in SGD, Adam and RMSprop, whose step adds it into a new copy of each gradient (AdamW
    shrinks the weights in place), and so does ``nesterov`` (momentum only)."""
    decay = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, foreach=False, **decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=nesterov, foreach=False,
                               **decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=False, **decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, foreach=False, **decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=0.045, foreach=False, **RMSPROP_RECIPE, **decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def create_optimizer_state(opt, params) -> None:
    """Make the optimizer's state (momentum, Adam moments) as its first step does, so the
    recorded step is a steady-state one; gradients are stand-ins, freed right after."""
    for p in params:
        p.grad = torch.empty_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)
