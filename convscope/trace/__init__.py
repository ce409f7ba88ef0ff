"""trace: the one place that runs torch. It runs the model on shape-only tensors and returns a Graph.

Backends, tried in this order:
- ``meta``: parameters and inputs on the meta device. Fastest; fails on models that mix in
  tensors they create on the CPU during forward.
- ``fake``: torch's FakeTensorMode, which pretends every tensor lives on the CPU.
- ``real`` (only when asked): real random inputs and the real parameters, for models whose
  control flow depends on tensor values. Costs a real forward.
The model itself is never changed: parameters and buffers are swapped for shape-only copies
(``state``; in a lowered trace each is made on its first read) and put back afterwards, with
the ``training`` flags and whatever the forward stored on a module.

Ops reach the recorder (``recorder``) through PyTorch's dispatcher, slow meta kernels answered by
``fastpaths`` (never on the real backend: there every op computes its values); on the meta
backend the common leaf modules (Conv2d, BatchNorm2d, ReLU, ReLU6) are recorded as the aten ops
their forward runs without running it (``lowering``). The shape-only kernels skip PyTorch's
check that an in-place op does not write into memory its elements share: ``overlap`` makes it.
Module attribution (``modules``) wraps each module's forward for the duration. A
``torch.compile``d model is traced as the module it wraps, its compiled submodules eagerly
(``compiled``): TorchDynamo would compile the recorder.
"""
from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UsageError, out_of_memory
from ..graph import Graph, ModuleCall
from ..tensors import flat_tensors
from .backends import BACKENDS
from .compiled import eager_compiled, uncompiled
from .inputs import InputSpec, input_tensors, materialise
from .lowering import lowering_allowed
from .modules import ModuleStack
from .recorder import Recorder, tensor_meta
from .state import (attributes_kept, copied_on_read, input_refs, sources_of, swapped,
                    training_flags, walk)


@dataclass
class TraceFailure(Exception):
    """The forward raised. Carries where: the module call stack, the failing op, the cause."""

    cause: BaseException
    calls: list[ModuleCall]
    node: object  # graph.Node of the failing op, or None if it failed outside an op
    backend: str
    nodes: tuple = ()  # the ops recorded before the failure, so producers can be named
    all_calls: tuple = ()  # every module call begun so far: what ``Node.call`` indexes
    inputs: tuple = ()  # refs of the tensor arguments of the innermost call, when it raised

    def __str__(self):
        return f"{type(self.cause).__name__}: {self.cause}"


def _call(index: int, record: list) -> ModuleCall:
    name, kind, parent, is_leaf, call_number, first_node, refs = record  # see ModuleStack
    refs = tuple(refs or ())  # None: the call never returned
    metas = (refs[0].meta,) if len(refs) == 1 else tuple([r.meta for r in refs])
    return ModuleCall(index, name, kind, parent, is_leaf, call_number, first_node, metas, refs)


def failure_of(exc: Exception, stack: ModuleStack, recorder: Recorder, backend: str,
               saved_by: int | None = None) -> TraceFailure:
    """The TraceFailure for ``exc``, raised by a forward under ``stack`` and ``recorder``: at the
    calls running when it was raised, or, for a backward that met a tensor an in-place op changed,
    at the op that saved it (``saved_by``, its node index) and that op's callers."""
    nodes = tuple(recorder.nodes)
    begun = tuple(_call(i, c) for i, c in enumerate(stack.calls))
    if saved_by is None:
        chain = [begun[i] for i in stack.stack]
        failed = stack.failed
        inputs = failed[1] if failed and stack.stack and failed[0] == stack.stack[-1] else ()
        return TraceFailure(exc, chain, recorder.failure, backend, nodes, begun, inputs)
    node = nodes[saved_by] if saved_by < len(nodes) else None
    chain, index = [], node.call if node is not None else None
    while index is not None:
        chain.append(begun[index])
        index = stack.calls[index][2]  # the caller's call
    return TraceFailure(exc, chain[::-1], node, backend, nodes, begun)


@contextlib.contextmanager
def no_gc():
    """The cyclic garbage collector off for one forward (and, in ``api.analyze``, the analyses
    after it): a trace allocates many small records, and each collection they trigger scans
    every object of the model (2x on Inception v3); a full one scans every object of the process.
    Nothing a trace makes lives in a cycle that needs the collector to free it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# a caller's inference mode would make the copies inference tensors and keep PyTorch from
# breaking composite ops (linear, matmul, layer_norm) into the ops our rules count
@torch.inference_mode(False)
def run_trace(model: nn.Module, spec: InputSpec, *, train: bool, backend: str,
              lower: bool = True) -> Graph:
    """Run one forward of ``model`` under the recorder with the given backend. ``lower``: record
    the common leaf modules without running their forward (``lowering``; meta backend only)."""
    model = uncompiled(model)
    mode, make, convert, like = BACKENDS[backend]()
    tensors = walk(model)
    args, kwargs = materialise(spec, make, convert)
    inputs = input_tensors(args, kwargs)
    real = backend == "real"
    lowerable = lower and backend == "meta" and lowering_allowed()
    # lowered leaves read only the shapes of their tensors: each copy is made on its first read.
    # On the real backend ``like`` copies: BatchNorm's running statistics, and whatever else the
    # forward writes into, stay as they were
    lazy = lowerable and bool(tensors.tables)
    state = copied_on_read(tensors, like) if lazy else swapped(tensors, like, like)
    stack = ModuleStack(tensors.modules)
    recorder = None
    try:
        with attributes_kept(tensors, whole=lazy), state as copies:
            if lazy:
                recorder = Recorder(stack, {**copies.refs, **input_refs(inputs)})
                copies.remember = recorder.add_source
            else:
                recorder = Recorder(stack, sources_of(copies, inputs), shape_only=not real)
            stack.attach(recorder.module_output, recorder.nodes.__len__,
                         recorder.record_lowered if lowerable else None)
            with mode, torch.no_grad(), training_flags(tensors, train), stack, recorder, \
                    eager_compiled(), no_gc():
                output = model(*args, **kwargs)
    except Exception as exc:
        if recorder is None:
            raise
        raise failure_of(exc, stack, recorder, backend) from exc

    return recorded_graph(model, tensors, stack, recorder, inputs, train=train,
                          meta={"backend": backend, "batch_size": spec.batch_size},
                          outputs=tuple(recorder.ref_outputs(flat_tensors(output))))


def recorded_graph(model: nn.Module, tensors, stack: ModuleStack, recorder: Recorder, inputs,
                   *, train: bool, meta: dict, outputs: tuple = ()) -> Graph:
    """The Graph of one recorded forward of ``model``: the ops ``recorder`` wrote, the module
    calls ``stack`` saw, and ``model``'s parameters and buffers (``tensors``, from ``walk``)."""
    return Graph(
        nodes=tuple(recorder.nodes),
        calls=tuple(_call(i, c) for i, c in enumerate(stack.calls)),
        inputs=tuple(tensor_meta(t) for t in inputs),
        outputs=outputs,
        params=tensors.params,
        buffers=tensors.buffers,
        model_type=type(model).__name__,
        train=train,
        meta=meta,
    )


def trace(model: nn.Module, spec: InputSpec, *, train: bool = False, real: bool = False) -> Graph:
    """Trace ``model`` on shape-only tensors (meta, then fake), or on real ones when ``real``."""
    if real:
        return _real_trace(model, spec, train)
    try:
        return run_trace(model, spec, train=train, backend="meta")
    except TraceFailure:
        return run_trace(model, spec, train=train, backend="fake")


def _real_trace(model: nn.Module, spec: InputSpec, train: bool) -> Graph:
    """A real forward, on copies of the input and weights; the random input and the forward's
    own draws (dropout) leave the global generator as it was."""
    meta = next((name for name, p in uncompiled(model).named_parameters() if p.is_meta), None)
    if meta is not None:
        raise UsageError(f"real=True runs a real forward, but the model's weights are shapes only "
                         f"(on the meta device, {meta} first): build it on the CPU, or leave "
                         "real out, which needs no weights.")
    try:
        with torch.random.fork_rng(devices=[]):
            return run_trace(model, spec, train=train, backend="real")
    except RuntimeError as exc:  # the random input itself, before any op was recorded
        if not out_of_memory(exc):
            raise
        raise UsageError(f"a real forward (real=True, CLI: --real) makes a real input of batch "
                         f"{spec.batch_size}, more than this machine's memory holds: use a "
                         "smaller batch, or leave real out (shape-only tensors take no "
                         "memory).") from None
