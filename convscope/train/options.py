"""The options of a training run, checked once, with messages that say how to fix them."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields

import torch

from ..errors import UsageError, too_large

OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "plateau")


@dataclass(frozen=True)
class TrainOptions:
    """What ``convscope train`` takes; the defaults are the notes' SGD recipe.

    ``batch`` is per process: under ``torchrun`` with N processes a step sees N x batch samples.
    ``schedule``: ``step`` divides the rate by 10 at 1/2 and 3/4 of the epochs, ``cosine``
    anneals it to 0, ``plateau`` divides it by 10 after 2 epochs without a better validation loss.
    """

    data: str = "digits"
    epochs: int = 10
    batch: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    schedule: str = "none"
    seed: int = 0
    val_fraction: float = 0.2
    workers: int = 0
    device: str = "auto"

    def __post_init__(self):
        _one_of("--optimizer", self.optimizer, OPTIMIZERS)
        _one_of("--schedule", self.schedule, SCHEDULES)
        for flag, value in (("--epochs", self.epochs), ("--batch", self.batch)):
            if value < 1:
                raise UsageError(f"{flag} must be at least 1, got {value}.")
            if value > 2**63 - 1:  # the DataLoader's islice said "must be ... <= sys.maxsize"
                raise UsageError(too_large(f": {flag} {value}"))
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"--lr must be positive and finite, got {self.lr}; try 0.01 for "
                             "SGD, 0.001 for Adam.")
        for flag, value in (("--momentum", self.momentum),
                            ("--weight-decay", self.weight_decay), ("--workers", self.workers)):
            if value < 0:
                raise UsageError(f"{flag} cannot be negative, got {value}; give 0 or more.")
        cores = os.cpu_count() or 1
        if self.workers > 8 * cores:  # each is a process with its own copy of the data set
            raise UsageError(f"--workers {self.workers} would start {self.workers:,} loader "
                             f"processes on a machine of {cores} cores; give at most "
                             f"{8 * cores} (8 a core), e.g. --workers {cores}.")
        if self.momentum >= 1:
            raise UsageError(f"--momentum must be below 1, got {self.momentum:g}: at 1 or more "
                             "SGD's velocity keeps every past gradient and grows without bound; "
                             "try 0.9.")

    def to_dict(self) -> dict:
        return asdict(self)


def _one_of(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{flag} {value!r} is not one of {', '.join(choices)}.")


def resolve_device(name: str) -> torch.device:
    """``auto``: the GPU when there is one, else the CPU; anything else as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a torch device; try cpu, cuda or auto.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: this machine has no CUDA GPU; use --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: Apple's Metal GPU (MPS) is not available on this "
                         "machine; use --device cpu (or cuda where there is an NVIDIA GPU).")
    if device.type == "meta":
        raise UsageError("--device meta holds shapes, not values: nothing can train on it; use "
                         "--device cpu (convscope summary analyses on meta tensors for you).")
    try:  # another backend (xla, hpu, ...) or a GPU index this machine lacks
        torch.empty(0, device=device)
    except Exception as exc:  # noqa: BLE001 (each backend fails in its own way)
        reason = str(exc).split(". ")[0].splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--device {name}: this PyTorch cannot use it on this machine "
                         f"({reason[:160]}); use --device cpu.") from None
    return device


def make_optimizer(parameters, options: TrainOptions) -> torch.optim.Optimizer:
    if options.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=options.lr, weight_decay=options.weight_decay)
    if options.optimizer == "rmsprop":  # the recipe `convscope memory` simulates
        from ..trace.optimizers import RMSPROP_RECIPE

        return torch.optim.RMSprop(parameters, lr=options.lr, weight_decay=options.weight_decay,
                                   **RMSPROP_RECIPE)
    return torch.optim.SGD(parameters, lr=options.lr, momentum=options.momentum,
                           weight_decay=options.weight_decay)


@dataclass(frozen=True)
class StepRecipe:
    """The training step a run takes, in ``convscope.training_memory``'s words: ``make_optimizer``
    builds SGD with momentum as ``momentum`` (``sgd`` there is SGD without it), passes the
    weight decay to every optimizer, never asks for Nesterov, and leaves ``foreach`` to PyTorch
    (off for CPU tensors, as the simulated step has it). The learning rate changes no memory."""

    optimizer: str  # sgd (no momentum), momentum, adam or rmsprop
    momentum: float  # the run's (0 but for momentum): its value changes no memory
    weight_decay: float
    nesterov: bool
    batch_size: int  # per process under torchrun: the step each process takes
    input_size: tuple[int, ...]  # one sample, in float32 (train neither casts nor autocasts)


def step_recipe(run) -> StepRecipe:
    """The step a ``checkpoint.Run`` trained with (an option an older run lacks takes today's
    default, as the run was trained with it)."""
    known = {f.name for f in fields(TrainOptions)}
    options = TrainOptions(**{k: v for k, v in run.options.items() if k in known})
    optimizer = options.optimizer
    if optimizer == "sgd":
        optimizer = "momentum" if options.momentum > 0 else "sgd"
    momentum = options.momentum if optimizer == "momentum" else 0.0
    return StepRecipe(optimizer, momentum, options.weight_decay, False, options.batch,
                      tuple(run.input_size))


def make_schedule(optimizer: torch.optim.Optimizer, options: TrainOptions):
    """The learning-rate schedule, stepped once per epoch (None for a constant rate)."""
    lr = torch.optim.lr_scheduler
    if options.schedule == "step":
        milestones = sorted({max(1, options.epochs // 2), max(1, options.epochs * 3 // 4)})
        return lr.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if options.schedule == "cosine":
        return lr.CosineAnnealingLR(optimizer, T_max=options.epochs)
    if options.schedule == "plateau":
        # PyTorch's patience counts the bad epochs it lets pass: 1 lowers the rate after the
        # second epoch in a row without a better loss (patience=2 waited for a third)
        return lr.ReduceLROnPlateau(optimizer, factor=0.1, patience=1)
    return None


def step_schedule(schedule, val_loss: float) -> None:
    if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
        schedule.step(val_loss)
    elif schedule is not None:
        schedule.step()
