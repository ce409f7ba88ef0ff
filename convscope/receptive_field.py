"""Receptive fields: ``compute`` reads them off the traced graph, ``measure`` finds them with
gradients on a real forward, the oracle the computed ones are tested against.

    >>> from convscope import receptive_field, zoo
    >>> receptive_field.compute(zoo.create("vgg16"), (3, 224, 224), "features.30").short()
    '212 s32'
    >>> receptive_field.measure(zoo.create("vgg16"), (3, 288, 288), "features.30").short()
    '212 s32'

``measure`` runs real torch on purpose, on a linear twin of the model (``convscope.linearise``:
float64, positive weights, activations as identity, max pooling as averaging), from positive
inputs that are not constant. It backpropagates from the middle unit of the layer and takes the
extent of the nonzero input gradient: the size and, from the first position, the padding; a
second unit one step further on gives the stride. The user's model is not changed.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import torch
from torch import nn

from .analyses.field import Axis, Field, whole_axis
from .analyses.receptive_field import ReceptiveFields, receptive_fields, row_output
from .errors import ModelError, UsageError, names_hint
from .linearise import linear_twin, positive, run_until

__all__ = ["Axis", "Field", "ReceptiveFields", "receptive_fields", "compute", "measure",
           "measure_layers"]


def compute(model: nn.Module, input_size, layer: str) -> Field:
    """The computed field of ``layer`` (a module, or a row name such as ``layer1.0.add_``)."""
    from .analyses.costs import count_ops
    from .analyses.rows import build_rows
    from .api import analyze

    graph = analyze(model, input_size).graph
    fields = receptive_fields(graph)
    for call in graph.calls:
        if call.name == layer and call.name and call.output_refs:
            return fields.of(call.output_refs[0])
    rows = {r.name: r for r in build_rows(graph, count_ops(graph))}
    if layer in rows:
        return fields.of(row_output(graph, rows[layer]))
    names = list(dict.fromkeys([c.name for c in graph.calls if c.name] + list(rows)))
    raise UsageError(f"no layer named {layer!r} in {type(model).__name__}. "
                     f"{closest(layer, names)}", layer=layer)


def measure(model: nn.Module, input_size, layer: str) -> Field:
    """The receptive field of module ``layer``, found with gradients (see the module docstring).

    ``input_size`` is one shape without batch, C x H x W (or C x L); choose it large enough that
    the field of the middle unit and of its neighbour fit inside it, else this raises
    ``ModelError``. A layer whose output has fewer dims than the input (flattened, pooled to a
    vector, linear) gives the union over all its outputs.
    """
    return measure_layers(model, input_size, [layer])[layer]


def measure_layers(model: nn.Module, input_size, layers: Sequence[str]) -> dict[str, Field]:
    """``measure`` for several layers at once: one forward, one backward per layer."""
    input_size, layers = tuple(input_size), list(layers)
    names = [n for n, _ in model.named_modules() if n]
    for layer in layers:
        if layer not in names:
            raise UsageError(f"no layer named {layer!r} in {type(model).__name__}. "
                             f"{closest(layer, names)} Layer names are qualified module names, "
                             "as `convscope summary` lists them.", layer=layer)
    twin = linear_twin(model, layers, input_size)
    modules = dict(twin.named_modules())
    source = _source(input_size)
    outputs = run_until(twin, [modules[name] for name in layers], source)
    return {layer: _field(twin, modules[layer], source, out, input_size, layer)
            for layer, out in zip(layers, outputs)}


def _field(twin, module, source, out, input_size, layer: str) -> Field:
    size, spatial = input_size[1:], len(input_size) - 1
    if out is None:
        raise UsageError(f"layer {layer} did not run in the forward.", layer=layer)
    if out.dim() != spatial + 2:  # flattened, pooled or linear: the union over every output
        grad = _gradient(source, out, [None])[0]
        return Field(tuple(_reduced(*_extent(grad, i), n) for i, n in enumerate(size)),
                     (None,) * spatial, size)
    lengths = out.shape[2:]
    middle = tuple((n - 1) // 2 for n in lengths)
    step = tuple(u + (n > 1) for u, n in zip(middle, lengths))  # one unit on, on every axis
    grad = _gradient(source, out, [middle, step])
    axes, sees_all = [], None
    for i, n in enumerate(size):
        (lo, hi), (lo1, hi1) = _extent(grad[0], i), _extent(grad[1], i)
        if 0 < lo and hi1 < n - 1 and lengths[i] > 1:
            stride = lo1 - lo
            axes.append(Axis(Fraction(hi - lo + 1), Fraction(stride),
                             Fraction(middle[i] * stride - lo)))
            continue
        sees_all = sees_all or _sees_all(twin, module, input_size, lengths)
        if sees_all[i]:
            axes.append(whole_axis(n))
        else:
            raise ModelError(
                f"the field of {layer} reaches the edge of the {'x'.join(map(str, input_size))} "
                f"input (positions {lo}..{hi} on spatial axis {i}), so it may be cut off: "
                "measure with a larger input.", layer=layer)
    return Field(tuple(axes), tuple(range(2, 2 + spatial)), size)


def _source(input_size) -> torch.Tensor:
    """Two positive inputs, not constant: a layer norm over the channels of a constant input
    gives a constant, and no gradient reaches the positions behind it."""
    values = positive((2, *input_size), torch.Generator().manual_seed(1))
    return values.requires_grad_()


def _gradient(source, out, units) -> torch.Tensor:
    """d(sum over channels of unit ``units[k]`` of sample k)/d input, for every k at once.

    The samples are independent (batch norm is the identity), so one backward does them all.
    Summing the channels makes a unit's field the union over its channels (concatenated paths).
    """
    total = sum(out[k].sum() if unit is None else out[(k, slice(None), *unit)].sum()
                for k, unit in enumerate(units))
    return torch.autograd.grad(total, source, retain_graph=True)[0]


def _extent(grad: torch.Tensor, axis: int) -> tuple[int, int]:
    """First and last input position along ``axis`` (0: the first spatial axis) with a gradient."""
    keep = axis + 1  # grad is [C, *spatial]
    hit = grad.abs().sum(dim=[d for d in range(grad.dim()) if d != keep]).nonzero().flatten()
    return int(hit[0]), int(hit[-1])


def _sees_all(twin, module, input_size, lengths) -> list[bool]:
    """Per axis, whether every unit sees all of it: the first unit reaches the end, and back."""
    source = _source(input_size)
    out = run_until(twin, [module], source)[0]
    grad = _gradient(source, out, [tuple(0 for _ in lengths), tuple(n - 1 for n in lengths)])
    return [_extent(grad[0], i)[1] == n - 1 and _extent(grad[1], i)[0] == 0
            for i, n in enumerate(input_size[1:])]


def _reduced(lo: int, hi: int, n: int) -> Axis:
    """A field with no spatial dim left: the union over every unit (global if it spans n)."""
    if lo == 0 and hi == n - 1:
        return whole_axis(n)
    return Axis(Fraction(hi - lo + 1), Fraction(0), Fraction(-lo))


def closest(name: str, names: list[str]) -> str:
    """``Did you mean: a, b?`` and the first names (``errors.names_hint``)."""
    return names_hint(name, names)
