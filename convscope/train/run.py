"""``train``: build the model and data, run the epochs, keep the best and last checkpoints."""
from __future__ import annotations

import inspect
import math
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..errors import UsageError
from .checkpoint import BEST, LAST, Run, is_run, load_trained_model, save_checkpoint
from .data import TORCHVISION_SETS, DataSplit, load_data
from .distributed import World, join_world, leave_world, world_sum, wrap
from .loop import Pass, train_epoch, validate
from .options import (TrainOptions, make_optimizer, make_schedule, resolve_device,
                      step_schedule)


class Progress(Protocol):
    """What the loop tells whoever watches (the CLI draws a rich progress bar)."""

    def start(self, run: Run, samples_per_epoch: int, device: torch.device, world: World): ...
    def start_epoch(self, epoch: int): ...
    def batch(self, samples: int, loss: float, accuracy: float): ...
    def end_epoch(self, record: dict, is_best: bool): ...
    def finish(self, run: Run): ...


class Silent:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def train(model: str | nn.Module, options: TrainOptions = TrainOptions(), *,
          model_args: dict | None = None, input_size=None, out: str | Path | None = None,
          progress: Progress | None = None) -> tuple[nn.Module, Run]:
    """Train ``model`` (a MODEL spec such as ``zoo:simple_cnn``, or an ``nn.Module``) on
    ``options.data``; returns the trained model (last epoch) and the run. With ``out``, rank 0
    writes ``best.pt``, ``last.pt`` and ``history.json`` there after every epoch.

    Under ``torchrun`` every process calls this; see ``convscope.train.distributed``.
    """
    device = resolve_device(options.device)
    world = join_world(device)
    try:
        return _train(model, options, dict(model_args or {}), input_size,
                      Path(out) if out else None, progress or Silent(), device, world)
    finally:
        leave_world(world)


def _train(model, options, model_args, input_size, out, progress, device, world):
    torch.manual_seed(options.seed)  # the same initial weights in every process
    spec, input_size = _describe(model, input_size)
    data = load_data(options.data, input_size, options.seed, options.val_fraction)
    network, source = _build(model, spec, model_args, len(data.classes))
    check_outputs(network, input_size, len(data.classes), spec)
    network.to(device)
    recorded, recorded_args = (spec, model_args) if source is None else (
        source.model, source.model_args)
    run = Run(recorded, recorded_args, _name(model, source), tuple(input_size), data.classes,
              _data_spec(options.data), options.seed, options.val_fraction, data.normalisation,
              options.to_dict())
    train_loader, val_loader = _loaders(data, options, world)
    replica = wrap(network, world, device)
    optimizer = make_optimizer(replica.parameters(), options)
    schedule = make_schedule(optimizer, options)
    progress.start(run, _samples_per_epoch(train_loader) * world.size, device, world)
    for epoch in range(1, options.epochs + 1):
        if isinstance(train_loader.sampler, DistributedSampler):
            train_loader.sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        progress.start_epoch(epoch)
        fit = _one_epoch(replica, train_loader, optimizer, device, progress, len(data.train))
        checked = validate(network, val_loader, device)
        step_schedule(schedule, checked.loss)
        record = epoch_record(epoch, lr, fit, checked, world)
        if not math.isfinite(record["train_loss"]):
            raise UsageError(_diverged(record, options, run, out))
        is_best = not run.best or record["val_accuracy"] > run.best["val_accuracy"]
        run = replace(run, epoch=epoch, metrics=record, history=run.history + [record],
                      best=record if is_best else run.best, path=out)
        if out is not None and world.is_main:
            if is_best:
                save_checkpoint(run, network, out, BEST)
            save_checkpoint(run, network, out, LAST)
        progress.end_epoch(record, is_best)
    progress.finish(run)
    return network, run


def _one_epoch(replica, loader, optimizer, device, progress, samples: int) -> Pass:
    """``train_epoch``; a batch of one sample that reaches a BatchNorm on a 1x1 map (or on
    features) stops it with PyTorch's words, which are the user's to fix, not a crash."""
    try:
        return train_epoch(replica, loader, optimizer, device, progress.batch)
    except ValueError as exc:
        if "Expected more than 1 value per channel when training" not in str(exc):
            raise
        split = (f", and a training split of 2 samples or more (it has {samples}: a smaller "
                 "--val-fraction)") if samples < 2 else ""
        raise UsageError(f"a batch of one sample reached a BatchNorm in training, where it "
                         f"normalises each channel over the batch and positions: one value "
                         f"({exc}). Fix: --batch 2 or more{split}.") from None


def _diverged(record: dict, options: TrainOptions, run: Run, out) -> str:
    """What to change when the loss is no longer a number: the weights are lost with it."""
    kept = (f"; {out} keeps the checkpoints of epoch {run.epoch}" if run.epoch and out is not None
            else "")
    momentum = f", --momentum {options.momentum:g}" if options.optimizer == "sgd" else ""
    return (f"training diverged in epoch {record['epoch']}: the training loss is "
            f"{record['train_loss']} (--optimizer {options.optimizer}, --lr {options.lr:g}"
            f"{momentum}). Lower the learning rate, e.g. --lr {_lower(options.lr):g}{kept}.")


def _lower(lr: float) -> float:
    """A tenth of ``lr``, but no more than 0.1: from --lr 1e6 a tenth is still far too large."""
    return min(lr / 10, 0.1)


def epoch_record(epoch: int, lr: float, fit: Pass, checked: Pass, world: World) -> dict:
    """The epoch's metrics; training loss and accuracy are over every process's shard."""
    loss, correct, samples, seconds = world_sum(
        [fit.loss * fit.samples, fit.accuracy * fit.samples, fit.samples, fit.seconds], world)
    return {"epoch": epoch, "train_loss": loss / samples, "train_accuracy": correct / samples,
            "val_loss": checked.loss, "val_accuracy": checked.accuracy, "lr": lr,
            "seconds": fit.seconds + checked.seconds,
            "samples_per_s": samples / (seconds / world.size) if seconds else 0.0}


def _describe(model, input_size) -> tuple[str, tuple[int, ...]]:
    """The spec a checkpoint can rebuild the model from, and the input size."""
    from ..loading import default_input

    if isinstance(model, nn.Module):
        spec = f"python:{type(model).__module__}.{type(model).__qualname__}"
    else:
        where, _, attr = model.rpartition(":")
        spec = f"{Path(where).resolve()}:{attr}" if where.endswith(".py") else model
        spec = str(Path(model).resolve()) if is_run(model) else spec  # the weights to start from
        input_size = input_size or default_input(model)
    if input_size is None:
        raise UsageError(f"--input is needed for {model}: e.g. --input 1x28x28 (channels x "
                         "height x width, without the batch).")
    return spec, tuple(input_size)


def _data_spec(name: str) -> str:
    """The --data a checkpoint records: a folder as an absolute path, so `evaluate` and `show`
    find it from any working directory, as they find a file.py model."""
    return name if name in ("digits", *TORCHVISION_SETS) else str(Path(name).resolve())


def _name(model, source: Run | None = None) -> str:
    """A fine-tuned run keeps its source run's name."""
    if source is not None:
        return source.name
    return type(model).__name__ if isinstance(model, nn.Module) else model.rpartition(":")[2]


def _build(model, spec: str, model_args: dict, classes: int) -> tuple[nn.Module, Run | None]:
    """The network, and the run it starts from when fine-tuning one (its weights, and the MODEL
    spec and arguments it was built from); a zoo builder that takes ``num_classes`` gets the
    data's class count."""
    from ..loading import load_model, refuse_run_arguments

    if isinstance(model, nn.Module):
        return model, None
    if is_run(spec):
        refuse_run_arguments(spec, model_args)
        return load_trained_model(spec)
    if "num_classes" not in model_args and _zoo_takes_classes(spec):
        model_args["num_classes"] = classes
    return load_model(spec, model_args)[0], None


def check_outputs(network: nn.Module, input_size, classes: int, spec: str) -> None:
    """Trace the network on meta tensors (no compute): it must map [N, *input] to [N, classes],
    and a training step (its backward too) must be one PyTorch can take."""
    from ..probe import checked_step, checked_trace
    from ..trace.inputs import make_spec

    two = make_spec(tuple(input_size), batch_size=2)
    graph = checked_trace(network, two, one_input=True)
    shapes = [ref.shape for ref in graph.outputs]
    got = ", ".join(str(list(s)) for s in shapes)
    if len(shapes) > 1:
        raise UsageError(f"{spec} returns {len(shapes)} tensors for a batch of 2 inputs ({got}); "
                         f"training needs one, the logits [2, {classes}]. Return them alone, e.g. "
                         "from a wrapper whose forward returns model(x)[0].")
    if len(shapes) != 1 or tuple(shapes[0]) != (2, classes):
        # a zoo builder's class count is num_classes (broken_cnn has none); a user's builder may
        # have no such argument
        how = (f"--arg num_classes={classes}" if _zoo_takes_classes(spec) else "its last layer")
        raise UsageError(f"{spec} maps a batch of 2 inputs to {got}; training on {classes} "
                         f"classes needs logits of shape [2, {classes}]. Give the model "
                         f"{classes} outputs (e.g. {how}) and end it with a flatten.")
    checked_step(network, two, one_input=True)


def _zoo_takes_classes(spec: str) -> bool:
    """A zoo model whose builder takes ``num_classes`` (every one but broken_cnn)."""
    from .. import zoo

    return spec.startswith("zoo:") and spec[4:] in zoo.names() and (
        "num_classes" in inspect.signature(zoo.info(spec[4:]).builder).parameters)


def _loaders(data: DataSplit, options: TrainOptions, world: World):
    generator = torch.Generator().manual_seed(options.seed)
    # the shuffle draws from a generator of its own: the loader draws a seed from its generator
    # for every iterator, once a run with persistent workers but every epoch without, and a
    # shared generator made --workers change the order (and the weights) from the second epoch
    order = torch.Generator().manual_seed(options.seed)
    sampler = (DistributedSampler(data.train, world.size, world.rank, shuffle=True,
                                  seed=options.seed) if world.distributed else
               RandomSampler(data.train, generator=order))
    common = dict(num_workers=options.workers, persistent_workers=options.workers > 0)
    shard = len(sampler)
    # A last batch of one sample stops BatchNorm in training ("Expected more than 1 value per
    # channel"): drop that one sample, as PyTorch users do; any other last batch trains.
    drop_last = shard > options.batch and shard % options.batch == 1
    train_loader = DataLoader(data.train, options.batch, sampler=sampler, generator=generator,
                              drop_last=drop_last, **common)
    val_loader = DataLoader(data.val, max(options.batch, 256), **common)
    return train_loader, val_loader


def _samples_per_epoch(loader: DataLoader) -> int:
    """The samples one process trains on per epoch (its shard, less a dropped last sample)."""
    return min(len(loader.sampler), len(loader) * loader.batch_size)
