"""`convscope summary`: the per-layer table."""
from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import ConvscopeError, UsageError
from .app import (ArgOpt, DebugOpt, InputOpt, ModelArg, app, describe_optimizer, emit_report,
                  err, friendly, load_network_and_run, parse_dtype, run_recipe, training_step,
                  weights_in)


@app.command()
@friendly
def summary(
    model: str = ModelArg,
    input: Optional[str] = InputOpt,
    batch: int = typer.Option(1, "--batch", "-b", help="batch size"),
    depth: Optional[int] = typer.Option(None, "--depth", "-d", help="fold rows deeper than N"),
    format: str = typer.Option("table", "--format", "-f", help="table|markdown|csv|json"),
    train: bool = typer.Option(False, "--train", help="trace in training mode"),
    real: bool = typer.Option(False, "--real", help="run a real forward (data-dependent models)"),
    dtype: Optional[str] = typer.Option(None, "--dtype",
                                        help="input dtype; a floating one given converts the "
                                             "weights too  [default: float32]"),
    memory: bool = typer.Option(True, "--memory/--no-memory",
                                help="simulate a training step: saved bytes per layer, peak"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer",
                                            help="sgd|momentum|adam|adamw|rmsprop  "
                                                 "[default: momentum; a run's own]"),
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Per-layer table: output shape, parameters, MACs, output memory, and what autograd keeps
    for backward (with the peak of a training step for --optimizer; --no-memory skips it).
    For a run folder the step's optimizer and weight decay are the run's own.

    \b
    Examples:
      convscope summary zoo:resnet50
      convscope summary zoo:vgg16 --depth 1 --format markdown
      convscope summary mymodels.py:Net --input 1x28x28 --batch 64 --arg num_classes=10
    """
    from ..api import analyze
    from ..trace.optimizers import OPTIMIZERS

    # a wrong name would drop the memory columns with a note; the default is None so that a
    # given --optimizer is known, and refused where no memory column would show it
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise UsageError(f"--optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
    if optimizer is not None and (not memory or real):
        dropped = "--no-memory" if not memory else "--real (a real forward, no training step)"
        raise UsageError(f"--optimizer {optimizer} sizes the optimizer state in the memory "
                         f"columns, which {dropped} leaves out: drop {dropped.split()[0]} to see "
                         "them, or drop --optimizer.")
    network, name, shapes, run = load_network_and_run(model, arg, input, shapes_only=not real)
    if dtype is not None:  # not given: a float32 input, and the weights as they are
        network = weights_in(network, parse_dtype(dtype))
    recipe = run_recipe(run) if memory and not real else None
    simulated, decay = training_step(recipe, optimizer)
    options = dict(batch_size=batch, dtype=parse_dtype(dtype or "float32"), train=train,
                   depth=depth, real=real, name=name, optimizer=simulated, weight_decay=decay)
    try:
        report = analyze(network, shapes, memory=memory and not real, **options)
    except ConvscopeError as exc:
        if not memory or real:
            raise
        forward = {k: v for k, v in options.items() if k not in ("optimizer", "weight_decay")}
        report = analyze(network, shapes, memory=False, **forward)  # the forward alone works
        err.print(f"note: training memory left out: {exc}", markup=False)
    else:  # said once the step is known to run: a mistake's error is the only line
        if recipe is not None:
            _say_step(recipe, optimizer, batch)
    emit_report(report, format)


def _say_step(recipe, optimizer: str | None, batch: int) -> None:
    """On stderr: the training step the table's memory columns simulate, the run's own, at the
    table's batch."""
    # what was simulated: the run's optimizer, or the one given with the run's decay
    used = (f"the run's optimizer: {describe_optimizer(recipe)}" if not optimizer else
            f"{optimizer} (as given: --optimizer {optimizer}) and the run's weight decay "
            f"{recipe.weight_decay:g}")
    theirs = f" (the run's: --batch {recipe.batch_size})" if batch != recipe.batch_size else ""
    err.print(f"note: training step peak with {used}, at the table's batch {batch}{theirs}",
              markup=False)
