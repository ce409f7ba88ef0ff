"""`convscope evaluate`: accuracy, per-class accuracy and confusion matrix of a trained run."""
from __future__ import annotations

from typing import Optional

import typer

from .app import DebugOpt, app, err, friendly, output_folder, stdout_console


@app.command()
@friendly
def evaluate(
    run: str = typer.Argument(..., help="a run folder (its best.pt) or a checkpoint .pt file"),
    data: Optional[str] = typer.Option(None, "--data", help="default: the data the run used"),
    split: str = typer.Option("val", "--split", help="val|train|all"),
    out: Optional[str] = typer.Option(None, "--out",
                                      help="folder for confusion.png (confusion-SPLIT.png for "
                                           "--split train or all; default: the run folder)"),
    batch: int = typer.Option(256, "--batch"),
    debug: bool = DebugOpt,
):
    """Evaluate a trained run: accuracy, accuracy per class and the confusion matrix (printed,
    and written as confusion.png). The validation split is the run's own: same data, seed and
    fraction, so it holds no sample the run trained on.

    \b
    Examples:
      convscope evaluate runs/simple_cnn
      convscope evaluate runs/lenet5/last.pt --split all --out pictures
    """
    import torch
    from torch.utils.data import ConcatDataset, DataLoader

    from ..errors import UsageError, too_large
    from ..render.evaluation import print_evaluation
    from ..show.draw import draw_confusion
    from ..train import evaluation, load_data, load_trained_model
    from ..train.loop import predict

    if split not in ("val", "train", "all"):
        raise UsageError(f"--split {split!r} is not one of val, train, all.")
    if batch < 1:
        raise UsageError(f"--batch must be at least 1, got {batch}; e.g. --batch 256.")
    if batch > 2**63 - 1:  # the DataLoader's islice said "must be ... <= sys.maxsize"
        raise UsageError(too_large(f": --batch {batch}"))
    model, trained = load_trained_model(run)
    folder = output_folder(trained.path if out is None else out)  # "" is refused, not the run's
    name = data or trained.data
    splits = load_data(name, trained.input_size, trained.seed, trained.val_fraction,
                       trained.normalisation)
    if len(splits.classes) != len(trained.classes):
        raise UsageError(f"{run} was trained on {len(trained.classes)} classes and --data "
                         f"{name} has {len(splits.classes)}.")
    renamed = [(d, r) for d, r in zip(splits.classes, trained.classes) if d != r]
    if renamed:  # another data set's classes (digits -> MNIST) are the run's by position
        pairs = ", ".join(f"{d!r} as {r!r}" for d, r in renamed[:5])
        more = f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""
        err.print(f"note: the classes of {name} are scored as the run's by position, and "
                  f"{len(renamed)} of their names differ{'s' * (len(renamed) == 1)}: "
                  f"{pairs}{more}.", markup=False)
    dataset = {"val": splits.val, "train": splits.train,
               "all": ConcatDataset([splits.train, splits.val])}[split]
    logits, labels = predict(model, DataLoader(dataset, batch), torch.device("cpu"))
    result = evaluation(logits, labels, trained.classes)
    console = stdout_console()
    print_evaluation(result, f"{trained.name} ({run}) on {name}, {split} split", console)
    # the validation split's is confusion.png; another split's does not write over it
    picture = draw_confusion(result.confusion, result.classes,
                             folder / ("confusion.png" if split == "val" else
                                       f"confusion-{split}.png"))
    console.print(f"wrote {picture}", markup=False)
