"""Run by ``torchrun --nproc_per_node 2`` in test_distributed.py: train, then save this rank's
weights to OUT/rank<R>.pt so the test can compare the replicas, with the names of the threads
still running once ``train`` has left the process group."""
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from convscope.train import TrainOptions
from convscope.train.run import train


class KeepRank:
    """Remember the rank before ``train`` leaves the process group."""

    rank = None

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def start(self, run, samples_per_epoch, device, world):
        KeepRank.rank = world.rank


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    model, run = train("zoo:simple_cnn", TrainOptions(epochs=2, batch=32, seed=3, device="cpu"),
                       out=out / "run", progress=KeepRank())
    assert not dist.is_initialized()
    threads = [Path(f"/proc/self/task/{task}/comm").read_text().strip()
               for task in os.listdir("/proc/self/task")]  # Linux: native threads have names
    torch.save({"state": model.state_dict(), "history": run.history, "threads": threads},
               out / f"rank{KeepRank.rank}.pt")
