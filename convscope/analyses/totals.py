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
    return Totals(
        params=params,
        trainable_params=trainable,
        non_trainable_params=params - trainable,
        param_bytes=sum(p.meta.nbytes for p in graph.params),
        buffer_bytes=sum(b.meta.nbytes for b in graph.buffers),
        macs=costs.macs,
        other_flops=costs.other_flops,
        flops=2 * costs.macs + costs.other_flops,
        activation_bytes=activation_bytes(graph),
        input_bytes=sum(m.nbytes for m in graph.inputs),
        output_bytes=sum(r.meta.nbytes for r in graph.outputs),
    )
