"""The traced graph: small frozen records that need no torch to read.

``trace`` produces a ``Graph``; every analysis reads it and nothing else.

- ``TensorMeta``: shape, dtype and element size of one tensor.
- ``Ref``: where an op's tensor argument came from (an earlier node's output, a model input,
  a parameter, a buffer, or a constant made during the forward).
- ``Node``: one aten op as it ran: its arguments (tensors replaced by ``Ref``), its outputs, the
  module call it ran in, and whether it wrote in place or returned a view.
- ``ModuleCall``: one call of one module (a module called twice has two calls).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from math import prod
from typing import Any


@dataclass(frozen=True)
class TensorMeta:
    shape: tuple[int, ...]
    dtype: str
    itemsize: int

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass(frozen=True)
class Ref:
    """A tensor argument: ``kind`` is node|input|param|buffer|const; ``source`` its index or name."""

    kind: str
    source: int | str
    slot: int
    meta: TensorMeta

    @property
    def shape(self) -> tuple[int, ...]:
        return self.meta.shape


@cache  # rules ask several times per node: worked out once per op name
def _packet(op: str) -> str:
    return op.rsplit(".", 1)[0] if op.count(".") >= 2 else op


@dataclass(frozen=True)
class Node:
    index: int
    op: str  # "aten.convolution.default"
    args: tuple[Any, ...]  # tensors replaced by Ref, torch values by plain Python
    kwargs: dict[str, Any]
    outputs: tuple[TensorMeta, ...]
    call: int | None  # index into Graph.calls of the innermost module call, None at top level
    inplace: bool = False  # wrote into its first argument
    view: bool = False  # returned a view of an argument: allocates nothing
    # every tensor argument, positional then keyword, lists flattened: found while the recorder
    # converts the arguments, since every analysis walks them
    refs: tuple[Ref, ...] = field(default=(), repr=False, compare=False)

    @property
    def packet(self) -> str:
        """The op without its overload: ``aten.add.Tensor`` -> ``aten.add``."""
        return _packet(self.op)

    @property
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)


@dataclass(frozen=True)
class ModuleCall:
    index: int
    name: str  # qualified name, "" for the root model
    type: str  # class name
    parent: int | None
    is_leaf: bool  # the module has no child modules
    call_number: int  # 0 for the module's first call, 1 for its second, ...
    first_node: int  # index the call's first op gets (== len(nodes) when the call began)
    outputs: tuple[TensorMeta, ...] = ()
    output_refs: tuple[Ref, ...] = ()

    @property
    def depth(self) -> int:
        return 0 if not self.name else self.name.count(".") + 1


@dataclass(frozen=True)
class Param:
    name: str  # qualified name, "layer1.0.conv1.weight"
    module: str  # owner's qualified name
    meta: TensorMeta
    trainable: bool


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    calls: tuple[ModuleCall, ...]
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[Ref, ...]
    params: tuple[Param, ...]  # unique parameters of the model, used or not
    buffers: tuple[Param, ...]
    model_type: str
    train: bool
    meta: dict[str, Any] = field(default_factory=dict)

    def call_chain(self, call: int | None) -> list[ModuleCall]:
        """The module calls from the root down to ``call``."""
        chain = []
        while call is not None:
            chain.append(self.calls[call])
            call = self.calls[call].parent
        return chain[::-1]

    def producer(self, ref: Ref) -> Node | None:
        return self.nodes[ref.source] if ref.kind == "node" else None
