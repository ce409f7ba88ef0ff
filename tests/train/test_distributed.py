"""Data-parallel training with torchrun: two processes on this machine (gloo on the CPU)."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import torch

from convscope.train import load_run

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_end_with_identical_weights(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(WORKER),
               str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    # leaving the world freed the process group: no gloo thread lives on into the interpreter's
    # finalisation, where tearing it down can abort the process
    for r in ranks:
        assert r["threads"] and not [t for t in r["threads"] if "gloo" in t], r["threads"]
    first, second = (r["state"] for r in ranks)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    # both saw the same metrics (the training sums are reduced over the world); times differ
    metrics = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
    for mine, theirs in zip(*(r["history"] for r in ranks)):
        assert [mine[k] for k in metrics] == [theirs[k] for k in metrics]
    # each process read half of the 1,438 training samples; 2 steps of 32 per 64 samples
    run, saved = load_run(tmp_path / "run" / "last.pt")
    assert run.options["batch"] == 32 and len(run.history) == 2
    for key in first:  # rank 0 wrote the checkpoint
        assert torch.equal(saved[key], first[key])
    initial = _initial_weights(seed=3)
    assert any(not torch.equal(initial[k], first[k]) for k in first)  # it did train


def _initial_weights(seed: int) -> dict:
    from convscope import zoo

    torch.manual_seed(seed)
    return zoo.create("simple_cnn", num_classes=10).state_dict()
