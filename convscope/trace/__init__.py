"""trace: the one place that runs torch. It runs the model on shape-only tensors and returns a Graph.

Backends, tried in this order:
- ``meta``: parameters and inputs on the meta device. Fastest; fails on models that mix in
  tensors they create on the CPU during forward.
- ``fake``: torch's FakeTensorMode, which pretends every tensor lives on the CPU.
- ``real`` (only when asked): real random inputs and the real parameters, for models whose
  control flow depends on tensor values. Costs a real forward.
The model itself is never changed: parameters and buffers are swapped for shape-only copies with
``torch.func.functional_call`` and the ``training`` flags are restored afterwards.
"""
from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass

import torch
from torch import nn

from ..graph import Graph, ModuleCall, Param
from .backends import BACKENDS, model_state, training_mode
from .inputs import InputSpec, materialise
from .modules import ModuleStack, flat_tensors
from .recorder import Recorder, tensor_meta


@dataclass
class TraceFailure(Exception):
    """The forward raised. Carries where: the module call stack, the failing op, the cause."""

    cause: BaseException
    calls: list[ModuleCall]
    node: object  # graph.Node of the failing op, or None if it failed outside an op
    backend: str
    nodes: tuple = ()  # the ops recorded before the failure, so producers can be named
    all_calls: tuple = ()  # every module call begun so far: what ``Node.call`` indexes

    def __str__(self):
        return f"{type(self.cause).__name__}: {self.cause}"


def _params(model: nn.Module) -> tuple[tuple[Param, ...], tuple[Param, ...]]:
    """Parameters and buffers with their owners, in ``named_parameters()`` and
    ``named_buffers()`` order (a tensor shared by two modules counts once, for the first).

    One walk over the modules' own tables: calling ``named_parameters(recurse=False)`` per
    module walks a generator stack each time, which cost more than the whole meta forward of a
    small model."""
    found: dict[str, list[Param]] = {"_parameters": [], "_buffers": []}
    for table, params in found.items():
        seen = set()
        for owner, module in model.named_modules():
            for local, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                name = f"{owner}.{local}" if owner else local
                params.append(Param(name, owner, tensor_meta(t), bool(t.requires_grad)))
    return tuple(found["_parameters"]), tuple(found["_buffers"])


def _call(index: int, record: dict) -> ModuleCall:
    refs = tuple(record["output"] or ())
    fields = {k: v for k, v in record.items() if k != "output"}
    return ModuleCall(index, **fields, outputs=tuple(r.meta for r in refs), output_refs=refs)


@contextlib.contextmanager
def no_gc():
    """The cyclic garbage collector off for one forward: a trace allocates many small records,
    and each collection they trigger scans every object of the model (2x on Inception v3).
    Nothing a trace makes lives in a cycle that needs the collector to free it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_trace(model: nn.Module, spec: InputSpec, *, train: bool, backend: str) -> Graph:
    """Run one forward of ``model`` under the recorder with the given backend."""
    mode, make, convert, like = BACKENDS[backend]()
    state = model_state(model, like, backend == "real")
    args, kwargs = materialise(spec, make, convert)
    param_names = {name for name, _ in model.named_parameters()}
    sources = {id(t): ("param" if name in param_names else "buffer", name)
               for name, t in state.items()}
    inputs = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    sources.update({id(t): ("input", i) for i, t in enumerate(inputs)})

    holder: dict = {}
    stack = ModuleStack(model, lambda out: holder["rec"].ref_outputs(flat_tensors(out)),
                        lambda: len(holder["rec"].nodes))
    recorder = Recorder(stack, sources)
    holder["rec"] = recorder
    try:
        with mode, torch.no_grad(), training_mode(model, train), stack, recorder, no_gc():
            output = torch.func.functional_call(model, state, args, kwargs, strict=False)
    except Exception as exc:
        chain = [_call(i, stack.calls[i]) for i in stack.stack]
        begun = tuple(_call(i, c) for i, c in enumerate(stack.calls))
        raise TraceFailure(exc, chain, recorder.failure, backend, tuple(recorder.nodes),
                           begun) from exc

    calls = tuple(_call(i, c) for i, c in enumerate(stack.calls))
    params, buffers = _params(model)
    return Graph(
        nodes=tuple(recorder.nodes),
        calls=calls,
        inputs=tuple(tensor_meta(t) for t in inputs),
        outputs=tuple(recorder.ref_outputs(flat_tensors(output))),
        params=params,
        buffers=buffers,
        model_type=type(model).__name__,
        train=train,
        meta={"backend": backend, "batch_size": spec.batch_size},
    )


def trace(model: nn.Module, spec: InputSpec, *, train: bool = False, real: bool = False) -> Graph:
    """Trace ``model`` on shape-only tensors (meta, then fake), or on real ones when ``real``."""
    if real:
        return run_trace(model, spec, train=train, backend="real")
    try:
        return run_trace(model, spec, train=train, backend="meta")
    except TraceFailure:
        return run_trace(model, spec, train=train, backend="fake")
