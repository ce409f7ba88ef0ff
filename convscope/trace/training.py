"""Run one training step (forward, loss, backward, optimizer step) on shape-only tensors and
record when every storage is allocated and freed.

Nothing here is a model of memory: the step is PyTorch's own, on meta tensors, so autograd keeps
exactly the tensors it keeps for real and frees them when it really does. A storage is "freed"
when its last reference dies (a weak reference on the storage tells us). The optimizer's state is
created before the recorded step, so it is a steady-state step, like every step but the first.

One thing a dispatch mode changes, and we put back: where two gradients of one tensor meet
(a residual, two heads on one trunk), autograd's engine adds the second into the first in place
when its buffer is the first's only owner, else the first into the second when the engine is the
second's only owner (``InputBuffer::accumulate``; a reentrant checkpoint's backward gets the
first from Python, which still holds it), but never while a dispatch mode is active. Left alone,
every such meeting would cost one more gradient-sized tensor than a real step allocates.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..graph import Graph
from . import TraceFailure, _call, failure_of
from .fastpaths import run_op
from .backends import BACKENDS
from .compiled import eager_compiled, uncompiled
from .inputs import InputSpec, materialise
from .modules import ModuleStack, flat_tensors
from .recorder import EagerMode, Recorder
from .state import attributes_kept, sources_of, swapped, training_flags, walk

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
# Inception's RMSprop (seed 002): decay 0.9, epsilon 1.0; convscope train builds it too
RMSPROP_RECIPE = {"alpha": 0.9, "eps": 1.0}
_ADD = torch.ops.aten.add.Tensor


@dataclass(frozen=True)
class MemoryEvent:
    phase: str  # "forward", "backward", "step" or "inference"
    storage: int  # an id, unique within one trace
    delta: int  # + bytes allocated, - bytes freed
    node: int | None  # the forward node that allocated it, when in the forward


@dataclass(frozen=True)
class SavedTensor:
    """A tensor autograd saved for backward during the forward."""

    storage: int
    nbytes: int  # the storage's size: views of one storage count once
    shape: tuple[int, ...]
    dtype: str
    node: int | None  # the forward op that saved it (best effort: see ``_saving_node``)
    source: str  # "activation", "param", "input" or "buffer"
    producer: int | None = None  # the forward op whose output it is


@dataclass(frozen=True)
class TrainingTrace:
    forward: Graph  # the training-mode forward, as ``trace`` records it
    events: tuple[MemoryEvent, ...]  # the recorded step, in order
    saved: tuple[SavedTensor, ...]
    baseline: dict[str, int]  # bytes alive before the step: params, buffers, optimizer, inputs
    grad_storages: frozenset[int]
    optimizer: str


class StorageTracker(EagerMode):
    """Emits an allocation event for every new storage an op returns, and a free event when the
    storage dies. ``phase`` and ``node`` are set by the caller as the step moves on."""

    def __init__(self, recorder: Recorder | None = None,
                 sole_owner: tuple[tuple[int, int], tuple[int, int]] | None = None):
        super().__init__()
        self.events: list[MemoryEvent] = []
        self.phase = "forward"
        self.recording = True
        self._recorder = recorder
        self._alive: dict[int, weakref.ref] = {}
        self._sole_owner = sole_owner  # see ``sole_owner_counts``; None: add as the mode does

    def key(self, t: torch.Tensor) -> int:
        return t.untyped_storage()._cdata

    def _free(self, key: int, nbytes: int) -> None:
        if self._alive.pop(key, None) is not None and self.recording:
            self.events.append(MemoryEvent(self.phase, key, -nbytes, None))

    def track(self, t: torch.Tensor, node: int | None) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self._alive:
            return
        nbytes = storage.nbytes()
        self._alive[key] = weakref.ref(storage, lambda _, k=key, n=nbytes: self._free(k, n))
        if self.recording:
            self.events.append(MemoryEvent(self.phase, key, nbytes, node))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is _ADD and self.phase == "backward":
            func, args = self._accumulation(func, args, kwargs)
        out = run_op(func, args, kwargs or {})
        node = len(self._recorder.nodes) - 1 if self._recorder and self.phase == "forward" else None
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.track(t, node)
        return out

    def _accumulation(self, func, args, kwargs):
        """The op autograd's engine would run for this backward add of gradient ``new`` to
        ``old``, outside a mode: ``old += new`` when only the engine's buffer holds ``old``,
        ``new += old`` when only the engine holds ``new``, dense (contiguous or channels-last),
        of the same shape and dtype; else the add as it is. A backward formula adding to a
        temporary of its own looks the same; few do (atan2, lerp). Either way only the byte
        count differs: no tensor here holds data."""
        old, new = args[0], args[1]
        if (self._sole_owner is None or kwargs or type(new) is not type(old)
                or old.shape != new.shape or old.dtype != new.dtype or torch.is_grad_enabled()):
            return func, args
        for into, other, sole in ((old, new, self._sole_owner[0]),
                                  (new, old, self._sole_owner[1])):
            if owners(into) == sole and (into.is_contiguous() or
                                         into.is_contiguous(memory_format=torch.channels_last)):
                return torch.ops.aten.add_.Tensor, (into, other)
        return func, args


def owners(t: torch.Tensor) -> tuple[int, int]:
    """(references to the tensor, references to its storage), as C++ counts them."""
    return t._use_count(), torch._C._storage_Use_Count(t.untyped_storage()._cdata)


class _AccumulationProbe(TorchDispatchMode):
    counts: tuple[tuple[int, int], tuple[int, int]] | None = None  # of ``old``, of ``new``

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is _ADD and not torch.is_grad_enabled():
            self.counts = owners(args[0]), owners(args[1])
        return func(*args, **(kwargs or {}))


_SOLE_OWNER: dict[str, tuple | None] = {}  # by backend: the counts do not change in a process


def sole_owner(backend: str, make) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``sole_owner_counts`` for ``backend``, measured once (~1 ms a step otherwise)."""
    if backend not in _SOLE_OWNER:
        _SOLE_OWNER[backend] = sole_owner_counts(make)
    return _SOLE_OWNER[backend]


def sole_owner_counts(make) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``owners`` of two gradients that only autograd holds (in its buffer, and the one it adds),
    as a dispatch mode sees them (the mode and the dispatcher hold references of their own): two
    fresh gradients, of relu and sigmoid, meet at ``w`` and the engine adds them. Measured, not
    assumed, so that a PyTorch that counts differently leaves the step as the mode runs it
    instead of guessing; a PyTorch without these (private) counters leaves it so too.
    tests/analyses/test_memory.py pins the result against a measured step."""
    w = make((2,), torch.float32).requires_grad_()
    probe = _AccumulationProbe()
    try:
        with probe:
            (w.relu().sum() + w.sigmoid().sum()).backward()
    except AttributeError:  # no Tensor._use_count or torch._C._storage_Use_Count
        return None
    return probe.counts


def make_optimizer(name: str, params: list[torch.Tensor], weight_decay: float | None = None,
                   nesterov: bool = False) -> torch.optim.Optimizer:
    """The optimizers the CLI names, as a CPU training loop makes them (no foreach kernels).
    ``weight_decay`` None keeps the optimizer's own default (0; AdamW 0.01). It costs memory
    in SGD, Adam and RMSprop, whose step adds it into a new copy of each gradient (AdamW
    shrinks the weights in place), and so does ``nesterov`` (momentum only)."""
    decay = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, foreach=False, **decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=nesterov, foreach=False,
                               **decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=False, **decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, foreach=False, **decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=0.045, foreach=False, **RMSPROP_RECIPE, **decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


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


def _cast(like, dtype):
    def convert(t):
        copy = like(t)
        if dtype is not None and copy.is_floating_point() and copy.dtype != dtype:
            copy = copy.detach().to(dtype).requires_grad_(t.requires_grad)
        return copy

    return convert


def _source_of(t, sources) -> str:
    found = sources.get(id(t))
    return found.kind if found else "activation"


def simulate_step(model: nn.Module, spec: InputSpec, optimizer: str = "momentum", *,
                  dtype: torch.dtype | None = None, amp: bool = False,
                  backend: str = "meta", weight_decay: float | None = None,
                  nesterov: bool = False) -> TrainingTrace:
    """One steady-state training step on shape-only tensors, recorded (see module docstring)."""
    model = uncompiled(model)
    backend = "fake" if amp else backend  # autocast needs a device: fake tensors on the CPU
    mode, make, convert, like = BACKENDS[backend]()
    autocast = torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=amp)
    cast = _cast(like, None if amp else dtype)
    tensors = walk(model)
    args, kwargs = materialise(spec, make, convert)
    inputs = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    stack = ModuleStack(tensors.modules)
    saved: list[SavedTensor] = []

    with attributes_kept(tensors), swapped(tensors, cast, cast) as copies, mode, \
            training_flags(tensors, True), eager_compiled():
        sources = sources_of(copies, inputs)
        recorder = Recorder(stack, sources, keep_alive=False)
        stack.attach(recorder.module_output, recorder.nodes.__len__)
        tracker = StorageTracker(recorder, sole_owner(backend, make))

        def pack(t):
            node = None
            if tracker.recording and tracker.phase == "forward":
                storage, node = t.untyped_storage(), _saving_node(t)
                saved.append(SavedTensor(storage._cdata, storage.nbytes(), tuple(t.shape),
                                         str(t.dtype).removeprefix("torch."), node,
                                         _source_of(t, sources), recorder.producer_index(t)))
            return t, t._version, node

        def _saving_node(t) -> int:
            # autograd saves an op's inputs before the op runs, its outputs right after
            last = len(recorder.nodes) - 1
            made_by = recorder.producer_index(t)
            return last if made_by == last and last >= 0 else last + 1

        params = [t for _, _, t in copies if t.requires_grad]
        with tracker:
            tracker.recording = False
            for t in [*(t for _, _, t in copies), *inputs]:
                tracker.track(t, None)
            # a model with nothing to train (pooling only, or frozen) steps without one
            opt = make_optimizer(optimizer, params, weight_decay, nesterov) if params else None
            if opt is not None:
                _create_optimizer_state(opt, params)
            tracker.recording = True
            hooks = torch.autograd.graph.saved_tensors_hooks(pack, unchanged)
            # a step the model cannot take (BatchNorm on one value per channel) fails like a
            # trace, so that analyses.diagnose names the layer
            try:
                with stack, recorder, hooks, autocast:
                    output = model(*args, **kwargs)
                    loss = loss_of(output)
            except Exception as exc:
                raise failure_of(exc, stack, recorder, backend) from exc
            del output
            tracker.phase = "backward"
            if loss is not None and loss.requires_grad:  # else nothing for autograd to do
                try:
                    loss.backward()
                except SavedTensorChanged as exc:
                    raise failure_of(exc, stack, recorder, backend, saved_by=exc.node) from exc
            del loss
            tracker.phase = "step"
            # an optimizer keeps state only for parameters that had a gradient: none for a
            # branch the forward did not take (a ModuleDict route, an idle head)
            baseline = _baseline(tracker, copies, inputs, opt,
                                 [p for p in params if p.grad is not None])
            if opt is not None:
                opt.step()
            grad_keys = frozenset(tracker.key(p.grad) for p in params if p.grad is not None)
            if opt is not None:
                opt.zero_grad(set_to_none=True)
    forward = _forward_graph(model, tensors, recorder, stack, inputs, backend)
    return TrainingTrace(forward, tuple(tracker.events), tuple(saved), baseline, grad_keys,
                         optimizer)


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


class SavedTensorChanged(RuntimeError):
    """An in-place op changed a tensor autograd had saved for the backward. PyTorch's backward
    raises this (in its own words, which ours repeat) but skips the check for tensors packed by
    saved-tensor hooks, as the simulation's are: ``unchanged`` makes it."""

    def __init__(self, message: str, node: int | None):
        super().__init__(message)
        self.node = node  # the forward op that saved the tensor


def unchanged(packed) -> torch.Tensor:
    """The unpack hook: the saved tensor, if no in-place op changed it since it was saved."""
    t, version, node = packed
    if t._version != version:
        dtype = str(t.dtype).removeprefix("torch.")
        raise SavedTensorChanged(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{dtype} {list(t.shape)}] is at version {t._version}; "
            f"expected version {version} instead", node)
    return t


def _create_optimizer_state(opt, params) -> None:
    """Make the optimizer's state (momentum, Adam moments) as its first step does, so the
    recorded step is a steady-state one; gradients are stand-ins, freed right after."""
    for p in params:
        p.grad = torch.empty_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _baseline(tracker, copies, inputs, opt, stepped) -> dict[str, int]:
    """Bytes alive before the step; the optimizer's state of the ``stepped`` parameters only."""
    def total(tensors):
        seen = {tracker.key(t): t.untyped_storage().nbytes() for t in tensors}
        return sum(seen.values())

    optimizer_state = [] if opt is None else [v for p in stepped for v in opt.state[p].values()
                                              if isinstance(v, torch.Tensor)]
    return {
        "params": total([t for kind, _, t in copies if kind == "param"]),
        "buffers": total([t for kind, _, t in copies if kind == "buffer"]),
        "optimizer": total(optimizer_state),
        "inputs": total(inputs),
    }


def _forward_graph(model, tensors, recorder, stack, inputs, backend: str) -> Graph:
    from .recorder import tensor_meta

    calls = tuple(_call(i, c) for i, c in enumerate(stack.calls))
    return Graph(nodes=tuple(recorder.nodes), calls=calls,
                 inputs=tuple(tensor_meta(t) for t in inputs), outputs=(),
                 params=tensors.params, buffers=tensors.buffers,
                 model_type=type(model).__name__, train=True, meta={"backend": backend})


def simulate_inference(model: nn.Module, spec: InputSpec, *, dtype: torch.dtype | None = None,
                       amp: bool = False, backend: str = "meta") -> tuple[MemoryEvent, ...]:
    """One forward under ``torch.no_grad`` in eval mode; events beyond params, buffers, inputs."""
    model = uncompiled(model)
    backend = "fake" if amp else backend  # autocast needs a device: fake tensors on the CPU
    mode, make, convert, like = BACKENDS[backend]()
    autocast = torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=amp)
    cast = _cast(like, None if amp else dtype)
    tensors = walk(model)
    args, kwargs = materialise(spec, make, convert)
    tracker = StorageTracker()
    tracker.phase = "inference"
    with attributes_kept(tensors), swapped(tensors, cast, cast) as copies, mode, \
            training_flags(tensors, False), torch.no_grad(), tracker, autocast, eager_compiled():
        tracker.recording = False
        for t in [*(t for _, _, t in copies), *args, *kwargs.values()]:
            if isinstance(t, torch.Tensor):
                tracker.track(t, None)
        tracker.recording = True
        output = model(*args, **kwargs)
        del output
    return tuple(tracker.events)
