"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc_per_node 2 -m convscope train ...`` starts two processes with RANK, WORLD_SIZE
and MASTER_ADDR/PORT in their environment. Each joins the process group (gloo on the CPU, NCCL on
GPUs), wraps the model in DistributedDataParallel, which averages gradients in ``backward`` so
every replica takes the same step, and reads its own shard of the training split. Every process
validates on the whole validation split, so all see the same metrics and schedule; only rank 0
prints and writes checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def join_world(device: torch.device) -> World:
    """The process group torchrun described in the environment, or a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        _import_before_the_group_exists()
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return World(dist.get_rank(), dist.get_world_size())


def _import_before_the_group_exists() -> None:
    """DistributedDataParallel's first construction imports ``torch.distributed.nn.functional``,
    whose functions take ``group=group.WORLD`` as a default: imported while a group exists, they
    keep it alive after ``destroy_process_group``, with its gloo threads, until the interpreter's
    finalisation tears them down, which now and then aborts the process ("terminate called
    without an active exception"). Imported first, the defaults hold None."""
    import torch.distributed.nn.functional  # noqa: F401


def leave_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def world_sum(values: list[float], world: World) -> list[float]:
    """``values`` summed over every process (as they are, in a world of one)."""
    if not world.distributed:
        return values
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    if not world.distributed:
        return model
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)
