"""`convscope train`: fit a model on real data, with progress, checkpoints and a final report."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UsageError
from .app import ArgOpt, DebugOpt, InputOpt, app, err, friendly, output_folder, stdout_console


@app.command()
@friendly
def train(
    model: str = typer.Argument(..., help="zoo:NAME, package.module:callable or file.py:callable"),
    data: str = typer.Option("digits", "--data",
                             help="digits | a folder of class sub-folders | mnist | cifar10"),
    epochs: int = typer.Option(10, "--epochs"),
    batch: int = typer.Option(64, "--batch", help="samples per step (per process under torchrun)"),
    lr: float = typer.Option(0.01, "--lr", help="learning rate"),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum"),
    weight_decay: float = typer.Option(5e-4, "--weight-decay"),
    optimizer: str = typer.Option("sgd", "--optimizer", help="sgd|adam|rmsprop"),
    schedule: str = typer.Option("none", "--schedule", help="none|step|cosine|plateau"),
    seed: int = typer.Option(0, "--seed", help="seeds weights, split and shuffling"),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="share held out to validate"),
    out: Optional[str] = typer.Option(None, "--out", help="run folder (default runs/NAME)"),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes"),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:1|mps"),
    input: Optional[str] = InputOpt,
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Train MODEL on real data: a progress bar per epoch, a line per epoch, a final report, and
    checkpoints (best.pt, last.pt, history.json) that summary, evaluate and show can load.

    Images are resized to the model's input (the zoo default, or --input) and standardised; a
    zoo model that takes num_classes gets the data's class count. Data-parallel on several
    processes: torchrun --nproc_per_node 2 -m convscope train ... (gloo on CPU, NCCL on GPUs).

    \b
    Examples:
      convscope train zoo:simple_cnn --data digits
      convscope train zoo:lenet5 --epochs 15 --schedule cosine --out runs/lenet5
      convscope train mymodels.py:Net --input 1x28x28 --data path/to/images --optimizer adam --lr 1e-3
      torchrun --nproc_per_node 2 -m convscope train zoo:simple_cnn --batch 32
    """
    from ..loading import parse_args
    from ..render.training import RichProgress
    from ..train import TrainOptions
    from ..train.run import Silent, train as run_training
    from ..trace.inputs import parse_input

    options = TrainOptions(data=data, epochs=epochs, batch=batch, lr=lr, momentum=momentum,
                           weight_decay=weight_decay, optimizer=optimizer, schedule=schedule,
                           seed=seed, val_fraction=val_fraction, workers=workers, device=device)
    shapes = parse_input(input) if input is not None else None
    if shapes is not None and len(shapes) != 1:
        raise UsageError("--input takes one image shape for training, e.g. --input 1x28x28.")
    wanted = _default_out(model) if out is None else out
    made = bool(str(wanted).strip()) and not Path(wanted).exists()
    out = output_folder(wanted)
    progress = RichProgress(stdout_console(), err) if _is_main_process() else Silent()
    try:
        run_training(model, options, model_args=parse_args(arg), input_size=shapes and shapes[0],
                     out=out, progress=progress)
    except BaseException:  # a mistake found before the first checkpoint, or Ctrl-C
        if made and _is_main_process():  # under torchrun, one process cleans up
            with contextlib.suppress(OSError):  # not empty, or gone: the error is what matters
                out.rmdir()  # made for this run and still empty: leave no folder behind
        raise


def _default_out(model: str) -> str:
    """runs/NAME; a run fine-tuned goes to runs/ITS-FOLDER-tuned, beside it rather than over it
    (its path read as a name gave runs/tmp/...)."""
    from ..train.checkpoint import is_run

    if not is_run(model):
        return f"runs/{model.rpartition(':')[2]}"
    folder = Path(model).resolve()
    return f"runs/{(folder.parent if folder.suffix == '.pt' else folder).name}-tuned"


def _is_main_process() -> bool:
    """Under torchrun only rank 0 draws progress; the others train silently."""
    return os.environ.get("RANK", "0") == "0"
