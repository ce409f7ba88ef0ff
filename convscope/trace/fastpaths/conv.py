"""Convolution's fast path: the output size is a formula of the input's and the weight's.

``tests/trace/test_fastpaths.py`` and ``tests/trace/test_fastpaths_modern.py`` (the transposed
convolution) pin it against the CPU kernel. ``lowering`` calls it directly for a Conv2d.
"""
from __future__ import annotations

import torch


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """A 2-D convolution of a contiguous NCHW input by a contiguous weight: a contiguous
    [N, C_out, H', W'] with H' = (H + 2p - d(k - 1) - 1) // s + 1, or for a transposed one
    (weight [C_in, C_out / groups, kH, kW]) H' = (H - 1)s - 2p + d(k - 1) + output_padding + 1.
    The meta kernel reaches the same answer through symbolic-shape helpers (~0.1 ms a call; a
    transposed one imports sympy on first use, ~1 s). Anything it would reject, and every other
    case (1-D/3-D, channels-last, where the meta and CPU kernels disagree on the layout, mixed
    dtypes), goes to it."""
    kernel = weight.shape[2:]
    if kernel and min(kernel) < 1:  # the meta kernel takes it and makes an output, the CPU's not
        sizes = " ".join(f"kernel_{name}: {k}" for name, k in zip(
            ("depth", "height", "width")[3 - len(kernel):], kernel))
        raise RuntimeError(f"kernel size should be greater than zero, but got {sizes}. Fix: "
                           "a kernel_size of 1 or more along every axis")
    if groups < 1 or len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        return NotImplemented
    xs, ws = x.shape, weight.shape  # each read makes a new torch.Size: read once
    if (len(xs) != 4 or len(ws) != 4 or not x.is_contiguous() or not weight.is_contiguous()
            or weight.dtype != x.dtype or weight.device != x.device
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
    return torch.empty(xs[0], out_channels, height, width, dtype=x.dtype, device=x.device)
