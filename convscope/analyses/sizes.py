"""Input sizes: which pass through every stride without dropping pixels.

A window op never looks at the last ``(H + 2P - D(K-1) - 1) mod S`` rows of its padded input;
when that is more than the padding P, real pixels are dropped. cs231n's advice "the input should
be divisible by 2 many times" is this rule for 2x2/2 pools without padding.

The pattern repeats: adding ``period`` = the largest product of strides along a path (32 for VGG)
to the input adds a multiple of S to every strided layer's input, so its remainder is unchanged.
``probe.size_report`` traces one period of sizes with PyTorch and hands the graphs to this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm

from ..graph import Graph
from .receptive_field import receptive_fields
from .windows import AXES, UNITS, own_dims, window_of


@dataclass(frozen=True)
class Drop:
    """One layer that never looks at the last ``rows`` rows (columns, ...) of its input."""

    layer: str
    type: str
    axis: str  # "height", "width", ...
    size: int  # the layer's input size along the axis
    span: str  # "25 + 2·0 − 1·(2−1) − 1 = 23"
    stride: int
    rows: int

    def text(self) -> str:
        unit = UNITS.get(self.axis, f"{self.axis} position")
        return (f"{self.layer} ({self.type}) never looks at the last {self.rows} {unit}"
                f"{'s' * (self.rows != 1)} of its {self.size}-{self.axis} input: {self.span} is "
                f"not divisible by {self.stride}")


@dataclass(frozen=True)
class Strided:
    layer: str
    type: str
    stride: tuple[int, ...]
    skips: bool  # window smaller than the stride (1x1 stride 2): skips rows by design


def _layer(graph: Graph, node) -> tuple[str, str]:
    call = graph.calls[node.call] if node.call is not None else None
    if call is None or not call.name:
        return node.packet.removeprefix("aten."), node.packet
    return call.name, call.type


def dropped(graph: Graph) -> tuple[Drop, ...]:
    """Every layer of ``graph`` that drops real pixels (windows that skip by design excluded).
    A 1-d layer's drops are in positions of its length, not columns of a 2-d op's width."""
    drops = []
    for node in graph.nodes:
        window = window_of(node)
        if window is None:
            continue
        size, own = node.args[0].shape[2:], own_dims(node, graph.producer(node.args[0]))
        for d in own:
            h = size[d]
            rest, real = window.unseen(h, d)
            if real and not window.skips(d):
                name, kind = _layer(graph, node)
                span = (f"{h} + 2·{window.padding[d]} − {window.dilation[d]}·({window.kernel[d]}−1)"
                        f" − 1 = {window.span(h, d)}")
                axis = AXES.get(len(own), ["dim"] * 3)[own.index(d)]
                drops.append(Drop(name, kind, axis, h, span, window.stride[d], real))
    return tuple(drops)


def strided(graph: Graph) -> tuple[Strided, ...]:
    found = []
    for node in graph.nodes:
        window = window_of(node)
        if window is not None and window.kind != "transposed" and max(window.stride) > 1:
            name, kind = _layer(graph, node)
            own = own_dims(node, graph.producer(node.args[0]))  # a 1-d pool: its one stride
            found.append(Strided(name, kind, tuple(window.stride[d] for d in own),
                                 any(window.skips(d) for d in own)))
    return tuple(found)


def period(graph: Graph | None) -> int:
    """Input sizes repeat their remainders every ``period`` pixels: lcm of jump x stride, with
    the jump (effective stride) of each window's input as ``convscope rf`` computes it, so a
    PixelUnshuffle, a strided slice or a 1-d pool on the way counts; and the jump of every
    tensor, so one with no window after it counts too (a PixelUnshuffle at the end fails on
    odd sides of its input: 2x2 pool then unshuffle runs at 4, 5, 8, 9, ..., a period of 4)."""
    if graph is None:
        return 1
    found, step = receptive_fields(graph), 1
    for i, node in enumerate(graph.nodes):
        window = window_of(node)
        field = found.of(node.args[0]) if window is not None and node.args else None
        if window is not None and window.kind != "transposed" and field is not None:
            step = lcm(step, _jump(field, window.stride))
        for slot in range(len(node.outputs)):
            field = found.of_node(i, slot)
            step = lcm(step, _jump(field, ()) if field is not None else 1)
    return step


def _jump(field, stride: tuple[int, ...]) -> int:
    """lcm over the axes of ``field`` of its jump x the window's ``stride`` (none: 1), along
    the axes a known field has not yet reduced to the whole input."""
    step = 1
    for axis, d in zip(field.axes, field.dims) if field.known else ():
        if axis.whole or d is None or (stride and not 0 <= d - 2 < len(stride)):
            continue
        jump = Fraction(axis.stride) * (stride[d - 2] if stride else 1)
        if jump.denominator == 1 and jump > 0:  # not after an upsampling (s1/2)
            step = lcm(step, int(jump))
    return step


@dataclass(frozen=True)
class SizeReport:
    given: tuple[int, ...] | None  # the input asked about, without batch
    smallest: tuple[int, ...] | None
    largest: int | None  # largest side that runs, None when any larger size runs too
    period: int
    clean: tuple[int, ...]  # sides up to ``limit`` that run and drop no pixel
    drops_given: tuple[Drop, ...]
    strided: tuple[Strided, ...] = ()
    limit: int = 0

    given_runs: bool = True
    gaps: bool = False  # some sides past the smallest do not run (a PixelUnshuffle's odd ones)

    periodic_from: int = 0  # sides from here repeat with the period; those before, as traced

    @property
    def rule(self) -> str:
        """The clean sides in words: "every size from 1", "multiples of 32", "only 32", ...;
        the sides before the pattern sets in first: "2, 4, 6, then multiples of 4"."""
        if not self.clean:
            return "none"
        before = [s for s in self.clean if s < self.periodic_from]
        after = [s for s in self.clean if s >= self.periodic_from]
        if not before:
            return self._periodic(after)
        listed = ", ".join(map(str, before))
        return f"{listed}, then {self._periodic(after)}" if after else f"only {listed}"

    def _periodic(self, clean: list[int]) -> str:
        first, top = clean[0], self.largest or self.limit
        if len(clean) == 1:
            return f"only {first}"
        if clean == list(range(first, top + 1)):
            return f"every size from {first}" + (f" to {top}" if self.largest else "")
        starts = sorted({s for s in clean if s < first + self.period})
        if len(starts) == 1:
            return f"multiples of {self.period}" if first % self.period == 0 else \
                f"every {self.period} from {first}"
        return f"{', '.join(map(str, starts))}, and every {self.period} after each"


def size_report_from(given, smallest, largest, step: int, verdicts: dict, limit: int,
                     drops_given, graph: Graph | None = None, given_runs: bool = True,
                     periodic_from: int = 0) -> SizeReport:
    """Extend the traced verdicts (side -> drops, None if it did not run) to ``limit``: the
    sides from ``periodic_from`` repeat with the period, those before it are as traced."""
    if smallest is None:
        return SizeReport(given, None, None, step, (), tuple(drops_given), given_runs=given_runs)
    side, top = smallest[1], largest or limit
    clean_residues = {s % step for s, drops in verdicts.items()
                      if drops == () and s >= periodic_from}
    clean = tuple(s for s in range(side, top + 1)
                  if (verdicts.get(s) == () if s < periodic_from else s % step in clean_residues))
    return SizeReport(given, smallest, largest, step, clean, tuple(drops_given),
                      strided(graph) if graph is not None else (), limit, given_runs,
                      any(drops is None for drops in verdicts.values()), periodic_from)


def stretches_what_grows(small: Graph, large: Graph) -> bool:
    """Whether ``small`` broadcasts a size-1 dim of a tensor that is larger in ``large`` (the
    same network at a larger input): sizes where that happens do not follow the period.
    ``x[..., ::2, ::2] + x[..., 1::2, 1::2]`` adds a 2-pixel map to a 1-pixel one at a 3-pixel
    input, and runs, though it fails at 5 (3 + 2). A per-channel scale ([N, C, 1, 1]) is 1 at
    every size and does not count. Graphs whose ops differ are not compared."""
    if len(small.nodes) != len(large.nodes) or \
            any(a.op != b.op for a, b in zip(small.nodes, large.nodes)):
        return False
    for a, b in zip(small.nodes, large.nodes):
        if len(a.refs) < 2 or len(a.outputs) != 1 or not _broadcasts(a):
            continue
        out = a.outputs[0].shape
        for ref, grown in zip(a.refs, b.refs):
            for k in range(1, min(len(ref.shape), len(out), len(grown.shape)) + 1):
                if ref.shape[-k] == 1 != out[-k] and grown.shape[-k] != 1:
                    return True
    return False


def _broadcasts(node) -> bool:
    """An elementwise op on broadcast tensors: its output has the broadcast shape of its
    tensor arguments. A padded conv that grows a 1x1 map, or a transposed one, does not."""
    if window_of(node) is not None:
        return False
    out, shapes = node.outputs[0].shape, [r.shape for r in node.refs]
    rank = max(len(s) for s in shapes)
    if len(out) != rank:
        return False
    for d in range(1, rank + 1):
        sizes = {s[-d] for s in shapes if len(s) >= d} - {1}
        if len(sizes) > 1 or out[-d] != (sizes.pop() if sizes else 1):
            return False
    return True
