"""Receptive fields as data: which input positions one unit of a tensor sees, per spatial axis.

Along one axis a unit at position ``u`` sees the input positions

    u*stride - padding  ...  u*stride - padding + size - 1

(``size`` r, effective ``stride`` S, effective ``padding`` P; positions below 0 or past the input
are padding). A window op with kernel k (dilated: d*(k-1)+1), stride s and left padding p read
after a field (r, S, P) gives

    r' = r + (k - 1)*S        S' = s*S        P' = P + p*S

which is the classic backward recurrence r_in = s*r + (k - s), S_in = s*S, P_in = s*P + p, read
forwards from the input. Three 3x3 stride-1 convs: r = 1 + 2 + 2 + 2 = 7. A stride-2 3x3 conv then
a 3x3 conv: r = 1 + 2*1 + 2*2 = 7, S = 2.

Several paths (add, mul, cat) give the union: the widest extent. Paths are aligned when they have
the same stride and the same centre offset ``-P + (r - 1)/2``. Fractional strides (upsampling,
transposed convolution) are kept as ``Fraction`` and flagged ``exact=False``: the true field then
varies a little from unit to unit.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Callable, Sequence

from ..graph import record


@record
class Axis:
    """The field along one spatial axis of the model input; ``whole``: it is all of that axis."""

    size: int | Fraction
    stride: int | Fraction
    padding: int | Fraction
    whole: bool = False
    exact: bool = True

    @property
    def centre(self) -> Fraction:
        """Where unit 0's field is centred, in input positions: -P + (r - 1)/2."""
        return Fraction(self.twice_centre, 2)

    @property
    def twice_centre(self) -> int | Fraction:
        """2 x ``centre`` in the axis's own numbers: ``union`` compares paths by it, since a
        Fraction per axis cost a residual add ~40 us."""
        return self.size - 1 - 2 * self.padding

    def window(self, kernel, stride, padding, exact: bool = True) -> "Axis":
        """This field read by a window op (kernel k, stride s, left padding p)."""
        if self.whole:
            return self
        return Axis(self.size + (kernel - 1) * self.stride, self.stride * stride,
                    self.padding + padding * self.stride, exact=self.exact and exact)

    def shift(self, offset) -> "Axis":
        """Unit u now reads unit u + offset of this axis (padding removed, a crop, a split)."""
        return self if self.whole else replace(self, padding=self.padding - offset * self.stride)

    def spread(self, length: int, input_length: int) -> "Axis":
        """The union over ``length`` units: the axis was reduced, merged or broadcast."""
        if self.whole:
            return self
        lo = -self.padding  # unit 0's first position
        hi = (length - 1) * self.stride - self.padding + self.size - 1  # the last unit's last
        if lo <= 0 and hi >= input_length - 1:
            return whole_axis(input_length, self.exact)
        return Axis(hi - lo + 1, 0, -lo, exact=self.exact)

    def covers(self, input_length: int) -> bool:
        return self.whole or (-self.padding <= 0 and self.size - self.padding >= input_length)


def whole_axis(input_length: int, exact: bool = True) -> Axis:
    return Axis(input_length, 0, 0, whole=True, exact=exact)


# plain ints while every stride is whole (Fraction arithmetic costs ~50x more); a fractional
# stride (upsampling, transposed convolution) brings in Fractions, and they mix with ints
IDENTITY = Axis(1, 1, 0)


def union(axes: Sequence[Axis], input_length: int) -> tuple[Axis, bool]:
    """The widest extent of several paths' fields, and whether the paths are aligned."""
    if any(a.whole for a in axes):
        return whole_axis(input_length, all(a.exact for a in axes if a.whole)), True
    lo = min(-a.padding for a in axes)  # at unit 0
    hi = max(-a.padding + a.size - 1 for a in axes)
    strides = {a.stride for a in axes}
    aligned = len(strides) == 1 and len({a.twice_centre for a in axes}) == 1
    # different strides: the union is exact at unit 0 only, and grows or shrinks along the axis
    exact = len(strides) == 1 and all(a.exact for a in axes)
    return Axis(hi - lo + 1, max(strides), -lo, exact=exact), aligned


@record
class Field:
    """The receptive field of every unit of one tensor, relative to the model input.

    ``axes`` has one entry per spatial axis of the input (height, width); ``dims`` says which dim
    of this tensor holds each axis (None once reduced, flattened or pooled away).
    ``input_size`` is the input's spatial size. ``aligned`` is False when misaligned paths were
    merged on the way; ``known`` is False after an op convscope cannot follow.
    """

    axes: tuple[Axis, ...]
    dims: tuple[int | None, ...]
    input_size: tuple[int, ...]
    aligned: bool = True
    known: bool = True

    @classmethod
    def of_input(cls, shape: Sequence[int], spatial: int) -> "Field":
        """The model input itself: every unit sees itself (r=1, S=1, P=0)."""
        first = len(shape) - spatial
        return cls((IDENTITY,) * spatial, tuple(range(first, len(shape))), tuple(shape[first:]))

    def unknown(self) -> "Field":
        return Field((), (), self.input_size, aligned=self.aligned, known=False)

    @property
    def is_global(self) -> bool:
        return self.known and all(a.whole for a in self.axes)

    @property
    def exact(self) -> bool:
        return self.known and all(a.exact for a in self.axes)

    @property
    def exceeds_input(self) -> tuple[bool, ...]:
        return tuple(not a.whole and a.size > n for a, n in zip(self.axes, self.input_size))

    def window(self, per_dim: dict[int, tuple]) -> "Field":
        """Apply (kernel, stride, padding, exact) to the axes held in the given dims."""
        axes = []  # a loop, not a generator: every conv and pool of a network comes here
        for a, d in zip(self.axes, self.dims):
            geometry = per_dim.get(d)
            axes.append(a if geometry is None else a.window(*geometry))
        return Field(tuple(axes), self.dims, self.input_size, self.aligned, self.known)

    def spread(self, dims, shape: Sequence[int]) -> "Field":
        """Every unit of these dims now sees all of them (a reduction that keeps the dims)."""
        if not any(map(dims.__contains__, self.dims)):  # e.g. channels: no spatial axis touched
            return self
        axes = tuple(a.spread(shape[d], n) if d in dims else a
                     for a, d, n in zip(self.axes, self.dims, self.input_size))
        return replace(self, axes=axes)

    def shift(self, dim: int, offset, step=1) -> "Field":
        """Unit u of ``dim`` now reads unit u*step + offset (a crop, a split, a strided slice)."""
        axes = tuple(a.shift(offset).window(1, step, 0) if d == dim else a
                     for a, d in zip(self.axes, self.dims))
        return replace(self, axes=axes)

    def move(self, new_dim: Callable[[int], int | None], shape: Sequence[int]) -> "Field":
        """Relabel dims (view, permute, squeeze); an axis whose dim maps to None is merged away."""
        if not self.known:
            return self
        axes, dims = [], []
        for a, d, n in zip(self.axes, self.dims, self.input_size):
            target = None if d is None else new_dim(d)
            axes.append(a.spread(shape[d], n) if d is not None and target is None else a)
            dims.append(target)
        return replace(self, axes=tuple(axes), dims=tuple(dims))

    def settled(self, shape: Sequence[int]) -> "Field":
        """A unit alone on its axis (length 1) whose field covers the input sees all of it."""
        if not self.known:
            return self
        for d in self.dims:
            if d is None or shape[d] == 1:
                break
        else:  # every axis still spread over more than one unit: the common case, kept cheap
            return self
        axes = tuple(a.spread(1, n) if (d is None or shape[d] == 1) and a.covers(n) else a
                     for a, d, n in zip(self.axes, self.dims, self.input_size))
        if all(new is old for new, old in zip(axes, self.axes)):
            return self
        return replace(self, axes=axes)

    def column(self, attribute: str) -> str:
        """One attribute of every axis as text: ``7`` when the axes agree, else ``HxW``."""
        return pair([("all" if attribute == "size" else "-") if a.whole else
                     number(getattr(a, attribute)) for a in self.axes])

    def short(self) -> str:
        """A table cell: ``212 s32``, ``7x1 s1``, ``global``, ``~13 s1/2``, ``?`` (unknown)."""
        if not self.known:
            return "?"
        if self.is_global:
            return "global"
        text = f"{'' if self.exact else '~'}{self.column('size')} s{self.column('stride')}"
        return text if self.aligned else text + " misaligned"

    def to_dict(self) -> dict:
        """The JSON ``rf`` object (docs/json-schema.md): per-axis lists, null on a global axis."""
        if not self.known:
            return {"known": False, "size": None, "stride": None, "padding": None,
                    "centre": None, "global": False, "aligned": self.aligned, "exact": False,
                    "exceeds_input": None}

        def per_axis(attribute):
            return [None if a.whole else json_number(getattr(a, attribute)) for a in self.axes]

        return {"known": True, "size": [json_number(a.size) for a in self.axes],
                "stride": per_axis("stride"), "padding": per_axis("padding"),
                "centre": per_axis("centre"), "global": self.is_global, "aligned": self.aligned,
                "exact": self.exact, "exceeds_input": list(self.exceeds_input)}


def number(value) -> str:
    """``7``, ``3.5``, or ``1/2`` for a fractional stride below one."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}" if abs(value) < 1 else f"{float(value):.4g}"


def json_number(value) -> int | float:
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else round(float(value), 6)


def pair(values: list[str]) -> str:
    return values[0] if len(set(values)) == 1 else "x".join(values)


def merge(paths: Sequence[tuple[Field, Sequence[int]]], out_shape: Sequence[int]) -> Field | None:
    """The union of several (field, tensor shape) paths broadcast to ``out_shape`` (add, cat)."""
    if not paths:
        return None
    first, out = paths[0][0], tuple(out_shape)
    if len(paths) == 1 and tuple(paths[0][1]) == out:
        return first  # a unary op (relu, batch norm): nothing to merge
    if all(tuple(shape) == out and (f is first or f == first) for f, shape in paths):
        return first  # x + x
    if not all(f.known for f, _ in paths):
        return first.unknown()
    axes, dims, aligned = [], [], all(f.aligned for f, _ in paths)
    for index, n in enumerate(first.input_size):
        parts, targets = [], set()
        for f, shape in paths:
            a, d = f.axes[index], f.dims[index]
            if d is not None:
                d += len(out_shape) - len(shape)  # broadcasting aligns dims from the right
                targets.add(d)
                if shape[d - len(out_shape) + len(shape)] == 1 and out_shape[d] != 1:
                    a = a if a.whole else replace(a, stride=0)  # broadcast: one unit
            parts.append(a)
        if len(targets) > 1:  # the same input axis along two different dims: a transpose
            return first.unknown()
        axis, same = union(parts, n)
        axes.append(axis)
        dims.append(targets.pop() if targets else None)
        aligned = aligned and same
    return Field(tuple(axes), tuple(dims), first.input_size, aligned)
