"""Training as it happens: a progress bar per epoch (stderr), a line per epoch and a final report
(stdout). Reads the run's plain records; computes nothing."""
from __future__ import annotations

import time

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text


def percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"


def epoch_line(record: dict, epochs: int, is_best: bool) -> str:
    width = len(str(epochs))
    return (f"epoch {record['epoch']:>{width}}/{epochs}  "
            f"train loss {record['train_loss']:.4f} acc {percent(record['train_accuracy']):>6}  "
            f"val loss {record['val_loss']:.4f} acc {percent(record['val_accuracy']):>6}  "
            f"lr {record['lr']:.3g}  {record['samples_per_s']:,.0f} samples/s  "
            f"{record['seconds']:.1f} s{'  best' if is_best else ''}")


class RichProgress:
    """``convscope.train.run.Progress`` drawn with rich."""

    def __init__(self, out: Console, err: Console):
        self.out, self.err = out, err
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"),
                            TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]}"),
                            TextColumn("{task.fields[speed]:,.0f} samples/s"),
                            TimeElapsedColumn(), console=err, transient=True)
        self.task = None

    def start(self, run, samples_per_epoch: int, device, world) -> None:
        self.epochs, self.processes = run.options["epochs"], world.size
        self.shard = samples_per_epoch // world.size  # what this process's bar counts
        processes = f", {world.size} processes" if world.size > 1 else ""
        self.out.print(f"training {run.name} on {run.data} ({len(run.classes)} classes, "
                       f"input {'x'.join(map(str, run.input_size))}) on {device}{processes}: "
                       f"{samples_per_epoch:,} training samples per epoch", markup=False)
        self.bar.start()

    def start_epoch(self, epoch: int) -> None:
        self.started = time.perf_counter()
        self.task = self.bar.add_task(f"epoch {epoch}/{self.epochs}", total=self.shard,
                                      loss=0.0, acc="-", speed=0.0)

    def batch(self, samples: int, loss: float, accuracy: float) -> None:
        elapsed = time.perf_counter() - self.started
        speed = samples * self.processes / elapsed if elapsed else 0.0
        self.bar.update(self.task, completed=samples, loss=loss, acc=percent(accuracy),
                        speed=speed)

    def end_epoch(self, record: dict, is_best: bool) -> None:
        self.bar.remove_task(self.task)
        self.out.print(epoch_line(record, self.epochs, is_best), markup=False)

    def finish(self, run) -> None:
        self.bar.stop()
        print_run_report(run, self.out)


def print_run_report(run, console: Console) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  title=Text(f"{run.name} on {run.data}"))  # names printed as they are
    for header in ("", "epoch", "train loss", "train acc", "val loss", "val acc"):
        table.add_column(header, justify="left" if not header else "right")
    for label, record in (("best", run.best), ("last", run.metrics)):
        table.add_row(label, str(record["epoch"]), f"{record['train_loss']:.4f}",
                      percent(record["train_accuracy"]), f"{record['val_loss']:.4f}",
                      percent(record["val_accuracy"]))
    console.print(table)
    seconds = sum(r["seconds"] for r in run.history)
    epochs = len(run.history)
    console.print(f"{epochs} epoch{'s' * (epochs != 1)} in {seconds:.1f} s", markup=False)
    if run.path is not None:
        console.print(f"checkpoints: {run.path}/best.pt (epoch {run.best['epoch']}), "
                      f"{run.path}/last.pt; history: {run.path}/history.json\n"
                      f"next: convscope evaluate {run.path}   |   convscope show {run.path} "
                      "--what gradcam --out pictures", markup=False)
