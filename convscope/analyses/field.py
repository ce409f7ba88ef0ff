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
        if self.whole or (kernel == 1 and stride == 1 and padding == 0 and exact):
            return self  # the whole axis, or a pointwise window (a 1x1 convolution's)
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
    # per axis, None, or (step, units) where a view merged the axis into one dim with others:
    # unit u of the axis is index u*step of that dim (a Linear on a channels-last [N, H, W, C]
    # flattens it to [N*H*W, C]: W has step 1, H step W). Empty: every axis is a dim of its own
    within: tuple[tuple[int, int] | None, ...] = ()

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

    def released(self, dims) -> "Field":
        """Every axis merged (``within``) into one of ``dims`` spread over its units and out of
        the dim: an op that slides, crops or joins along such a dim moves positions of several
        axes at once, which no field per axis can follow."""
        if not self.within or not any(w is not None and d in dims
                                      for w, d in zip(self.within, self.dims)):
            return self
        axes, kept, within = [], [], []
        for a, d, w, n in zip(self.axes, self.dims, self.within, self.input_size):
            merged = w is not None and d in dims
            axes.append(a.spread(w[1], n) if merged else a)
            kept.append(None if merged else d)
            within.append(None if merged else w)
        return replace(self, axes=tuple(axes), dims=tuple(kept), within=_within(within))

    def window(self, per_dim: dict[int, tuple]) -> "Field":
        """Apply (kernel, stride, padding, exact) to the axes held in the given dims."""
        if self.within:
            self = self.released(per_dim)  # noqa: PLW0642 (the same field, merged axes spread)
        axes, changed = [], False  # a loop, not a generator: every conv and pool comes here
        for a, d in zip(self.axes, self.dims):
            geometry = per_dim.get(d)
            moved = a if geometry is None else a.window(*geometry)
            changed = changed or moved is not a
            axes.append(moved)
        if not changed:  # a pointwise window: the field as it was
            return self
        return Field(tuple(axes), self.dims, self.input_size, self.aligned, self.known,
                     self.within)

    def spread(self, dims, shape: Sequence[int]) -> "Field":
        """Every unit of these dims now sees all of them (a reduction that keeps the dims)."""
        if not any(map(dims.__contains__, self.dims)):  # e.g. channels: no spatial axis touched
            return self
        if self.within:
            self = self.released(dims)  # noqa: PLW0642 (the same field, merged axes spread)
        axes = tuple(a.spread(shape[d], n) if d in dims else a
                     for a, d, n in zip(self.axes, self.dims, self.input_size))
        return replace(self, axes=axes)

    def shift(self, dim: int, offset, step=1) -> "Field":
        """Unit u of ``dim`` now reads unit u*step + offset (a crop, a split, a strided slice)."""
        if self.within:
            self = self.released({dim})  # noqa: PLW0642 (the same field, merged axes spread)
        axes = tuple(a.shift(offset).window(1, step, 0) if d == dim else a
                     for a, d in zip(self.axes, self.dims))
        return replace(self, axes=axes)

    def move(self, new_dim: Callable[[int], int | None], shape: Sequence[int]) -> "Field":
        """Relabel dims (view, permute, squeeze); an axis whose dim maps to None is merged away."""
        if not self.known:
            return self
        axes, dims, within = [], [], list(self.within or [None] * len(self.axes))
        for i, (a, d, n) in enumerate(zip(self.axes, self.dims, self.input_size)):
            target = None if d is None else new_dim(d)
            if d is not None and target is None:
                a = a.spread(within[i][1] if within[i] else shape[d], n)
                within[i] = None
            axes.append(a)
            dims.append(target)
        return replace(self, axes=tuple(axes), dims=tuple(dims), within=_within(within))

    def reshaped(self, src: Sequence[int], dst: Sequence[int]) -> "Field":
        """After a view of shape ``src`` as ``dst``. Each axis follows its units through the
        row-major index: into a dim of its own, into one dim with others (``within``), or, when
        they land in several dims, spread. A view back undoes a merge exactly: [N, H, W, C] ->
        [N*H*W, C] -> [N, H, W, C'] keeps every unit's field."""
        if not self.known:
            return self
        mapping = _reshape_map(list(src), list(dst))
        src_strides, dst_strides = _row_major(src), _row_major(dst)
        axes, dims, within = [], [], []
        for i, (a, d, n) in enumerate(zip(self.axes, self.dims, self.input_size)):
            w = self.within[i] if self.within else None
            target = inside = None
            if d is not None and w is None and d in mapping:  # a dim that survives as it is
                target = mapping[d]
            elif d is not None and (w is not None or src[d] > 1):
                step, units = w or (1, src[d])  # units at a row-major step: where do they land?
                target, step = _landing(src_strides[d] * step, units, dst, dst_strides)
                if target is not None and (step, units) != (1, dst[target]):
                    inside = (step, units)
            if d is not None and target is None:
                a = a.spread(w[1] if w else src[d], n)
            axes.append(a)
            dims.append(target)
            within.append(inside)
        return replace(self, axes=tuple(axes), dims=tuple(dims), within=_within(within))

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


def _within(within) -> tuple:
    return tuple(within) if any(w is not None for w in within) else ()


def _row_major(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def _landing(step: int, units: int, dst: Sequence[int], dst_strides: list[int]):
    """The dim of ``dst`` that holds all ``units`` positions at this row-major ``step`` (each
    dim's index is the row-major index // its stride % its size), and their step within it;
    (None, step) when they straddle two dims."""
    for j, (size, stride) in enumerate(zip(dst, dst_strides)):
        # the units fit in the dim, and its span is whole laps of them: none carries over
        span = stride * size
        if size > 1 and stride and step % stride == 0 and span % (step * units) == 0:
            return j, step // stride
    return None, step


def _reshape_map(src, dst) -> dict[int, int]:
    """Dims of ``src`` that survive a reshape to ``dst`` one to one: [1,C,H,W]->[1,g,C/g,H,W]."""
    mapping, i, j = {}, 0, 0
    while i < len(src) and j < len(dst):
        if src[i] == 1 and dst[j] != 1:
            i += 1
            continue
        if dst[j] == 1 and src[i] != 1:
            j += 1
            continue
        a, b, i0, j0 = src[i], dst[j], i, j
        while a != b and a and b:  # grow the side that is behind until the products meet
            if a < b and i + 1 < len(src):
                i += 1
                a *= src[i]
            elif b < a and j + 1 < len(dst):
                j += 1
                b *= dst[j]
            else:
                return mapping
        if a != b:
            return mapping
        if i == i0 and j == j0:
            mapping[i] = j
        i, j = i + 1, j + 1
    return mapping


def _merged_alike(paths, out_shape) -> tuple[list, tuple]:
    """Paths of which some hold merged axes (``within``), made to agree, and the ``within`` they
    share. Merged axes that reach the output along different dims (q @ k^T over flattened
    positions: q's in the rows, k's in the columns) are spread first: every output unit reads
    all of them, as before the merge was followed. Paths merged by different views, whose units
    do not line up, spread all their merged axes."""
    apart = set()
    for index in range(len(paths[0][0].axes)):
        targets = {f.dims[index] + len(out_shape) - len(shape) for f, shape in paths
                   if f.dims[index] is not None}
        if len(targets) > 1:
            apart.add(index)
    if apart:
        paths = [(f.released({f.dims[i] for i in apart if f.within and f.within[i]}), shape)
                 for f, shape in paths]
    within = {f.within for f, _ in paths}
    if len(within) > 1:
        return [(f.released(range(len(shape))), shape) for f, shape in paths], ()
    return paths, within.pop()


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
    within = ()
    if any(f.within for f, _ in paths):  # the common case, no view merged an axis, skips this
        paths, within = _merged_alike(paths, out_shape)
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
    return Field(tuple(axes), tuple(dims), first.input_size, aligned, within=within)
