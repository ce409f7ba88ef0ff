"""Whole-model totals: parameters, bytes, MACs and FLOPs."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..graph import Graph
from .costs import OpCosts, activation_bytes


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    buffer_bytes: int
    macs: int
    other_flops: int
    flops: int  # 2 x macs + other_flops
    activation_bytes: int  # every tensor the forward allocates
    input_bytes: int
    output_bytes: int
    train_peak_bytes: int | None = None  # one training step's peak, when memory was predicted

    @property
    def total_bytes(self) -> int:
        """Input, parameters, buffers and forward activations: torchinfo's estimated total size."""
        return self.input_bytes + self.param_bytes + self.buffer_bytes + self.activation_bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "total_bytes": self.total_bytes}


def compute_totals(graph: Graph, costs: OpCosts) -> Totals:
    params = sum(p.meta.numel for p in graph.params)
    trainable = sum(p.meta.numel for p in graph.params if p.trainable)
    macs, other_flops = costs.macs, costs.other_flops  # each a sum over every op: once
    return Totals(
        params=params,
        trainable_params=trainable,
        non_trainable_params=params - trainable,
        param_bytes=sum(p.meta.nbytes for p in graph.params),
        buffer_bytes=sum(b.meta.nbytes for b in graph.buffers),
        macs=macs,
        other_flops=other_flops,
        flops=2 * macs + other_flops,
        activation_bytes=activation_bytes(graph),
        input_bytes=sum(m.nbytes for m in graph.inputs),
        output_bytes=_output_bytes(graph),
    )


def _output_bytes(graph: Graph) -> int:
    """Bytes of the model's outputs, each tensor once: ``return x, x`` returns one tensor."""
    distinct = {(r.kind, r.source, r.slot): r.meta.nbytes for r in graph.outputs}
    return sum(distinct.values())


def unused_params(graph) -> tuple[int, list[str]]:
    """Parameters no op of the forward reads (a head left unused, a branch not taken): counted
    in Total params, as model.parameters() holds them, but in no row. Their count, and the
    outermost modules that hold only such parameters (Inception v3's ``AuxLogits``, not each
    of its layers)."""
    read = {ref.source for node in graph.nodes for ref in node.refs if ref.kind == "param"}
    unused = [p for p in graph.params if p.name not in read]
    left = {p.name for p in unused}

    def owner(module: str) -> str:
        parts = module.split(".") if module else []
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth]) + "."
            if all(p.name in left for p in graph.params if p.name.startswith(prefix)):
                return prefix[:-1]
        return module or "the model"

    return (sum(p.meta.numel for p in unused),
            list(dict.fromkeys(owner(p.module) for p in unused)))
