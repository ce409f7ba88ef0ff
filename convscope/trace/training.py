"""Run one training step (forward, loss, backward, optimizer step) on shape-only tensors and
record when every storage is allocated and freed.

Nothing here is a model of memory: the step is PyTorch's own, on meta tensors, so autograd keeps
exactly the tensors it keeps for real and frees them when it really does. A storage is "freed"
when its last reference dies (a weak reference on the storage tells us: ``storage``). The
optimizer's state is created before the recorded step, so it is a steady-state step, like every
step but the first.

One thing a dispatch mode changes, and we put back: where two gradients of one tensor meet (a
residual, two heads on one trunk), autograd's engine adds one into the other in place, but never
while a dispatch mode is active; left alone, every such meeting would cost one more
gradient-sized tensor than a real step allocates (``gradient_sums``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..graph import Graph
from ..tensors import flat_tensors
from . import TraceFailure, failure_of, recorded_graph
from .backends import BACKENDS
from .compiled import eager_compiled, uncompiled
from .gradient_sums import sole_owner
from .inputs import InputSpec, input_tensors, materialise
from .modules import ModuleStack
from .optimizers import create_optimizer_state, make_optimizer
from .recorder import Recorder
from .saved_tensors import SavedTensor, SavedTensorChanged, SavedTensorLog
from .state import ModelTensors, attributes_kept, sources_of, swapped, training_flags, walk
from .storage import MemoryEvent, StorageTracker


@dataclass(frozen=True)
class TrainingTrace:
    forward: Graph  # the training-mode forward, as ``trace`` records it
    events: tuple[MemoryEvent, ...]  # the recorded step, in order
    saved: tuple[SavedTensor, ...]
    baseline: dict[str, int]  # bytes alive before the step: params, buffers, optimizer, inputs
    grad_storages: frozenset[int]
    optimizer: str


def loss_of(output) -> torch.Tensor | None:
    """Cross-entropy against class 0 for [N, classes] outputs, the mean for any other output;
    several outputs (auxiliary heads) add their losses. None when no output is floating."""
    losses = []
    for out in flat_tensors(output):
        if not out.is_floating_point():
            continue
        if out.dim() == 2:
            target = torch.zeros(out.shape[0], dtype=torch.long, device=out.device)
            losses.append(nn.functional.cross_entropy(out, target))
        else:
            losses.append(out.mean())
    return sum(losses[1:], losses[0]) if losses else None


@dataclass(frozen=True)
class _ShapeOnly:
    """A model and its inputs, ready to run on a backend's shape-only tensors."""

    model: nn.Module  # uncompiled
    backend: str  # the one asked for, or "fake" under amp
    mode: object  # the backend's context manager
    make: Callable  # (shape, dtype) -> a shape-only tensor
    autocast: torch.autocast  # enabled under amp only
    cast: Callable  # a parameter or buffer -> its shape-only copy, in the run's dtype
    tensors: ModelTensors
    args: tuple
    kwargs: dict


def _shape_only(model: nn.Module, spec: InputSpec, dtype: torch.dtype | None, amp: bool,
                backend: str) -> _ShapeOnly:
    model = uncompiled(model)
    backend = "fake" if amp else backend  # autocast needs a device: fake tensors on the CPU
    mode, make, convert, like = BACKENDS[backend]()
    autocast = torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=amp)
    cast = _cast(like, None if amp else dtype)
    tensors = walk(model)
    args, kwargs = materialise(spec, make, convert)
    return _ShapeOnly(model, backend, mode, make, autocast, cast, tensors, args, kwargs)


def _cast(like, dtype):
    def convert(t):
        copy = like(t)
        if dtype is not None and copy.is_floating_point() and copy.dtype != dtype:
            copy = copy.detach().to(dtype).requires_grad_(t.requires_grad)
        return copy

    return convert


# a step runs its backward whatever the caller's grad mode (no_grad, inference_mode)
@torch.inference_mode(False)
@torch.enable_grad()
def simulate_step(model: nn.Module, spec: InputSpec, optimizer: str = "momentum", *,
                  dtype: torch.dtype | None = None, amp: bool = False,
                  backend: str = "meta", weight_decay: float | None = None,
                  nesterov: bool = False) -> TrainingTrace:
    """One steady-state training step on shape-only tensors, recorded (see module docstring)."""
    run = _shape_only(model, spec, dtype, amp, backend)
    inputs = input_tensors(run.args, run.kwargs)
    stack = ModuleStack(run.tensors.modules)

    with attributes_kept(run.tensors), swapped(run.tensors, run.cast, run.cast) as copies, \
            run.mode, training_flags(run.tensors, True), eager_compiled():
        sources = sources_of(copies, inputs)
        recorder = Recorder(stack, sources, keep_alive=False)
        stack.attach(recorder.module_output, recorder.nodes.__len__)
        tracker = StorageTracker(recorder, sole_owner(run.backend, run.make))
        log = SavedTensorLog(tracker, recorder, sources)
        params = [t for _, _, t, _ in copies if t.requires_grad]
        with tracker:
            tracker.recording = False
            for t in [*(t for _, _, t, _ in copies), *inputs]:
                tracker.track(t, None)
            # a model with nothing to train (pooling only, or frozen) steps without one
            opt = make_optimizer(optimizer, params, weight_decay, nesterov) if params else None
            if opt is not None:
                create_optimizer_state(opt, params)
            tracker.recording = True
            loss = _forward(run, stack, recorder, log.hooks())
            tracker.phase = "backward"
            _backward(loss, stack, recorder, run.backend)
            del loss
            tracker.phase = "step"
            baseline, grad_keys = _optimizer_step(tracker, copies, inputs, opt, params)
    forward = recorded_graph(run.model, run.tensors, stack, recorder, inputs, train=True,
                             meta={"backend": run.backend})
    return TrainingTrace(forward, tuple(tracker.events), tuple(log.saved), baseline, grad_keys,
                         optimizer)


def _forward(run: _ShapeOnly, stack, recorder, hooks) -> torch.Tensor | None:
    """The forward and its loss; the output is let go on return, while the tracker is still in
    the forward phase."""
    # a step the model cannot take (BatchNorm on one value per channel) fails like a
    # trace, so that analyses.diagnose names the layer
    try:
        with stack, recorder, hooks, run.autocast:
            output = run.model(*run.args, **run.kwargs)
            loss = loss_of(output)
    except Exception as exc:
        raise failure_of(exc, stack, recorder, run.backend) from exc
    return loss


def _backward(loss, stack, recorder, backend: str) -> None:
    if loss is not None and loss.requires_grad:  # else nothing for autograd to do
        try:
            loss.backward()
        except SavedTensorChanged as exc:
            raise failure_of(exc, stack, recorder, backend, saved_by=exc.node) from exc


def _optimizer_step(tracker, copies, inputs, opt, params) -> tuple[dict[str, int], frozenset]:
    """The optimizer's step: the bytes alive before it (``_baseline``) and the gradients'
    storages."""
    # an optimizer keeps state only for parameters that had a gradient: none for a
    # branch the forward did not take (a ModuleDict route, an idle head)
    baseline = _baseline(tracker, copies, inputs, opt, [p for p in params if p.grad is not None])
    if opt is not None:
        opt.step()
    grad_keys = frozenset(tracker.key(p.grad) for p in params if p.grad is not None)
    if opt is not None:
        opt.zero_grad(set_to_none=True)
    return baseline, grad_keys


def _baseline(tracker, copies, inputs, opt, stepped) -> dict[str, int]:
    """Bytes alive before the step; the optimizer's state of the ``stepped`` parameters only."""
    def total(tensors):
        seen = {tracker.key(t): t.untyped_storage().nbytes() for t in tensors}
        return sum(seen.values())

    optimizer_state = [] if opt is None else [v for p in stepped for v in opt.state[p].values()
                                              if isinstance(v, torch.Tensor)]
    return {
        "params": total([t for kind, _, t, _ in copies if kind == "param"]),
        "buffers": total([t for kind, _, t, _ in copies if kind == "buffer"]),
        "optimizer": total(optimizer_state),
        "inputs": total(inputs),
    }


def shape_only_step(model: nn.Module, spec: InputSpec, optimizer: str = "momentum", *,
                    dtype: torch.dtype | None = None, amp: bool = False,
                    weight_decay: float | None = None, nesterov: bool = False) -> TrainingTrace:
    """``simulate_step`` on meta tensors, or on fake ones where the forward makes a tensor on the
    CPU, as ``trace.trace`` falls back; ``.forward.meta["backend"]`` says which ran."""
    options = {"dtype": dtype, "amp": amp, "weight_decay": weight_decay, "nesterov": nesterov}
    try:
        return simulate_step(model, spec, optimizer, **options)
    except TraceFailure:
        return simulate_step(model, spec, optimizer, backend="fake", **options)


@torch.inference_mode(False)  # as run_trace: the same ops, whatever the caller's mode
def simulate_inference(model: nn.Module, spec: InputSpec, *, dtype: torch.dtype | None = None,
                       amp: bool = False, backend: str = "meta") -> tuple[MemoryEvent, ...]:
    """One forward under ``torch.no_grad`` in eval mode; events beyond params, buffers, inputs."""
    run = _shape_only(model, spec, dtype, amp, backend)
    tracker = StorageTracker()
    tracker.phase = "inference"
    with attributes_kept(run.tensors), swapped(run.tensors, run.cast, run.cast) as copies, \
            run.mode, training_flags(run.tensors, False), torch.no_grad(), tracker, \
            run.autocast, eager_compiled():
        tracker.recording = False
        for t in [*(t for _, _, t, _ in copies), *input_tensors(run.args, run.kwargs)]:
            tracker.track(t, None)
        tracker.recording = True
        output = run.model(*run.args, **run.kwargs)
        del output
    return tuple(tracker.events)
