"""Receptive fields of every tensor in a traced graph, relative to the model input.

Fields are computed forwards in node order: the input sees itself (r=1, S=1, P=0) and each op's
rule (``field_rules``) turns its arguments' fields into its outputs'. Where several paths meet
(add, mul, cat) the union is taken, so residual and inception networks come out right. The
spatial axes are the input's dims after batch and channels (H, W of NCHW; L of NCL); the first
model input with at least three dims is the reference, other inputs carry no field.

An op without a rule is assumed elementwise when its output has its input's shape (reported in
``assumed``) and makes the field unknown otherwise (reported in ``unknown``). A rule that fails
on odd arguments also gives unknown: never a crash, never a silent guess.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..graph import Graph, Ref
from .field import Axis, Field, merge, union  # noqa: F401  (re-exported)
from .field_rules import find_field_rule
from .field_rules.elementwise import elementwise
from .rows import Row, with_rf

_Key = tuple  # (ref kind, source, slot)


@dataclass(frozen=True)
class ReceptiveFields:
    """The field of every tensor that depends on the input, and the ops that were not followed."""

    by_ref: dict[_Key, Field]
    input_size: tuple[int, ...] | None  # the reference input's spatial size; None: no such input
    assumed: dict[str, int]  # op -> count: no rule, same shape in and out: taken as elementwise
    unknown: dict[str, int]  # op -> count: made a field unknown

    def of(self, ref: Ref | None) -> Field | None:
        return None if ref is None else self.by_ref.get((ref.kind, ref.source, ref.slot))

    def of_node(self, index: int, slot: int = 0) -> Field | None:
        return self.by_ref.get(("node", index, slot))


def _reference_input(graph: Graph) -> int | None:
    return next((i for i, m in enumerate(graph.inputs) if len(m.shape) >= 3), None)


def _fallback(node, field, assumed: Counter):
    paths = [(field(r), r.shape) for r in node.refs if field(r) is not None]
    shapes = {tuple(s) for _, s in paths}
    if all(tuple(m.shape) in shapes for m in node.outputs):
        assumed[node.op] += 1
        return merge(paths, node.outputs[0].shape)
    return paths[0][0].unknown()


def _passes_through(node, incoming) -> bool:
    """An elementwise op whose first argument is its one tensor with a known field, of its first
    output's shape (relu, batch norm, dropout): each output of that shape keeps the field, the
    others get none. ``union_of_args`` comes to the same, at several times the cost, for the ops
    a network runs most."""
    first = incoming[0]
    return (first is not None and first.known and not any(incoming[1:])
            and node.outputs[0].shape == node.refs[0].meta.shape)


def receptive_fields(graph: Graph) -> ReceptiveFields:
    """The receptive field of every op output (and module output) of ``graph``."""
    start = _reference_input(graph)
    if start is None:
        return ReceptiveFields({}, None, {}, {})
    shape = graph.inputs[start].shape
    fields: dict[_Key, Field] = {("input", start, 0): Field.of_input(shape, len(shape) - 2)}
    assumed, unknown = Counter(), Counter()

    known = fields.get
    bases: dict[_Key, _Key] = {}  # a view's output -> the tensor whose storage it shows

    def field(value):
        return known((value.kind, value.source, value.slot)) if type(value) is Ref else None

    for node in graph.nodes:
        if not node.outputs:
            continue
        if node.view and node.refs:  # in-place writes into its outputs land in its base
            first = node.refs[0]
            first = (first.kind, first.source, first.slot)
            for slot in range(len(node.outputs)):  # split and unbind: several views
                bases[("node", node.index, slot)] = bases.get(first, first)
        incoming = [known((r.kind, r.source, r.slot)) for r in node.refs]
        if not any(incoming):  # no argument depends on the input (a Field is always true)
            continue
        rule = find_field_rule(node)
        if rule is elementwise and _passes_through(node, incoming):
            f, shape = incoming[0], node.refs[0].meta.shape
            for slot, meta in enumerate(node.outputs):
                if meta.shape == shape:  # batch norm's saved statistics: no field
                    fields[("node", node.index, slot)] = f.settled(shape)
            continue
        try:
            out = rule(node, field) if rule else _fallback(node, field, assumed)
        except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
            out = next(f for f in incoming if f is not None).unknown()
        outs = out if isinstance(out, tuple) else (out,) * len(node.outputs)
        for slot, (f, meta) in enumerate(zip(outs, node.outputs)):
            if f is None:
                continue
            if not f.known and all(g is None or g.known for g in incoming):
                unknown[node.op] += 1
            fields[("node", node.index, slot)] = f.settled(meta.shape)
        if node.inplace and outs[0] is not None:
            _write_through(node, outs[0], bases, fields, unknown)
    return ReceptiveFields(fields, tuple(shape[2:]), dict(assumed), dict(unknown))


def _write_through(node, written, bases, fields, unknown: Counter) -> None:
    """An in-place op that wrote into a view (circular padding copies slices of its input into
    a new tensor) changed what the view's base holds. Later ops read the base: it keeps its
    field if the write brought the same field, and becomes unknown otherwise."""
    target = node.refs[0]
    base = bases.get((target.kind, target.source, target.slot))
    if base is None:
        return
    before = fields.get(base)
    if before is not None and (before is written or before == written):
        return
    fields[base] = (before or written).unknown()
    unknown[node.op] += 1


def row_output(graph: Graph, row: Row) -> Ref | None:
    """The tensor a row stands for: its op's first output, or its module call's first output."""
    if row.kind == "function":
        node = graph.nodes[row.nodes[0]]
        return Ref("node", node.index, 0, node.outputs[0]) if node.outputs else None
    if row.kind == "module":
        call = graph.calls[row.calls[0]]
    else:  # folded: the call of that name that holds the row's first op (depth 0: the model's
        first = min(row.nodes, default=0)  # own call, named "" but shown by its class name)
        name = row.name if row.depth else ""
        named = [c for c in graph.calls if c.name == name and c.first_node <= first]
        call = named[-1] if named else None
    return call.output_refs[0] if call is not None and call.output_refs else None


def with_receptive_fields(graph: Graph, rows: list[Row],
                          fields: ReceptiveFields | None = None) -> list[Row]:
    """The rows with ``rf`` filled from the field of each row's output."""
    fields = fields or receptive_fields(graph)
    if fields.input_size is None:
        return rows
    return [with_rf(row, fields.of(row_output(graph, row))) for row in rows]
