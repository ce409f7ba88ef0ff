"""The per-layer table: one row per leaf-module call and per functional op outside leaves.

A module that owns parameters directly (even one with children) also gets its own row, so every
used parameter lands in exactly one row; those of a module that is never called
(MultiheadAttention's ``out_proj``) land in the row of the first op that reads them.
``fold(rows, depth)`` merges deeper rows into their ancestor at ``depth``, as torchinfo's
``depth`` does.
"""
from __future__ import annotations

from dataclasses import replace

from ..graph import Graph, ModuleCall, Node, copier, record
from .costs import OpCosts


@record
class Row:
    name: str
    type: str
    depth: int  # 1 for a child of the model, 2 for a grandchild, ...
    output_shapes: tuple[tuple[int, ...], ...]
    params: int  # 0 on the second call of a shared module: parameters are counted once
    trainable_params: int
    macs: int
    other_flops: int  # bias, normalisation, pooling, activations, arithmetic
    output_bytes: int
    kind: str  # "module", "function" or "folded"
    shared: bool = False  # a later call of a module that already has a row
    calls: tuple[int, ...] = ()  # graph.calls this row covers
    nodes: tuple[int, ...] = ()  # graph.nodes this row covers
    rf: object = None  # receptive field, filled by analyses.receptive_field
    saved_bytes: int | None = None  # kept by autograd for backward; filled by analyses.memory

    @property
    def output_shape(self) -> list:
        shapes = [list(s) for s in self.output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.other_flops

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params


# ``replace(row, rf=rf)``, ~5x cheaper: every row of a report goes through it
with_rf = copier(Row, "rf")


def _own_params(graph: Graph) -> dict[str, tuple[int, int]]:
    """Module name -> (parameters it owns directly, of which trainable)."""
    owned: dict[str, tuple[int, int]] = {}
    for p in graph.params:
        total, trainable = owned.get(p.module, (0, 0))
        owned[p.module] = (total + p.meta.numel, trainable + p.meta.numel * p.trainable)
    return owned


def _borrowed_params(graph: Graph) -> dict[int, tuple[int, int]]:
    """Node index -> (parameters, of which trainable) of modules never called whose tensors
    this node is the first to read: nn.MultiheadAttention reads its ``out_proj``'s weight and
    bias itself, so that child has no call, and no row, of its own."""
    called = {call.name for call in graph.calls}
    orphans = {p.name: p for p in graph.params if p.module not in called}
    borrowed: dict[int, tuple[int, int]] = {}
    for node in graph.nodes if orphans else ():
        for ref in node.refs:
            p = orphans.pop(ref.source, None) if ref.kind == "param" else None
            if p is not None:
                total, trainable = borrowed.get(node.index, (0, 0))
                borrowed[node.index] = (total + p.meta.numel,
                                        trainable + p.meta.numel * p.trainable)
        if not orphans:
            break
    return borrowed


def _bytes(call: ModuleCall) -> int:
    """Bytes of a call's outputs, each tensor once: a module returning ``(y, y)`` made one."""
    refs = call.output_refs
    if len(refs) == 1:
        return refs[0].meta.nbytes
    return sum({(r.kind, r.source, r.slot): r.meta.nbytes for r in refs}.values())


def _owner_calls(graph: Graph, owned) -> set[int]:
    """Module calls that become rows: leaves, and calls of modules owning parameters directly."""
    return {c.index for c in graph.calls if c.is_leaf or c.name in owned}


def _call_depths(graph: Graph) -> list[int]:
    """The depth of every module call (the root model 0, its children 1), in one pass: a call's
    parent began before it."""
    depths: list[int] = []
    for call in graph.calls:
        depths.append(0 if call.parent is None else depths[call.parent] + 1)
    return depths


def _function_row(graph: Graph, node: Node, costs: OpCosts, depths: list[int],
                  params: tuple[int, int]) -> Row:
    short = node.packet.removeprefix("aten.")
    prefix = graph.calls[node.call].name if node.call is not None else ""
    cost = costs.per_node[node.index]
    return Row(
        name=f"{prefix}.{short}" if prefix else short, type=node.packet,
        depth=(0 if node.call is None else depths[node.call] + 1),
        output_shapes=tuple(m.shape for m in node.outputs),
        params=params[0], trainable_params=params[1], macs=cost.macs, other_flops=cost.flops,
        output_bytes=node.output_bytes if not node.view else 0, kind="function",
        calls=(), nodes=(node.index,),
    )


def build_rows(graph: Graph, costs: OpCosts) -> list[Row]:
    owned = _own_params(graph)
    owners = _owner_calls(graph, owned)
    depths = _call_depths(graph)
    borrowed = _borrowed_params(graph)
    direct: dict[int, list[int]] = {i: [] for i in owners}
    placed = []  # (sort key, row or call index)
    for node in graph.nodes:
        if node.call in owners:
            direct[node.call].append(node.index)
        elif node.outputs:
            placed.append(((node.index, 1, 0), _function_row(
                graph, node, costs, depths, borrowed.get(node.index, (0, 0)))))
    per_node = costs.per_node
    for index in owners:
        call = graph.calls[index]
        nodes = direct[index]
        params, trainable = owned.get(call.name, (0, 0))
        for i in nodes if borrowed else ():
            extra, extra_trainable = borrowed.get(i, (0, 0))
            params, trainable = params + extra, trainable + extra_trainable
        shared = call.call_number > 0 and params > 0
        if call.call_number > 0:
            params, trainable = 0, 0
        macs = flops = 0
        for i in nodes:  # one loop, not two sums over generators: a row per layer
            cost = per_node[i]
            macs += cost.macs
            flops += cost.flops
        row = Row(
            name=call.name or call.type, type=call.type, depth=depths[index],
            output_shapes=tuple([m.shape for m in call.outputs]), params=params,
            trainable_params=trainable, macs=macs, other_flops=flops,
            output_bytes=_bytes(call), kind="module", shared=shared,
            calls=(index,), nodes=tuple(nodes),
        )
        placed.append(((call.first_node, 0, index), row))
    return [row for _, row in sorted(placed, key=lambda item: item[0])]


def fold(graph: Graph, rows: list[Row], depth: int | None) -> list[Row]:
    """Merge rows deeper than ``depth`` into their ancestor module call at that depth, in call
    order, as torchinfo does: each op counts for the ancestor of the call it ran under. A
    module's parameters count for the row of its own name at that depth when there is one: a
    top-level ``act`` first called inside block ``b1`` (then by the model) gives ``b1`` the MACs
    of that call and ``act`` its parameters, so a block's row holds ``block.parameters()``."""
    if depth is None:
        return rows
    anchors = [_ancestor_at(graph, row, depth) for row in rows]
    folding = set(anchors)
    merged: dict[int, Row] = {}
    out: list[Row | int] = []
    moved: list[tuple[int, str, Row]] = []  # (anchor, name of the row its parameters go to, row)
    for row, anchor in zip(rows, anchors):
        if anchor is None and row.kind == "module" and row.calls[0] in folding:
            anchor = row.calls[0]  # the row of the parameters the anchor owns itself: one row
        if anchor is None:
            out.append(row)
            continue
        home = _home_name(graph, row, depth)
        if row.params and home is not None and home != graph.calls[anchor].name:
            moved.append((anchor, home, row))
            row = replace(row, params=0, trainable_params=0)
        if anchor not in merged:
            merged[anchor] = _folded_row(graph, anchor, depth, row)
            out.append(anchor)
        else:
            merged[anchor] = _absorb(merged[anchor], row)
    folded = [merged[item] if isinstance(item, int) else item for item in out]
    return _move_params(graph, folded, out, moved)


def _home_name(graph: Graph, row: Row, depth: int) -> str | None:
    """The name at ``depth`` of the module whose parameters a module row holds: ``act`` for
    ``act``, ``layer1`` for ``layer1.0.conv1`` at depth 1. None for a function row."""
    if row.kind != "module" or not row.calls:
        return None
    return ".".join(graph.calls[row.calls[0]].name.split(".")[:depth])


def _move_params(graph: Graph, folded: list[Row], out: list, moved: list) -> list[Row]:
    """Gives the parameters of each row in ``moved`` to the first row of their module's name, or
    back to the row its call folded into when that name has no row at this depth (a module only
    ever called inside another block is part of that block)."""
    if not moved:
        return folded
    position: dict[str, int] = {}
    for i, item in enumerate(out):
        call = item if isinstance(item, int) else (
            folded[i].calls[0] if folded[i].kind == "module" else None)
        if call is not None:
            position.setdefault(graph.calls[call].name, i)
    for anchor, home, row in moved:
        i = position.get(home, out.index(anchor))
        folded[i] = replace(folded[i], params=folded[i].params + row.params, shared=False,
                            trainable_params=folded[i].trainable_params + row.trainable_params)
    return folded


def _ancestor_at(graph: Graph, row: Row, depth: int) -> int | None:
    if row.depth <= depth:
        return None
    any_node = row.nodes[0] if row.nodes else None
    call = row.calls[0] if row.calls else graph.nodes[any_node].call
    chain = graph.call_chain(call)  # chain[d] is the call at depth d, chain[0] the model
    return chain[depth].index if len(chain) > depth else None


def _folded_row(graph: Graph, anchor: int, depth: int, first: Row) -> Row:
    """The row of module call ``anchor``, the ancestor at ``depth`` of the rows folded into it."""
    call = graph.calls[anchor]
    base = replace(first, params=0, trainable_params=0, macs=0, other_flops=0, calls=(), nodes=(),
                   saved_bytes=None, shared=False)
    folded = replace(base, name=call.name or call.type, type=call.type,
                     depth=depth,
                     output_shapes=tuple(m.shape for m in call.outputs),
                     output_bytes=_bytes(call), kind="folded", rf=None)
    return _absorb(folded, first)


def _absorb(into: Row, row: Row) -> Row:
    saved = None if into.saved_bytes is None and row.saved_bytes is None else (
        (into.saved_bytes or 0) + (row.saved_bytes or 0))
    params = into.params + row.params
    # "shared" says the row's parameters were counted on an earlier row: true only while it owns
    # none. A block that calls a shared layer and then its own conv is not shared.
    return replace(
        into, saved_bytes=saved, params=params, shared=(into.shared or row.shared) and not params,
        trainable_params=into.trainable_params + row.trainable_params,
        macs=into.macs + row.macs, other_flops=into.other_flops + row.other_flops,
        calls=into.calls + row.calls, nodes=into.nodes + row.nodes,
    )
