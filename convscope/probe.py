"""Running the tracer for answers rather than reports.

- ``checked_trace``: trace once; a network that cannot run on the input raises one ConvscopeError
  naming the layer and the arithmetic (``analyses.diagnose``), before any report is made.
- ``checked_step``: the same for a whole training step, backward included (before training).
- ``smallest_input``: the smallest input size that runs, found by tracing at a few sizes.
- ``size_report``: which sizes pass every stride without dropping pixels (``analyses.sizes``).

PyTorch computes every shape here; convscope only chooses which sizes to ask about.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from math import lcm

from torch import nn

from .analyses.diagnose import classify, diagnose, with_pool_check
from .analyses.sizes import (SizeReport, dropped, period, size_report_from,
                             stretches_what_grows)
from .analyses.validate import check_graph, dims
from .errors import UsageError
from .graph import Graph
from .trace import TraceFailure, run_trace, trace
from .trace.inputs import InputSpec, can_hold

LIMIT = 4096  # largest side tried when looking for the smallest input
# failures no input size can mend: the search for the smallest input that runs stops at them
SIZE_FREE = ("channels", "groups", "padding", "rank", "inputs", "indices", "dtype", "data")
LARGEST_LISTED = 65536  # the largest ``limit`` a size report lists sizes up to


@contextlib.contextmanager
def quiet():
    """Silence torch's fake-tensor logger: it prints a traceback for every op that fails.
    Disabled rather than given a level: ``setLevel`` clears the cache of every logger in the
    process, twice an analysis (~1% of one)."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


def attempt(model: nn.Module, spec: InputSpec, *, train: bool = False,
            real: bool = False) -> Graph | TraceFailure:
    """The traced graph, or the TraceFailure (never raised)."""
    with quiet():
        try:
            return trace(model, spec, train=train, real=real)
        except TraceFailure as failure:
            return failure


def checked_trace(model: nn.Module, spec: InputSpec, *, train: bool = False,
                  real: bool = False, one_input: bool = False) -> Graph:
    """Trace, or raise the one error that says which layer cannot run and how to fix it.
    ``one_input``: the caller can feed only one tensor (training), so the advice differs."""
    result = attempt(model, spec, train=train, real=real)
    if isinstance(result, TraceFailure):
        shapes = [list(a) for a in spec.args] if spec.shapes else []
        raise diagnose(result, model, input_shapes=shapes, one_input=one_input,
                       smallest=lambda: smallest_input(model, spec)) from result.cause
    problem = check_graph(result)
    if problem is not None:
        raise problem
    return result


def checked_step(model: nn.Module, spec: InputSpec, *, one_input: bool = False) -> None:
    """Simulate one training step (meta tensors, no compute), or raise the one error that says
    why the real one would fail: a backward can refuse a model whose forward runs (an in-place op
    changing a tensor autograd saved for it)."""
    from .trace.training import shape_only_step

    try:
        with quiet():
            shape_only_step(model, spec)
    except TraceFailure as failure:
        shapes = [list(a) for a in spec.args] if spec.shapes else []
        raise diagnose(failure, model, input_shapes=shapes, one_input=one_input) \
            from failure.cause


def _at(spec: InputSpec, side: int) -> InputSpec:
    """``spec`` with every spatial dim of the first input set to ``side``, and of every other
    input of the first's shape (two views of one image, added together), which must follow it."""
    first = spec.args[0]
    resized = (first[0], *([side] * (len(first) - 1)))
    return replace(spec, args=tuple(resized if tuple(a) == tuple(first) else a
                                    for a in spec.args))


class _Sides:
    """Verdicts on square inputs of one model, each side traced once.

    A verdict is ok, small (a size collapsed, or too few features reached a Linear), large (too
    many features), broken (a failure no size mends: channels, dtype, ...) or other (a failure
    no rule names, which may be about the size). Sides are traced on the meta device first;
    only a failure that is not about size is retried with trace's fake-tensor fallback.
    """

    def __init__(self, model: nn.Module, spec: InputSpec):
        self.model, self.spec, self.seen = model, spec, {}

    def verdict(self, side: int) -> tuple[str, Graph | None]:
        if side not in self.seen:
            self.seen[side] = self._judge(side)
        return self.seen[side]

    def _judge(self, side: int) -> tuple[str, Graph | None]:
        spec = _at(self.spec, side)
        if not can_hold(spec):  # 65536 a side of 10^9 channels: no tensor that large exists
            return "large", None
        with quiet():
            try:
                return "ok", run_trace(self.model, spec, train=False, backend="meta")
            except TraceFailure as failure:
                found = classify(with_pool_check(failure, self.model))
        if found.kind == "collapse":
            return "small", None
        if found.kind == "features" and found.got is not None:
            return ("small" if found.got < found.expected else "large"), None
        result = attempt(self.model, spec)
        if isinstance(result, Graph):
            return "ok", result
        return ("broken" if found.kind in SIZE_FREE else "other"), None

    def first(self, low: int, high: int, want) -> int:
        """Smallest side in (low, high] whose verdict is in ``want``, by bisection: exact where
        the verdicts change once in that range, as they do for sizes that collapse."""
        while high - low > 1:
            middle = (low + high) // 2
            if self.verdict(middle)[0] in want:
                high = middle
            else:
                low = middle
        return high

    def smallest(self, runs_at: int | None = None) -> int | None:
        """The smallest side that runs. ``runs_at``: a side known to run (the given input);
        where the search below finds none, the sides up to it are tried one by one, since a
        model that runs at odd sides only (a PixelUnshuffle after a 2x2 conv) runs at no power
        of two."""
        found = self._doubling()
        if found is None and runs_at is not None:
            found = next((s for s in range(1, runs_at + 1) if self.verdict(s)[0] == "ok"), None)
        return found

    def _doubling(self) -> int | None:
        """Sides 1, 2, 4, ... until one runs, then a binary search below it. A failure that
        does not depend on the size (channels, dtype) stops the search; one that is not
        recognised (a 1-d max pool's collapse, a PixelUnshuffle or a slice given an odd size)
        may be about the size, so larger sides are tried."""
        side, previous = 1, 0
        while side <= LIMIT:
            verdict = self.verdict(side)[0]
            if verdict == "broken":
                return None
            if verdict not in ("small", "other"):
                break
            previous, side = side, side * 2
        else:
            return None
        side = self.first(previous, side, ("ok", "large", "broken"))
        return side if self.verdict(side)[0] == "ok" else None


def _largest(sides: _Sides, side: int, step: int, limit: int) -> int | None:
    """The largest side up to ``limit`` that runs, None when no side up to it is too large.

    A failure that repeats with the period (a PixelUnshuffle given an odd side) is not "too
    large": the sides side + k·step run or fail together for it, so the first of them that
    fails is too large, and the largest side that runs lies in the period before it. Reading
    every failure no rule names as "too large" once made PixelUnshuffle(2) with --max 33 say
    24. At most log2(limit / step) + step traces, and only when the limit does not run."""
    if sides.verdict(limit)[0] == "ok":
        return None
    low, high = 0, (limit - side) // step + 1  # side + low·step runs, side + high·step does not
    if sides.verdict(side + high * step)[0] == "ok":
        return None  # the first of them past the limit runs: none up to it is too large
    while high - low > 1:
        middle = (low + high) // 2
        if sides.verdict(side + middle * step)[0] == "ok":
            low = middle
        else:
            high = middle
    largest = next(s for s in range(side + high * step - 1, side + low * step - 1, -1)
                   if sides.verdict(s)[0] == "ok")
    return largest if largest <= limit else None  # one past the limit runs: not too large


def _check_limit(limit: int | None, smallest: tuple[int, ...]) -> None:
    """A ``limit`` the sizes can be listed up to: at least the smallest side that runs, and not
    so large that the list would not fit in memory."""
    side = smallest[-1]
    if limit is None or side <= limit <= LARGEST_LISTED:
        return
    if limit < side:
        raise UsageError(f"--max {limit} is below the smallest input that runs, "
                         f"{dims(smallest)}: give --max {side} or more.")
    raise UsageError(f"--max {limit:,} would list sizes up to {limit:,} pixels a side; give "
                     f"--max {LARGEST_LISTED} or less.")


def _square(spec: InputSpec) -> bool:
    return spec.first_shape is not None and len(spec.first_shape) >= 2


def smallest_input(model: nn.Module, spec: InputSpec) -> tuple[int, ...] | None:
    """The smallest square input (channels kept) that runs, or None if none up to LIMIT does."""
    side = _Sides(model, spec).smallest() if _square(spec) else None
    return tuple(_at(spec, side).args[0]) if side is not None else None


def size_report(model: nn.Module, spec: InputSpec, *, limit: int | None = None) -> SizeReport:
    """Smallest and largest input that run, and the sizes no stride drops pixels of.

    Traces about log2(limit) sizes to find the bounds, then one period of sizes (32 for VGG),
    past the small sides where a broadcast hides a mismatch larger ones have.
    """
    given = spec.first_shape
    at_given = attempt(model, spec)
    drops_given = dropped(at_given) if isinstance(at_given, Graph) else ()
    runs = isinstance(at_given, Graph)
    sides = _Sides(model, spec)
    square = _square(spec)
    known = given[1] if runs and square and len(set(given[1:])) == 1 else None  # runs, square
    side = sides.smallest(known) if square else None
    if side is None:
        return size_report_from(given, None, None, 1, {}, 0, drops_given, given_runs=runs)
    graph = sides.verdict(side)[1]
    # at the smallest side maps shrink to 1x1 and fields turn global (no stride left to read):
    # the given input's strides count too, and a multiple of the period is a period
    step = lcm(period(graph), period(at_given if runs else None))
    smallest = tuple(_at(spec, side).args[0])
    _check_limit(limit, smallest)
    # twice a huge input (1x10^9x10^9) would be traced past what a tensor can hold
    limit = limit or max(min(2 * max(given[1:]), LARGEST_LISTED), side + 8 * step)
    largest = _largest(sides, side, step, limit)
    # one period of sides, from the first after those where a broadcast hides a mismatch
    verdicts, start, candidate = {}, side, side
    while candidate < start + step and candidate <= (largest or limit):
        result = sides.verdict(candidate)[1]
        verdicts[candidate] = dropped(result) if result is not None else None
        if result is not None and runs and stretches_what_grows(result, at_given):
            start = candidate + 1
        sides.seen.pop(candidate)  # keep one graph at a time in memory
        candidate += 1
    return size_report_from(given, smallest, largest, step, verdicts, limit, drops_given, graph,
                            runs, periodic_from=start)
