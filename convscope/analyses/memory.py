"""Training and inference memory from recorded storage lifetimes (see ``trace.training``).

What is counted: every tensor PyTorch creates at the ATen-op level (op outputs, autograd's saved
tensors, gradients, optimizer state), from allocation until its last reference dies.
What is not: memory a kernel allocates and frees inside one op (oneDNN reorders, im2col columns),
allocator rounding and caching, and the Python/framework overhead. docs/memory.md says more.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .costs import count_ops
from .rows import build_rows


@dataclass(frozen=True)
class LayerSaved:
    name: str  # the row (module call or functional op) that saved the tensors
    occurrence: int  # 0 for the first row of that name, 1 for the second (a shared module), ...
    saved_bytes: int
    tensors: tuple[tuple[tuple[int, ...], str, str], ...]  # (shape, dtype, row that keeps it)


@dataclass(frozen=True)
class MemoryReport:
    batch_size: int
    optimizer: str
    param_bytes: int
    buffer_bytes: int
    input_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    saved_activation_bytes: int  # unique storages autograd keeps, parameters and inputs excluded
    train_peak_bytes: int  # everything alive at the worst moment of a training step
    peak_phase: str  # forward, backward or step
    phase_peaks: dict[str, int]
    inference_peak_bytes: int | None = None
    layers: tuple[LayerSaved, ...] = field(default_factory=tuple)

    @property
    def baseline_bytes(self) -> int:
        return self.param_bytes + self.buffer_bytes + self.input_bytes + self.optimizer_bytes


def peak_over_baseline(events) -> tuple[int, str, dict[str, int]]:
    """The largest number of bytes alive beyond the baseline, the phase it happens in, and the
    largest per phase."""
    live, peak, where, phases = 0, 0, "forward", Counter()
    for event in events:
        live += event.delta
        phases[event.phase] = max(phases[event.phase], live)
        if live > peak:
            peak, where = live, event.phase
    return peak, where, dict(phases)


def saved_by_layer(trace) -> tuple[LayerSaved, ...]:
    """Unique saved activation storages per row of the training forward (rows as ``summary``
    builds them), each counted at the row that produced it: a layer's saved bytes are its own
    outputs that autograd keeps for backward (a conv output kept by the BatchNorm after it)."""
    graph = trace.forward
    owner, occurrence, seen_names = {}, {}, Counter()
    for row in build_rows(graph, count_ops(graph)):
        owner.update({index: row for index in row.nodes})
        occurrence[id(row)] = seen_names[row.name]
        seen_names[row.name] += 1
    seen: set[int] = set()
    per_row: dict[int, list] = {}
    rows = {}
    for saved in trace.saved:
        producer = _allocating_node(graph, saved.producer)
        if saved.source != "activation" or saved.storage in seen or producer not in owner:
            continue
        seen.add(saved.storage)
        row = owner[producer]
        rows[id(row)] = row
        kept_for = owner[saved.node].name if saved.node in owner else "?"
        per_row.setdefault(id(row), []).append((saved, kept_for))
    return tuple(
        LayerSaved(rows[key].name, occurrence[key], sum(s.nbytes for s, _ in items),
                   tuple((s.shape, s.dtype, op) for s, op in items))
        for key, items in per_row.items()
    )


def _allocating_node(graph, index: int | None) -> int | None:
    """Follow views back to the op that allocated the storage (a Linear keeps the flattened view
    of a pooling output: the bytes are the pooling layer's)."""
    while index is not None and graph.nodes[index].view:
        sources = [r for r in graph.nodes[index].refs if r.kind == "node"]
        index = sources[0].source if sources else None
    return index


def memory_report(trace, batch_size: int, inference_events=None) -> MemoryReport:
    peak, phase, phases = peak_over_baseline(trace.events)
    grads = {e.storage: e.delta for e in trace.events if e.delta > 0
             and e.storage in trace.grad_storages}
    # a tensor saved through a view (Linear's weight.t(), a flattened input) is no parameter or
    # input by identity, but its storage is: only storages the forward allocated are activations
    made = {e.storage for e in trace.events if e.delta > 0 and e.phase == "forward"}
    saved = {s.storage: s.nbytes for s in trace.saved
             if s.source == "activation" and s.storage in made}
    base = trace.baseline
    baseline = base["params"] + base["buffers"] + base["inputs"] + base["optimizer"]
    inference = None
    if inference_events is not None:
        inference = base["params"] + base["buffers"] + base["inputs"] + peak_over_baseline(
            inference_events)[0]
    return MemoryReport(
        batch_size=batch_size, optimizer=trace.optimizer, param_bytes=base["params"],
        buffer_bytes=base["buffers"], input_bytes=base["inputs"],
        gradient_bytes=sum(grads.values()), optimizer_bytes=base["optimizer"],
        saved_activation_bytes=sum(saved.values()), train_peak_bytes=baseline + peak,
        peak_phase=phase, phase_peaks={k: baseline + v for k, v in phases.items()},
        inference_peak_bytes=inference, layers=saved_by_layer(trace),
    )


def attach_saved(rows, layers: tuple[LayerSaved, ...]):
    """``rows`` with ``saved_bytes`` filled from the training trace's rows of the same name."""
    from dataclasses import replace

    by_key = {(layer.name, layer.occurrence): layer.saved_bytes for layer in layers}
    seen: Counter = Counter()
    out = []
    for row in rows:
        out.append(replace(row, saved_bytes=by_key.get((row.name, seen[row.name]), 0)))
        seen[row.name] += 1
    return out
