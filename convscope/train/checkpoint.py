"""Checkpoints and runs: what ``convscope train`` writes and ``summary``, ``evaluate`` and ``show``
read back.

A run is a folder (``runs/NAME``) with ``best.pt`` (the epoch with the best validation accuracy),
``last.pt`` and ``history.json``. A checkpoint is a plain dict of Python values and tensors, so it
loads with ``torch.load(weights_only=True)``: no pickled code. It names the model the way the
command line does (``zoo:simple_cnn`` plus ``--arg`` values), so the model is rebuilt, then its
weights are loaded.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError
from .data import Normalisation

FORMAT = "convscope.checkpoint/1"
BEST, LAST, HISTORY = "best.pt", "last.pt", "history.json"
EXPECTED = ("a run folder written by `convscope train` (it holds best.pt) or one of its .pt "
            "files, e.g. runs/simple_cnn or runs/simple_cnn/last.pt")


@dataclass
class Run:
    """One checkpoint of a training run, and the history of the run up to it."""

    model: str  # the MODEL spec: zoo:NAME, package.module:callable or /abs/file.py:callable
    model_args: dict
    name: str
    input_size: tuple[int, ...]
    classes: list[str]
    data: str  # the --data the run trained on
    seed: int
    val_fraction: float
    normalisation: Normalisation
    options: dict = field(default_factory=dict)  # the training options, as given
    epoch: int = 0
    metrics: dict = field(default_factory=dict)  # this epoch's val_accuracy, val_loss, ...
    best: dict = field(default_factory=dict)  # the metrics of the best epoch so far
    history: list[dict] = field(default_factory=list)  # one dict of metrics per epoch
    path: Path | None = None  # the run folder, once saved or loaded

    def to_dict(self, state_dict: dict) -> dict:
        record = asdict(self)
        record.update(format=FORMAT, input_size=list(self.input_size),
                      normalisation=asdict(self.normalisation), state_dict=state_dict)
        record.pop("path")
        return record

    @classmethod
    def from_dict(cls, record: dict) -> tuple["Run", dict]:
        record = dict(record)
        if record.pop("format", None) != FORMAT:
            raise UsageError(f"this checkpoint is not a {FORMAT} file written by convscope train.")
        state_dict = record.pop("state_dict")
        record["input_size"] = tuple(record["input_size"])
        record["normalisation"] = Normalisation(**record["normalisation"])
        return cls(**record), state_dict


def save_checkpoint(run: Run, model: nn.Module, folder: Path, filename: str) -> Path:
    """Write ``run`` with the weights of ``model`` (unwrapped from DDP) to ``folder/filename``."""
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path = folder / filename
    torch.save(run.to_dict(state), path)
    (folder / HISTORY).write_text(json.dumps(run.history, indent=1) + "\n")
    return path


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a run folder or a checkpoint file (rather than a MODEL spec). Never
    an empty string: ``Path("")`` is the working directory."""
    if isinstance(path, str) and not path.strip():
        return False
    path = Path(path)
    return (path.is_dir() and (path / BEST).exists()) or (path.suffix == ".pt" and path.is_file())


def load_run(path: str | Path) -> tuple[Run, dict]:
    """A run folder (its ``best.pt``) or a checkpoint file -> the run and its state dict."""
    if isinstance(path, str) and not path.strip():  # Path("") would be the working directory
        raise UsageError(f"the run is empty: this command takes {EXPECTED}.")
    path = Path(path)
    file = path / BEST if path.is_dir() else path
    if not file.is_file() and not path.exists() and ":" in str(path):
        raise UsageError(f"{path} is a MODEL spec, not a trained run: this command takes "
                         f"{EXPECTED}. Train it first: convscope train {path} --out runs/NAME.")
    if not file.is_file():
        raise UsageError(f"no checkpoint at {file}; train one with: convscope train MODEL "
                         f"--data digits --out {path}.")
    try:
        record = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # an image, a truncated file: torch says "weights_only" or "101"
        raise UsageError(f"{file} is not a convscope checkpoint: torch.load cannot read it "
                         f"({type(exc).__name__}). Expected {EXPECTED}.") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UsageError(f"{file} is not a convscope checkpoint: it holds no {FORMAT} record. "
                         f"Expected {EXPECTED}.")
    run, state_dict = Run.from_dict(record)
    run.path = file.parent
    return run, state_dict


def load_trained_model(path: str | Path) -> tuple[nn.Module, Run]:
    """Rebuild the run's model and load its weights; the model is in eval mode."""
    from ..loading import load_model

    run, state_dict = load_run(path)
    if run.model.startswith("python:"):
        raise UsageError(f"{path} holds the weights of a model passed as a Python object "
                         f"({run.model[7:]}); build it again and call model.load_state_dict("
                         f"convscope.train.load_run({str(path)!r})[1]).")
    model, _ = load_model(run.model, run.model_args)
    model.load_state_dict(state_dict)
    return model.eval(), run
