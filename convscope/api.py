"""The public functions: ``analyze`` returns a Report, ``summary`` also prints it."""
from __future__ import annotations

import inspect
import numbers

import torch
from torch import nn

from .analyses.costs import count_ops
from .analyses.receptive_field import with_receptive_fields
from .analyses.rows import build_rows, fold
from .analyses.totals import compute_totals
from .errors import UsageError
from .probe import checked_trace
from .report import Report
from .trace import no_gc
from .trace.compiled import uncompiled
from .trace.inputs import make_spec


DEFAULT_SIZE = (3, 224, 224)


def analyze(model: nn.Module, input_size=DEFAULT_SIZE, batch_size: int = 1,
            dtype: torch.dtype = torch.float32, train: bool = False, *, input_data=None,
            input_kwargs=None, depth: int | None = None, real: bool = False,
            name: str | None = None, memory: bool = False,
            optimizer: str = "momentum", weight_decay: float | None = None,
            nesterov: bool = False) -> Report:
    """Trace ``model`` on shape-only tensors and count every layer.

    ``input_size`` is one shape without batch, or a list of shapes for several inputs.
    ``input_data`` (example tensors) or ``input_kwargs`` (keyword inputs) replace it; a size
    given with ``input_data`` must be the data's own (shapes without batch).
    ``train`` traces in training mode (BatchNorm batch statistics, dropout).
    ``depth`` folds rows deeper than this into their ancestor, summing their counts.
    ``real`` runs a real forward instead, for models whose control flow reads tensor values.
    ``memory`` also simulates one training step with ``optimizer``: rows gain ``saved_bytes``
    and totals ``train_peak_bytes`` (it costs about two more traces, so it is off by default);
    ``weight_decay`` and ``nesterov`` are the optimizer's, as ``training_memory`` takes them.
    The model is left exactly as it was.
    """
    if not isinstance(model, nn.Module):
        raise UsageError(f"analyze expects a torch.nn.Module, got {type(model).__name__}.")
    model = uncompiled(model)  # a torch.compile wrapper: its own module, by its own name
    if depth is not None and (not isinstance(depth, numbers.Integral) or isinstance(depth, bool)
                              or depth < 0):
        raise UsageError(f"depth must be a whole number, 0 or more, got {depth!r}: rows deeper "
                         "than it are folded into their ancestor, e.g. depth=1 (CLI: --depth 1); "
                         "None keeps every row.")
    _check_step_options(memory, optimizer, weight_decay, nesterov)
    _check_flags(train=train, real=real, memory=memory, name=name)
    train, real, memory = bool(train), bool(real), bool(memory)  # a numpy bool, or 1: the JSON's
    # keyword inputs alone replace the default size: it would be one positional input more
    default = input_size is DEFAULT_SIZE and input_kwargs is not None
    if input_data is not None:  # a size given too is checked against the data's shapes
        input_size = None if input_size is DEFAULT_SIZE else input_size
    elif default:
        input_size = None
    spec = make_spec(input_size, input_data, input_kwargs, batch_size, dtype)
    # the trace and the analyses make thousands of small records that live as long as the
    # report: a collection they trigger would scan them all and find nothing to free
    with no_gc():
        # a network that cannot run raises one ConvscopeError naming the layer (diagnose)
        graph = checked_trace(model, spec, train=train, real=real)
        costs = count_ops(graph)
        rows, totals = build_rows(graph, costs), compute_totals(graph, costs)
        if memory:
            rows, totals = _with_memory(model, spec, optimizer, rows, totals,
                                        weight_decay=weight_decay, nesterov=nesterov)
        depth = None if depth is None else int(depth)  # a numpy integer too
        rows = with_receptive_fields(graph, fold(graph, rows, depth))
    # example tensors bring their own dtype: the report says what was traced
    traced = graph.inputs[0].dtype if input_data is not None and graph.inputs else None
    return Report(rows=rows, totals=totals, uncounted=costs.uncounted,
                  graph=graph, model_name=name or type(model).__name__,
                  dtype=traced or str(dtype).removeprefix("torch."))


def _check_flags(name, **flags) -> None:
    for key, value in flags.items():
        try:
            plain = not isinstance(value, str) and value in (True, False)  # 1 and numpy's too
        except (TypeError, ValueError, RuntimeError):  # an array or a tensor of several values
            plain = False
        if not plain:
            raise UsageError(f"{key} takes True or False, got {value!r}.")
    if name is not None and not isinstance(name, str):
        raise UsageError(f"name is the model's name in the report, a str, got {name!r}.")


def _check_step_options(memory: bool, optimizer, weight_decay, nesterov) -> None:
    """The training step's options are checked whether or not a step is simulated, and given
    without ``memory=True`` they are refused: they would change nothing, silently."""
    from .trace.optimizers import OPTIMIZERS

    if optimizer not in OPTIMIZERS:
        raise UsageError(f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
    given = [f"{k}={v!r}" for k, v, default in (("optimizer", optimizer, "momentum"),
                                                 ("weight_decay", weight_decay, None),
                                                 ("nesterov", nesterov, False)) if v != default]
    if given and not memory:
        raise UsageError(f"{', '.join(given)} size the training step's memory, which "
                         "memory=False leaves out: pass memory=True to see it, or leave "
                         f"{'them' if len(given) > 1 else 'it'} out.")


def _with_memory(model, spec, optimizer, rows, totals, **decay):
    from dataclasses import replace

    from .analyses.memory import attach_saved
    from .memory import predict

    predicted = predict(model, spec, optimizer, inference=False, **decay)
    return (attach_saved(rows, predicted.layers),
            replace(totals, train_peak_bytes=predicted.train_peak_bytes))


def summary(model: nn.Module, input_size=(3, 224, 224), batch_size: int = 1,
            dtype: torch.dtype = torch.float32, train: bool = False, **options) -> Report:
    """``analyze`` and print the table; returns the Report (``.rows``, ``.totals``, ...)."""
    from .render.table import print_report

    unknown = sorted(set(options) - set(inspect.signature(analyze).parameters))
    if unknown:
        takes = ", ".join(list(inspect.signature(analyze).parameters)[1:])
        raise UsageError(f"summary got unknown option{'s' * (len(unknown) > 1)} "
                         f"{', '.join(unknown)}; it takes those of analyze: {takes}.")
    report = analyze(model, input_size, batch_size, dtype, train, **options)
    print_report(report)
    return report
