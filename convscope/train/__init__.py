"""Training on small real data: ``convscope train``, ``evaluate`` and what ``show`` loads.

    >>> from convscope.train import TrainOptions, train
    >>> model, run = train("zoo:simple_cnn", TrainOptions(epochs=10), out="runs/simple_cnn")
    >>> run.best["val_accuracy"] > 0.9
    True

The pipeline: ``data`` (a seeded split, resized to the model input), ``options`` (optimizer and
schedule), ``loop`` (one plain PyTorch pass over the data), ``run`` (the epochs, checkpoints),
``checkpoint`` (what a run folder holds), ``evaluate`` (confusion matrix), ``distributed``
(torchrun).
"""
from .checkpoint import Run, is_run, load_run, load_trained_model
from .data import DataSplit, load_data
from .evaluate import Evaluation, evaluation
from .options import TrainOptions
from .run import train

__all__ = ["DataSplit", "Evaluation", "Run", "TrainOptions", "evaluation", "is_run", "load_data",
           "load_run", "load_trained_model", "train"]
