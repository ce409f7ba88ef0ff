"""The public functions: ``analyze`` returns a Report, ``summary`` also prints it."""
from __future__ import annotations

import torch
from torch import nn

from .analyses.costs import count_ops
from .analyses.diagnose import diagnose
from .analyses.rows import build_rows, fold
from .analyses.totals import compute_totals
from .errors import UsageError
from .report import Report
from .trace import TraceFailure, trace
from .trace.inputs import make_spec


def analyze(model: nn.Module, input_size=(3, 224, 224), batch_size: int = 1,
            dtype: torch.dtype = torch.float32, train: bool = False, *, input_data=None,
            input_kwargs=None, depth: int | None = None, real: bool = False,
            name: str | None = None) -> Report:
    """Trace ``model`` on shape-only tensors and count every layer.

    ``input_size`` is one shape without batch, or a list of shapes for several inputs.
    ``input_data`` (example tensors) or ``input_kwargs`` (keyword inputs) replace it.
    ``train`` traces in training mode (BatchNorm batch statistics, dropout).
    ``depth`` folds rows deeper than this into their ancestor, summing their counts.
    ``real`` runs a real forward instead, for models whose control flow reads tensor values.
    The model is left exactly as it was.
    """
    if not isinstance(model, nn.Module):
        raise UsageError(f"analyze expects a torch.nn.Module, got {type(model).__name__}.")
    if depth is not None and depth < 0:
        raise UsageError(f"depth must be 0 or more, got {depth}.")
    spec = make_spec(None if input_data is not None else input_size, input_data, input_kwargs,
                     batch_size, dtype)
    try:
        graph = trace(model, spec, train=train, real=real)
    except TraceFailure as failure:
        raise diagnose(failure) from failure.cause
    costs = count_ops(graph)
    rows = fold(graph, build_rows(graph, costs), depth)
    return Report(rows=rows, totals=compute_totals(graph, costs), uncounted=costs.uncounted,
                  graph=graph, model_name=name or type(model).__name__,
                  dtype=str(dtype).removeprefix("torch."))


def summary(model: nn.Module, input_size=(3, 224, 224), batch_size: int = 1,
            dtype: torch.dtype = torch.float32, train: bool = False, **options) -> Report:
    """``analyze`` and print the table; returns the Report (``.rows``, ``.totals``, ...)."""
    from .render.table import print_report

    report = analyze(model, input_size, batch_size, dtype, train, **options)
    print_report(report)
    return report
