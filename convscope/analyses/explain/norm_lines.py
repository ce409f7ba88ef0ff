"""A normalisation layer's parameters and running statistics: the tensors its op really reads.

A default ``nn.BatchNorm2d(8)``::

    parameters = 2 × 8 = 16 (a scale γ and a shift β per channel), plus running mean and
    variance buffers 2 × 8

``affine=False`` has no γ and β, ``track_running_stats=False`` no running statistics, and
``nn.InstanceNorm2d(8)`` (both by default) neither, so the line is read from the op's arguments
rather than assumed from the channel count.
"""
from __future__ import annotations

from math import prod

from ...graph import Graph, Node, Ref

NORM_KINDS = ("batch_norm", "layer_norm", "group_norm")

# where the op takes γ, β and the running mean and variance (None: it takes none)
_ARGUMENTS = {"batch_norm": (1, 2, 3, 4), "layer_norm": (2, 3, None, None),
              "group_norm": (1, 2, None, None)}


def norm_kind(node: Node) -> str | None:
    return next((kind for kind in NORM_KINDS if kind in node.packet), None)


def norm_lines(graph: Graph, row, node: Node) -> list[str]:
    """``node``: the row's normalisation op (``norm_kind`` is not None)."""
    kind = norm_kind(node)
    gamma, beta, mean, var = (_stored(graph, node, i) for i in _ARGUMENTS[kind])
    params = _parameters_text(kind, gamma, beta) + _owner_note(graph, row, gamma or beta)
    if kind != "batch_norm":  # layer and group norm keep no statistics
        return [params]
    if mean is not None and var is not None:
        joint = ";" if gamma is None and beta is None else ", plus"
        return [f"{params}{joint} running mean and variance buffers 2 × {_dims(mean)}"]
    # batch norm without running statistics (instance norm's default) uses its input's own
    return [f"{params}; no running statistics (track_running_stats=False): it normalises with "
            f"the mean and variance of its input, in eval mode too"]


def _parameters_text(kind: str, gamma: Ref | None, beta: Ref | None) -> str:
    flag = "elementwise_affine=False" if kind == "layer_norm" else "affine=False"
    if gamma is None and beta is None:
        return f"no parameters ({flag}: no scale γ or shift β)"
    shape = tuple((gamma or beta).shape)
    # batch, instance and group norm: one γ per channel (instance norm's op sees N·C channels)
    per = ("per channel" if kind != "layer_norm" else
           f"per value of the normalised shape {list(shape)}")
    if gamma is not None and beta is not None:
        return (f"parameters = 2 × {_dims(gamma)} = {2 * prod(shape):,} (a scale γ and a shift β "
                f"{per})")
    what = (f"a scale γ {per}; no shift β: bias=False" if gamma is not None else
            f"a shift β {per}")
    factors = f"{_dims(gamma or beta)} = " if len(shape) > 1 else ""
    return f"parameters = {factors}{prod(shape):,} ({what})"


def _owner_note(graph: Graph, row, used: Ref | None) -> str:
    """A functional norm reads parameters its module owns: the summary counts them there."""
    if used is None or row.params or row.shared or used.kind != "param":
        return ""
    owner = next((p.module for p in graph.params if p.name == used.source), None)
    return "" if owner is None else f" (counted in the row of {owner or graph.model_type})"


def _stored(graph: Graph, node: Node, position: int | None) -> Ref | None:
    """The parameter or buffer the op's argument at ``position`` holds: directly, or through the
    one op between them (instance norm repeats γ, β and the statistics once per image)."""
    if position is None or position >= len(node.args):
        return None
    ref = node.args[position]
    if isinstance(ref, Ref) and ref.kind == "node":
        made = graph.nodes[ref.source]
        ref = made.refs[0] if made.refs else None
    return ref if isinstance(ref, Ref) and ref.kind in ("param", "buffer") else None


def _dims(ref: Ref) -> str:
    return " × ".join(map(str, ref.shape))
