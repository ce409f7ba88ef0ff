"""`convscope memory`: predict the peak of a training step, and the batch that fits a budget."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from ..errors import UsageError
from .app import (ArgOpt, DebugOpt, InputOpt, ModelArg, app, describe_optimizer, err, friendly,
                  load_network_and_run, parse_dtype, run_recipe, stdout_console, training_step)


@app.command()
@friendly
def memory(
    model: str = ModelArg,
    input: Optional[str] = InputOpt,
    # None: not given, so a run's own recipe (a run folder as MODEL) or the shown default
    batch: Optional[int] = typer.Option(None, "--batch", "-b",
                                        help="batch size  [default: 1; a run's own]"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer",
                                            help="sgd|momentum|adam|adamw|rmsprop  "
                                                 "[default: momentum; a run's own]"),
    dtype: Optional[str] = typer.Option(None, "--dtype",
                                        help="float32|bfloat16|float16, or int64 for "
                                             "token ids (the input's alone)  [default: "
                                             "float32; bfloat16 with --amp]"),
    amp: bool = typer.Option(False, "--amp", help="autocast the forward to --dtype (CPU)"),
    weight_decay: Optional[float] = typer.Option(
        None, "--weight-decay", help="e.g. 5e-4 (convscope train's default): SGD, Adam and "
                                     "RMSprop copy each gradient to add it  [default: the "
                                     "optimizer's: 0, AdamW 0.01; a run's own]"),
    nesterov: bool = typer.Option(False, "--nesterov", help="Nesterov momentum (with "
                                                            "--optimizer momentum)"),
    budget: Optional[str] = typer.Option(None, "--budget", help="e.g. 16GiB: largest batch"),
    format: str = typer.Option("table", "--format", "-f", help="table|json"),
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Memory of one training step: parameters, gradients, optimizer state, what autograd
    saves per layer, the peak, the inference peak, and with --budget the largest batch.
    For a run folder, the step the run took (its optimizer, weight decay, batch and input),
    but for the flags given.

    \b
    Examples:
      convscope memory zoo:resnet50 --batch 32 --optimizer adam
      convscope memory zoo:vgg16 --budget 16GiB
      convscope memory zoo:mobilenet_v2 --batch 64 --dtype bfloat16 --amp
      convscope memory zoo:resnet18 --batch 64 --weight-decay 5e-4 --nesterov
      convscope memory runs/lenet5
    """
    from ..memory import largest_batch, training_memory
    from ..render.memory import print_memory, render_memory_json

    if format not in ("table", "json"):
        raise UsageError(f"--format {format!r} is not one of table, json.")
    network, _, shapes, run = load_network_and_run(model, arg, input)
    recipe = run_recipe(run)
    given = {"--batch": batch, "--optimizer": optimizer, "--weight-decay": weight_decay,
             "--input": input, "--dtype": dtype, "--amp": amp or None,
             "--nesterov": nesterov or None}
    if recipe is not None:
        batch = recipe.batch_size if batch is None else batch
    batch = 1 if batch is None else batch
    optimizer, weight_decay = training_step(recipe, optimizer, weight_decay)
    kind = parse_dtype(dtype or ("bfloat16" if amp else "float32"))
    # float32 is the parameters' own dtype: no conversion; with --amp the API refuses it
    precision = None if kind == parse_dtype("float32") and not amp else kind
    decay = {"weight_decay": weight_decay, "nesterov": nesterov}
    report = training_memory(network, shapes, batch, optimizer, precision, amp, **decay)
    fits = largest_batch(network, shapes, budget, optimizer, precision, amp,
                         **decay) if budget is not None else None
    if recipe is not None:  # said once the step is known to run: a mistake's error is alone
        _say_recipe(recipe, [flag if value is True else f"{flag} {value}"
                             for flag, value in given.items() if value is not None])
    if format == "json":
        sys.stdout.write(render_memory_json(report, fits) + "\n")
    else:
        print_memory(report, stdout_console(), fits, budget)


def _say_recipe(recipe, given: list[str]) -> None:
    """On stderr: the step predicted is the one the run took, but for the flags given."""
    shape = "x".join(map(str, recipe.input_size))
    but = f"; as given: {', '.join(given)}" if given else ""
    err.print(f"note: the run's recipe: {describe_optimizer(recipe)}, batch "
              f"{recipe.batch_size}, input {shape}, float32{but}", markup=False)
