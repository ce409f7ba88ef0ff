"""Training memory: predict the peak of one training step, and the largest batch that fits.

    >>> report = convscope.training_memory(model, (3, 224, 224), batch_size=32, optimizer="adam")
    >>> report.train_peak_bytes, report.inference_peak_bytes
    >>> convscope.largest_batch(model, (3, 224, 224), budget="16GiB")
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import replace

import torch
from torch import nn

from .analyses.diagnose import diagnose
from .analyses.memory import MemoryReport, memory_report
from .errors import UsageError
from .probe import quiet, smallest_input
from .trace import TraceFailure
from .trace.inputs import make_spec
from .trace.optimizers import OPTIMIZERS
from .trace.training import shape_only_step, simulate_inference

_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MAX_BUDGET = 2**60  # 1 EiB: far beyond any one machine's memory


def parse_bytes(text: str | int) -> int:
    """``"16GiB"`` -> 17179869184; ``"500MB"`` -> 500000000; an int passes through (bytes)."""
    if isinstance(text, float) and text.is_integer():  # 1.5e9 from a calculation: bytes
        text = int(text)
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise UsageError(f"a memory budget of {text} bytes is negative; give bytes or a size "
                             "such as '16GiB'.")
        return _within_reach(text, f"{text:,} bytes")
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and match.group(2).lower()
    if unit == "":  # "16" is far more likely 16 GiB than 16 bytes: ask
        number = match.group(1)
        raise UsageError(f"the size {text!r} has no unit; write e.g. {number}GiB, {number}MiB or "
                         f"{number}GB ({number}B for bytes).")
    if not match or unit not in _UNITS:
        raise UsageError(f"cannot read the size {text!r}; write e.g. 16GiB, 512MiB or 8GB.")
    return _within_reach(float(match.group(1)) * _UNITS[unit], text)


def _within_reach(size: float, given: str) -> int:
    """A budget of at most MAX_BUDGET bytes: past it the batch that fits would be a tensor larger
    than PyTorch can index (2**63 bytes), and the message would blame the input, not the budget."""
    if size > MAX_BUDGET:  # inf too: "1e400GiB"
        raise UsageError(f"a memory budget of {given} is beyond any machine: a budget is at most "
                         "2**60 bytes (1 EiB = 1,048,576 TiB); give the memory of the device that "
                         "trains, e.g. '80GiB' (CLI: --budget 80GiB).")
    return int(size)


def training_memory(model: nn.Module, input_size=(3, 224, 224), batch_size: int = 1,
                    optimizer: str = "momentum", dtype: torch.dtype | None = None,
                    amp: bool = False, inference: bool = True,
                    weight_decay: float | None = None, nesterov: bool = False) -> MemoryReport:
    """Predict the memory of one training step (forward, backward, optimizer step) and of an
    inference forward, from the tensors PyTorch allocates and frees on shape-only tensors.
    ``weight_decay`` (None: the optimizer's default) and ``nesterov`` (with ``"momentum"``)
    are the optimizer's own arguments: SGD, Adam and RMSprop add weight decay into a copy of
    each gradient, as nesterov does, and that copy can make the step's peak."""
    _check_precision(dtype, amp)
    spec = make_spec(input_size, batch_size=batch_size,
                     dtype=dtype if dtype is not None and not amp else torch.float32)
    # an integer dtype is the inputs' alone (token ids for an nn.Embedding), as in analyze
    weights = dtype if dtype is None or dtype.is_floating_point else None
    return predict(model, spec, optimizer, weights, amp, inference, weight_decay, nesterov)


def predict(model: nn.Module, spec, optimizer: str = "momentum",
            dtype: torch.dtype | None = None, amp: bool = False,
            inference: bool = True, weight_decay: float | None = None,
            nesterov: bool = False) -> MemoryReport:
    """``training_memory`` for an input already described by ``trace.inputs.make_spec``."""
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}.")
    if not isinstance(model, nn.Module):
        raise UsageError(f"training memory is predicted for a torch.nn.Module, got "
                         f"{type(model).__name__}.")
    _check_decay(optimizer, weight_decay, nesterov)
    _refuse_sparse_gradients(model)
    batch_size = spec.batch_size
    try:
        with quiet():  # torch's fake-tensor logger prints a traceback for every op that fails
            step = shape_only_step(model, spec, optimizer, dtype=dtype, amp=amp,
                                   weight_decay=weight_decay, nesterov=nesterov)
            backend = step.forward.meta["backend"]
            forward = simulate_inference(model, spec, dtype=dtype, amp=amp,
                                         backend=backend) if inference else None
    except TraceFailure as failure:
        raise _step_error(model, spec, failure) from failure.cause
    return memory_report(step, batch_size, forward)


def _refuse_sparse_gradients(model: nn.Module) -> None:
    """An embedding with ``sparse=True`` has a sparse gradient: its indices and values, a
    storage layout the simulation does not follow."""
    found = next(((name, type(m).__name__) for name, m in model.named_modules()
                  if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse
                  and m.weight.requires_grad), None)  # frozen: no gradient at all
    if found is not None:
        name, kind = found
        where = f"layer {name} ({kind})" if name else f"the model ({kind})"
        raise UsageError(f"{where} has sparse=True: its gradient is a sparse tensor, whose memory "
                         "convscope does not predict. Fix: predict it with sparse=False (a dense "
                         "gradient of the whole table instead), or leave the training step out "
                         "(CLI: summary --no-memory).")


def _check_precision(dtype, amp: bool) -> None:
    """The step converts the parameters to a floating ``dtype`` (or autocasts to it); an
    integer one is the inputs' alone."""
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise UsageError(f"dtype must be a torch.dtype such as torch.bfloat16, got {dtype!r}.")
    if amp and dtype not in (None, torch.bfloat16, torch.float16):
        name = str(dtype).removeprefix("torch.")
        raise UsageError(f"amp with dtype {name}: autocast on the CPU lowers the forward to "
                         "bfloat16 or float16 only; give one of them (CLI: --amp --dtype "
                         f"bfloat16), or leave amp off to train in {name}.")


def _step_error(model: nn.Module, spec, failure: TraceFailure):
    """The one error for a step that cannot run, with the smallest input that works where the
    size is the problem, as summary says it (traced at the model's own dtype)."""
    own = next((p.dtype for p in model.parameters() if p.is_floating_point()), spec.dtype)
    shapes = [list(a) for a in spec.args] if spec.shapes else []
    return diagnose(failure, model, input_shapes=shapes,
                    smallest=lambda: smallest_input(model, replace(spec, dtype=own)))


def _check_decay(optimizer: str, weight_decay: float | None, nesterov: bool) -> None:
    if weight_decay is not None and (not isinstance(weight_decay, numbers.Real)
                                     or not (math.isfinite(weight_decay) and weight_decay >= 0)):
        raise UsageError(f"weight decay must be 0 or more, got {weight_decay!r}; e.g. 5e-4.")
    if nesterov and optimizer != "momentum":
        raise UsageError(f"nesterov is a kind of momentum, and optimizer {optimizer!r} has "
                         "none: give optimizer momentum with it (CLI: --optimizer momentum "
                         "--nesterov).")


def largest_batch(model: nn.Module, input_size=(3, 224, 224), budget="16GiB",
                  optimizer: str = "momentum", dtype: torch.dtype | None = None,
                  amp: bool = False, weight_decay: float | None = None,
                  nesterov: bool = False) -> int:
    """The largest batch size whose predicted training peak fits in ``budget`` (0: none fits).

    The peak grows by a fixed amount per sample, so two predictions give the estimate and a few
    more confirm it exactly.
    """
    limit = parse_bytes(budget)

    def peak(batch: int) -> int:
        return training_memory(model, input_size, batch, optimizer, dtype, amp, inference=False,
                               weight_decay=weight_decay, nesterov=nesterov).train_peak_bytes

    one, two = peak(1), peak(2)
    if one > limit:
        return 0
    guess = 1 + (limit - one) // max(two - one, 1)
    if peak(guess) > limit:
        low, high = 1, guess
    elif peak(guess + 1) > limit:
        return guess
    else:  # not quite affine (e.g. a batch-independent workspace): widen, then bisect
        low, high = guess + 1, 2 * guess + 2
        while peak(high) <= limit:
            low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if peak(middle) <= limit else (low, middle)
    return low
