"""How much does convscope's training loop cost over a bare PyTorch loop? (issue 8's benchmark)

Both loops train the same model from the same weights on the same DataLoader (digits, resized to
the model input), one epoch at a time, alternating, so machine noise hits both alike. convscope's
loop runs as ``convscope train`` runs it: running sums, a rich progress bar updated every batch,
validation excluded from both. Prints the fastest epoch of each (as ``timeit`` advises: the
slower ones measure the machine, not the loop), the median, and the overhead of each.

Times are CPU seconds of this process (``time.process_time``), one torch thread by default: on a
shared virtual machine, wall time also counts the moments the host gave the CPU to someone else,
which swamps a difference of a few percent.

    python benchmarks/training.py [--models simple_cnn lenet5] [--epochs 31] [--threads 1]
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

import torch
import torch.nn.functional as F
from rich.console import Console
from torch.utils.data import DataLoader

from convscope import zoo
from convscope.render.training import RichProgress
from convscope.train import TrainOptions
from convscope.train.checkpoint import Run
from convscope.train.data import load_data
from convscope.train.distributed import World
from convscope.train.loop import train_epoch


def bare_epoch(model, loader, optimizer) -> float:
    model.train()
    start = time.process_time()
    for images, labels in loader:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.process_time() - start


def convscope_epoch(model, loader, optimizer, progress, epoch) -> float:
    start = time.process_time()
    progress.start_epoch(epoch)
    train_epoch(model, loader, optimizer, torch.device("cpu"), progress.batch)
    progress.bar.remove_task(progress.task)
    return time.process_time() - start


def compare(name: str, epochs: int) -> tuple[float, float]:
    info = zoo.info(name)
    data = load_data("digits", info.input_size, seed=0)
    torch.manual_seed(0)
    ours = zoo.create(name, num_classes=10)
    theirs = zoo.create(name, num_classes=10)
    theirs.load_state_dict(ours.state_dict())
    loaders = [DataLoader(data.train, 64, shuffle=True,
                          generator=torch.Generator().manual_seed(0)) for _ in range(2)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
                  for m in (ours, theirs)]
    sink = Console(file=io.StringIO(), force_terminal=True, width=120)  # drawn, not shown
    progress = RichProgress(sink, sink)
    run = Run(f"zoo:{name}", {}, name, info.input_size, data.classes, "digits", 0, 0.2,
              data.normalisation, TrainOptions(epochs=epochs).to_dict())
    progress.start(run, len(data.train), torch.device("cpu"), World())
    ours_s, theirs_s = [], []
    for epoch in range(1, epochs + 1):
        ours_s.append(convscope_epoch(ours, loaders[0], optimizers[0], progress, epoch))
        theirs_s.append(bare_epoch(theirs, loaders[1], optimizers[1]))
    progress.bar.stop()
    ours_s, theirs_s = ours_s[1:], theirs_s[1:]  # the first epoch warms up
    return (min(ours_s), statistics.median(ours_s)), (min(theirs_s), statistics.median(theirs_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["simple_cnn", "lenet5"])
    parser.add_argument("--epochs", type=int, default=31)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    print("| model | bare PyTorch epoch s (fastest / median) | convscope epoch s (fastest / median) "
          "| overhead (fastest / median) |")
    print("|---|---|---|---|")
    for name in options.models:
        ours, theirs = compare(name, options.epochs)
        print(f"| {name} | {theirs[0]:.4f} / {theirs[1]:.4f} | {ours[0]:.4f} / {ours[1]:.4f} | "
              f"{100 * (ours[0] / theirs[0] - 1):+.1f}% / {100 * (ours[1] / theirs[1] - 1):+.1f}% |")


if __name__ == "__main__":
    main()
