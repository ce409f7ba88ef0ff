"""Layer calculators without a model: one conv or pool layer, built as PyTorch builds it, traced on
the meta device through ``analyze`` like any model, then explained with its own numbers.

    >>> calc = conv_calculation(ConvOptions(input=(3, 64, 64), out_channels=10, kernel=5, stride=2))
    >>> calc.output_shape
    (10, 30, 30)

PyTorch computes every shape (the "padding that keeps the size" is checked by running the conv
on meta tensors too); the formulas in the explanation must agree with it, and tests check that.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .analyses.validate import groups_text
from .analyses.explain import LayerExplanation, explain
from .analyses.windows import pixels
from .api import analyze
from .errors import UsageError


@dataclass(frozen=True)
class ConvOptions:
    input: tuple[int, ...]  # channels x spatial, without the batch
    out_channels: int
    kernel: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] | str = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    padding_mode: str = "zeros"
    bias: bool = True


@dataclass(frozen=True)
class PoolOptions:
    input: tuple[int, ...]
    kernel: int | tuple[int, ...]
    stride: int | tuple[int, ...] | None = None
    padding: int | tuple[int, ...] = 0
    ceil_mode: bool = False
    kind: str = "max"


@dataclass(frozen=True)
class Calculation:
    layer_repr: str  # Conv2d(3, 10, kernel_size=(5, 5), stride=(2, 2))
    input_text: str  # 3x64x64
    output_shape: tuple[int, ...]  # without the batch
    shapes: tuple[tuple[str, str], ...]  # ("weight shape", "[10, 3, 5, 5]  (out, in/groups, ...)")
    layer: LayerExplanation
    rf_line: str
    keep_line: str


def _per_dim(value, dims: int) -> tuple[int, ...]:
    return tuple(value) * (dims if len(tuple(value)) == 1 else 1) if isinstance(
        value, (tuple, list)) else (value,) * dims


def _dims(options_input) -> int:
    dims = len(options_input) - 1
    if dims not in (1, 2, 3):
        raise UsageError(f"--input {'x'.join(map(str, options_input))} has {len(options_input)} "
                         "dimensions; give channels and 1 to 3 spatial sizes, e.g. 3x64x64.")
    return dims


def _build_conv(o: ConvOptions, dims: int) -> nn.Module:
    channels = o.input[0]
    if channels % o.groups or o.out_channels % o.groups:
        raise UsageError(groups_text("--groups", channels, o.out_channels, o.groups))
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
    try:
        with torch.device("meta"):
            return cls(channels, o.out_channels, o.kernel, o.stride, o.padding, o.dilation,
                       o.groups, o.bias, o.padding_mode)
    except (ValueError, RuntimeError) as exc:
        if "same" in str(exc) and "strided" in str(exc):
            raise UsageError("--padding same needs --stride 1: PyTorch pads 'same' only for "
                             "stride 1. For a strided conv, the size-keeping line below "
                             "gives the padding TensorFlow's 'same' would use.") from None
        raise UsageError(f"cannot build the conv: {exc}.") from None


def _conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int | None:
    """Ask PyTorch: the output length of a 1-D conv on meta tensors (None: it does not run)."""
    x = torch.empty(1, 1, size, device="meta")
    weight = torch.empty(1, 1, kernel, device="meta")
    try:
        return F.conv1d(x, weight, stride=stride, padding=padding, dilation=dilation).shape[-1]
    except RuntimeError:
        return None


def _pool_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int | None:
    x = torch.empty(1, 1, size, device="meta")
    try:
        return F.max_pool1d(x, kernel, stride, padding, ceil_mode=ceil_mode).shape[-1]
    except RuntimeError:
        return None


def _keep_line(sizes, kernels, strides, dilations, run, max_padding=None) -> str:  # noqa: C901
    """The padding that keeps the size (stride 1) or gives ceil(H / S) (stride > 1), checked by
    running PyTorch; or why none exists."""
    found = []
    for h, k, s, d in zip(sizes, kernels, strides, dilations):
        target = -(-h // s)
        limit = d * (k - 1) if max_padding is None else max_padding(k)
        pads = [p for p in range(0, limit + 1) if run(h, k, s, p, d) == target]
        found.append((h, k, s, d, target, pads[0] if pads else None))
    h, k, s, d, target, pad = found[0]
    if any(f[5] is None for f in found):
        bad = next(f for f in found if f[5] is None)
        h, k, s, d = bad[:4]
        if s == 1 and max_padding is None:
            return (f"same size: no symmetric padding keeps {h}: D(K−1) = {d * (k - 1)} is odd "
                    f"(--padding same pads {d * (k - 1) // 2} before and "
                    f"{d * (k - 1) - d * (k - 1) // 2} after)")
        if s == 1:
            return (f"same size: no padding keeps {h}: a {k}-wide window needs {k - 1} rows of "
                    f"padding in all, which is odd (or more than the ⌊{k}/2⌋ PyTorch allows)")
        return f"same size: no padding gives ⌈{h}/{s}⌉ = {-(-h // s)} with this window"
    pads = [f[5] for f in found]
    pad_text = str(pads[0]) if len(set(pads)) == 1 else ",".join(map(str, pads))
    if all(f[2] == 1 for f in found):
        return (f"same size: padding={pad_text} keeps {'x'.join(str(f[0]) for f in found)} "
                f"(P = D(K−1)/2 = {d}·({k}−1)/2 = {pad})")
    outs = "x".join(str(f[4]) for f in found)
    if len(set(found)) > 1:  # axes of their own sizes or strides: each its own ceiling
        strides = "x".join(str(f[2]) for f in found)
        ceilings = " x ".join(f"⌈{f[0]}/{f[2]}⌉" for f in found)
        return (f"same size: no padding keeps the size at stride {strides}; padding={pad_text} "
                f"gives {ceilings} = {outs} (TensorFlow's 'same')")
    return (f"same size: no padding keeps the size at stride {s}; padding={pad_text} gives "
            f"⌈{h}/{s}⌉ = {target} ({outs}, TensorFlow's 'same')")


def _rf_line(kernels, dilations) -> str:
    k, d = kernels[0], dilations[0]
    sizes = "x".join(str(dd * (kk - 1) + 1) for kk, dd in zip(kernels, dilations))
    return (f"receptive field: one output unit sees {sizes} input {pixels(len(kernels))} "
            f"(D·(K−1) + 1 = {d}·({k}−1) + 1 = {d * (k - 1) + 1})")


def _calculation(name: str, layer: nn.Module, input_shape, shapes_for, keep_line,
                 rf_line) -> Calculation:
    """Analyse the layer as a one-layer model (errors are diagnosed as for any model), then
    explain it; ``keep_line`` is called only once the layer is known to run."""
    model = nn.Sequential(OrderedDict([(name, layer)]))
    with warnings.catch_warnings():  # padding='same' with an even kernel: a note about speed
        warnings.filterwarnings("ignore", message="Using padding='same'")
        report = analyze(model, tuple(input_shape), name=type(layer).__name__)
    explained = explain(report).layers[0]
    # the calculator states the receptive field and the size-keeping padding its own way
    explained = replace(explained,
                        lines=tuple(x for x in explained.lines if not x.startswith("receptive")),
                        notes=tuple(x for x in explained.notes
                                    if not x.startswith("this stride-1")))
    out = tuple(report.rows[0].output_shapes[0][1:])
    return Calculation(repr(layer), "x".join(map(str, input_shape)), out,
                       shapes_for(report), explained, rf_line, keep_line())


def conv_calculation(o: ConvOptions) -> Calculation:
    dims = _dims(o.input)
    layer = _build_conv(o, dims)
    kernels, strides = _per_dim(o.kernel, dims), _per_dim(o.stride, dims)
    dilations = _per_dim(o.dilation, dims)

    def shapes_for(report):
        params = {p.name.split(".")[-1]: list(p.meta.shape) for p in report.graph.params}
        shapes = [("weight shape", f"{params['weight']}  (out_channels, in_channels/groups, "
                   f"{', '.join(['k'] * dims)})")]
        shapes.append(("bias shape", f"{params['bias']}" if "bias" in params else "none"))
        return tuple(shapes)

    def keep():
        return _keep_line(o.input[1:], kernels, strides, dilations, _conv_out)

    return _calculation("conv", layer, o.input, shapes_for, keep, _rf_line(kernels, dilations))


def pool_calculation(o: PoolOptions) -> Calculation:
    dims = _dims(o.input)
    if o.kind not in ("max", "avg"):
        raise UsageError(f"--kind {o.kind!r} is not max or avg.")
    cls = {"max": (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
           "avg": (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)}[o.kind][dims - 1]
    layer = cls(o.kernel, o.stride, o.padding, ceil_mode=o.ceil_mode)
    kernels = _per_dim(o.kernel, dims)
    strides = _per_dim(o.stride if o.stride is not None else o.kernel, dims)
    ones = (1,) * dims

    def run(h, k, s, p, d):
        return _pool_out(h, k, s, p, o.ceil_mode)

    def keep():
        return _keep_line(o.input[1:], kernels, strides, ones, run, max_padding=lambda k: k // 2)

    return _calculation("pool", layer, o.input, lambda report: (("parameters", "none"),), keep,
                        _rf_line(kernels, ones))
