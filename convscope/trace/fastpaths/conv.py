"""Convolution's fast path: the output size is a formula of the input's and the weight's.

``tests/trace/test_fastpaths.py`` and ``tests/trace/test_fastpaths_modern.py`` (the transposed
convolution) pin it against the CPU kernel. ``lowering`` calls it directly for a Conv2d.
"""
from __future__ import annotations

import torch

from .layout import _dense, _suggests_channels_last

_CHANNELS_LAST = torch.channels_last
# float32: the CPU's kernels follow the suggested layout (pinned by the tests); those of other
# dtypes at times do not, and oneDNN's bfloat16 kernel crashes on some channels-last shapes
# here, so no test can pin it
_AS_SUGGESTED = (torch.float32,)


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups,
                 *, stand_ins: bool = False):
    """A 2-D convolution of an NCHW input by a weight, each row-major or channels-last: an
    [N, C_out, H', W'] with H' = (H + 2p - d(k - 1) - 1) // s + 1, or for a transposed one
    (weight [C_in, C_out / groups, kH, kW]) H' = (H - 1)s - 2p + d(k - 1) + output_padding + 1,
    laid out channels-last where the input or the weight suggests it, as the CPU's kernels do
    in float32
    (the meta kernel answers row-major: a later ``.contiguous()`` copied nothing there). The
    meta kernel reaches the same size through symbolic-shape helpers (~0.1 ms a call; a
    transposed one imports sympy on first use, ~1 s). Anything it would reject, and every other
    case (1-D/3-D, other layouts, mixed dtypes), goes to it. ``stand_ins``: weight and bias
    are a lowering's (``lowering._tensors``), the model's own tensors standing for their
    shape-only copies, whatever their device."""
    xs, ws = x.shape, weight.shape  # each read makes a new torch.Size: read once
    kernel = ws[2:]
    if kernel and min(kernel) < 1:  # the meta kernel takes it and makes an output, the CPU's not
        sizes = " ".join(f"kernel_{name}: {k}" for name, k in zip(
            ("depth", "height", "width")[3 - len(kernel):], kernel))
        raise RuntimeError(f"kernel size should be greater than zero, but got {sizes}. Fix: "
                           "a kernel_size of 1 or more along every axis")
    if groups < 1 or len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        return NotImplemented
    if (len(xs) != 4 or len(ws) != 4 or not _dense(x) or not _dense(weight)
            or weight.dtype != x.dtype or (not stand_ins and weight.device != x.device)
            or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0):
        return NotImplemented
    if transposed:
        if (len(output_padding) != 2 or xs[1] != ws[0] or ws[0] % groups or min(output_padding) < 0
                or any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation))):
            return NotImplemented
        out_channels = ws[1] * groups
    elif xs[1] != ws[1] * groups or ws[0] % groups:
        return NotImplemented
    else:
        out_channels = ws[0]
    if bias is not None and (tuple(bias.shape) != (out_channels,) or bias.dtype != x.dtype):
        return NotImplemented
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if transposed:
        height = (xs[2] - 1) * sh - 2 * ph + dh * (ws[2] - 1) + output_padding[0] + 1
        width = (xs[3] - 1) * sw - 2 * pw + dw * (ws[3] - 1) + output_padding[1] + 1
    else:
        height = (xs[2] + 2 * ph - dh * (ws[2] - 1) - 1) // sh + 1
        width = (xs[3] + 2 * pw - dw * (ws[3] - 1) - 1) // sw + 1
    if height < 1 or width < 1 or xs[0] == 0 or min(xs) < 1:
        return NotImplemented
    if _suggests_channels_last(x) or _suggests_channels_last(weight):
        if x.dtype not in _AS_SUGGESTED:  # the CPU's other kernels choose otherwise at times
            return NotImplemented
        out = torch.empty(xs[0], out_channels, height, width, dtype=x.dtype, device=x.device,
                          memory_format=_CHANNELS_LAST)
        # an output both layouts describe ([N, C, 1, 1]): the same bytes either way, but the
        # CPU's strides of its size-1 dims vary with its kernel (dtype, groups): the kernel's
        return NotImplemented if out.is_contiguous() else out
    return torch.empty(xs[0], out_channels, height, width, dtype=x.dtype, device=x.device)
