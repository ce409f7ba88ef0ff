"""Sliding windows: convolution, pooling, adaptive pooling, resampling.

Each is the window rule r' = r + (k-1)*S, S' = s*S, P' = P + p*S on the input's last dims
(``Axis.window``); fractional strides (upsampling, transposed convolution) are estimates.
"""
from __future__ import annotations

import struct
from fractions import Fraction

from . import arg, field_rule, ints, spatial_count, window_last


@field_rule("aten.convolution", "aten._convolution")
def convolution(node, field):
    x, n = node.args[0], len(node.args[1].shape) - 2
    f = field(x)
    if f is not None and f.known:
        f = f.spread({len(x.shape) - n - 1}, x.shape)  # every output channel reads all channels
    if f is None or _pointwise(node, n):  # a 1x1 convolution's window moves no axis
        return f
    return window_last(node, lambda _: f, n, convolution_geometry(node))


_ONES, _ZEROS = {1: [1], 2: [1, 1], 3: [1, 1, 1]}, {1: [0], 2: [0, 0], 3: [0, 0, 0]}


def _pointwise(node, n: int) -> bool:
    """Kernel 1, stride 1, no padding, not transposed: the window rule leaves every axis as it
    was, whatever the dilation (half of MobileNetV2's convolutions). Read as the recorder
    writes a Conv2d's arguments; any other spelling goes through the rule."""
    args = node.args
    ones = _ONES.get(n)
    return (list(args[1].shape[2:]) == ones and args[3] == ones and args[4] == _ZEROS.get(n)
            and args[6] is False)


def convolution_geometry(node):
    """``geometry(i) -> (kernel, stride, padding, exact)`` along a convolution's spatial dim i
    (explain prints the step it adds to the field)."""
    kernel = node.args[1].shape[2:]
    n = len(kernel)
    stride, padding = ints(node.args[3], n), ints(node.args[4], n)
    dilation, transposed = ints(node.args[5], n), bool(node.args[6])

    def geometry(i):
        span = dilation[i] * (kernel[i] - 1) + 1  # dilated kernel
        if not transposed:
            return span, stride[i], padding[i], True
        # output o gathers inputs (o + p - j*d)/s: stride 1/s, exact only when s == 1
        s = Fraction(stride[i])
        return (span - 1) / s + 1, 1 / s, (span - 1 - padding[i]) / s, s == 1

    return geometry


@field_rule("aten.max_pool1d", "aten.max_pool2d", "aten.max_pool3d",
            "aten.max_pool1d_with_indices", "aten.max_pool2d_with_indices",
            "aten.max_pool3d_with_indices")
def max_pool(node, field):
    n = spatial_count(node)
    kernel = ints(node.args[1], n)
    stride = ints(arg(node, 2, "stride"), n) or kernel
    padding = ints(arg(node, 3, "padding", 0), n)
    dilation = ints(arg(node, 4, "dilation", 1), n)
    # ceil_mode only adds a last, partial window: every unit's field is unchanged
    return window_last(node, field, n, lambda i: (
        dilation[i] * (kernel[i] - 1) + 1, stride[i], padding[i], True))


@field_rule("aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d")
def avg_pool(node, field):
    n = spatial_count(node)
    kernel = ints(node.args[1], n)
    stride = ints(arg(node, 2, "stride"), n) or kernel
    padding = ints(arg(node, 3, "padding", 0), n)
    return window_last(node, field, n, lambda i: (kernel[i], stride[i], padding[i], True))


def _adaptive_window(n_in: int, n_out: int) -> tuple:
    """Unit i pools input [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)) (torch's formula)."""
    if n_in % n_out == 0:
        return n_in // n_out, n_in // n_out, 0, True  # equal windows: a plain pooling
    widest = max(-(-(i + 1) * n_in // n_out) - i * n_in // n_out for i in range(n_out))
    return widest, Fraction(n_in, n_out), 0, False  # windows of two widths: approximately


@field_rule("aten.adaptive_avg_pool1d", "aten._adaptive_avg_pool2d", "aten.adaptive_avg_pool2d",
            "aten._adaptive_avg_pool3d", "aten.adaptive_avg_pool3d", "aten.adaptive_max_pool1d",
            "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d")
def adaptive_pool(node, field):
    n = spatial_count(node)
    n_in, n_out = node.args[0].shape[-n:], node.outputs[0].shape[-n:]
    return window_last(node, field, n, lambda i: _adaptive_window(n_in[i], n_out[i]))


UPSAMPLE_OPS = ("aten.upsample_nearest1d", "aten.upsample_nearest2d", "aten.upsample_nearest3d",
                "aten._upsample_nearest_exact1d", "aten._upsample_nearest_exact2d",
                "aten._upsample_nearest_exact3d", "aten.upsample_linear1d",
                "aten.upsample_bilinear2d", "aten._upsample_bilinear2d_aa",
                "aten.upsample_trilinear3d", "aten.upsample_bicubic2d")


@field_rule(*UPSAMPLE_OPS)
def upsample(node, field):
    return window_last(node, field, spatial_count(node), upsample_geometry(node))


def upsample_taps(node) -> int:
    """Input values an output value reads along each axis: 1 (nearest), 2 (linear), 4 (cubic)."""
    return 1 if "nearest" in node.packet else 4 if "bicubic" in node.packet else 2


def upsample_geometry(node):
    """``geometry(i) -> (kernel, stride, padding, exact)`` along an upsampling's spatial dim i."""
    n = spatial_count(node)
    n_in, n_out = node.args[0].shape[-n:], node.outputs[0].shape[-n:]
    nearest, exact_mode = "nearest" in node.packet, "exact" in node.packet
    taps = upsample_taps(node)
    corners = not nearest and arg(node, 2, "align_corners") is True
    steps = [_step(scale) if scale else None for scale in upsample_scales(node)]

    def geometry(i):
        if corners and n_out[i] > 1:  # source = u*(n_in-1)/(n_out-1), taps around it
            return taps, Fraction(n_in[i] - 1, n_out[i] - 1), Fraction(taps - 1, 2), False
        s = steps[i] or Fraction(n_in[i], n_out[i])
        if nearest and not exact_mode:  # source = floor(u*s), but u itself or u >> 1 (torch's
            if n_out[i] in (n_in[i], 2 * n_in[i]):  # nearest_idx) at 1x and 2x whatever s
                s = Fraction(n_in[i], n_out[i])
            return 1, s, 0, s.denominator == 1
        if nearest and s.denominator == 1:  # nearest-exact: floor((u + 1/2)*s) = u*s + s // 2
            return 1, s, -(s.numerator // 2), True
        # source centre (u + 1/2)*s - 1/2, with taps around it
        return taps, s, Fraction(taps, 2) - s / 2, False

    return geometry


_SCALE_NAMES = {1: ("scales",), 2: ("scales_h", "scales_w"),
                3: ("scales_d", "scales_h", "scales_w")}


def upsample_scales(node) -> list:
    """The scale factor along each axis where the call gave one (``F.interpolate(scale_factor=
    ...)`` keeps it unless ``recompute_scale_factor``), None for an axis without one: the
    kernel then steps by 1/scale, in float32, not by n_in/n_out."""
    n = spatial_count(node)
    first = 2 if "nearest" in node.packet else 3  # after align_corners in the others
    if node.op.endswith(".vec"):  # a list of them
        return list(arg(node, first, "scale_factors") or [None] * n)
    return [arg(node, first + i, name) for i, name in enumerate(_SCALE_NAMES[n])]


def _step(scale: float) -> Fraction:
    """1/scale as the kernel has it (a float32). A step that is no whole number is shown as the
    ratio it stands for (0.34 steps by 50/17), not as the float's own binary fraction."""
    step = Fraction(struct.unpack("f", struct.pack("f", 1 / scale))[0])
    meant = step.limit_denominator(1000)
    return meant if meant.denominator != 1 else step


@field_rule("aten.pixel_shuffle")
def pixel_shuffle(node, field):
    r = node.args[1]  # unit u of the output reads input unit floor(u/r)
    return window_last(node, field, 2, lambda i: (1, Fraction(1, r), 0, False))


@field_rule("aten.pixel_unshuffle")
def pixel_unshuffle(node, field):
    r = node.args[1]  # output unit u gathers inputs r*u ... r*u + r - 1 over its channels
    return window_last(node, field, 2, lambda i: (r, r, 0, True))
