"""Ops whose shape-only kernels are slow, answered by the shapes PyTorch's CPU kernel returns.

On the meta device many kernels are Python: ``native_batch_norm`` and its backward run
decompositions of ~3-4 ms a call (two thirds of a ResNet-50 trace once), ``hardtanh`` (ReLU6)
~2 ms, hardswish ~8 ms, and convolution, add/sub/mul and cat work out shapes, promotion and
layouts with symbolic-shape helpers at ~0.1-2 ms; several import TorchDynamo and sympy on first
use (~1-2 s). Their outputs are fully determined by their inputs' shapes, dtypes and layouts,
so for the common cases we build them with ``torch.empty_strided`` or ``torch.empty``. A fast
path returns NotImplemented for every other case, and for every input the kernel would reject,
so PyTorch's own error messages still reach ``analyses.diagnose``; ``run_op`` uses none for a
tensor that holds values. ``fastpaths_modern`` adds those of norms, GELU, softmax, upsampling,
the loss and Adam's in-place ops.
Sizes go to ``torch.empty`` as separate ints: it parses them ~0.7 us faster than one tuple, and
~1.4 us faster than a ``torch.Size``.
``tests/trace/test_fastpaths.py`` pins each answer (shape, dtype, strides) against the real CPU
kernel, so an upgrade of PyTorch cannot silently change our numbers.
"""
from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensor

aten = torch.ops.aten


def _dense(x: torch.Tensor) -> bool:
    return x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)


def _like(x: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(x)`` without its meta kernel, a Python decomposition that works out a
    stride permutation (~0.1 ms a call): for a dense tensor in either common layout the strides
    are x's own."""
    if _dense(x):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
    return torch.empty_like(x)


def _native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """out [N, C, ...] like x; saved mean/invstd [C] when training, [0] on CPU in eval."""
    dtype, device = x.dtype, x.device
    for t in (weight, bias, running_mean, running_var):
        if t is not None and t.dtype != dtype:
            return NotImplemented  # mixed precision: let the real shape kernel decide
    channels = x.shape[1] if training else 0
    stat = torch.empty(channels, dtype=dtype, device=device)
    return _like(x), stat, torch.empty(channels, dtype=dtype, device=device)


def _native_batch_norm_backward(grad_out, x, weight, running_mean, running_var, save_mean,
                                save_invstd, train, eps, output_mask):
    """(grad_input like x, grad_weight [C], grad_bias [C]); None where output_mask is False."""
    if weight is not None and weight.dtype != x.dtype:
        return NotImplemented
    channels = x.shape[1]

    def per_channel():
        return torch.empty(channels, dtype=x.dtype, device=x.device)

    return (_like(x) if output_mask[0] else None,
            per_channel() if output_mask[1] else None,
            per_channel() if output_mask[2] else None)


def _hardtanh_(x, min_val=-1.0, max_val=1.0):
    """ReLU6 in place: the output is the input. Its meta kernel is a ~2 ms decomposition."""
    return x


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    return _like(x)


def _same_layout_binary(x, other, alpha=1):
    """x + other (or -, *) of two tensors of one shape, dtype and layout: the output is laid out
    like x. The meta kernel works out broadcasting and type promotion in Python (~0.4 ms, ~2 ms
    when it broadcasts); a broadcast of two row-major tensors is ``_broadcast_binary``'s, a
    Python number ``_number_binary``'s; any other case (mixed dtypes or layouts) goes to it."""
    if not isinstance(other, torch.Tensor):
        return _number_binary(x, other, alpha)
    if (other.dtype != x.dtype
            or x.dtype == torch.bool  # bool - bool is an error the real kernel must raise
            or (alpha != 1 and not x.dtype.is_floating_point)  # int + 0.5 * int: an error too
            or other.device != x.device):
        return NotImplemented
    if other.shape != x.shape:
        return _broadcast_binary(x, other)
    if other.stride() != x.stride() or not _dense(x):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


def _number_binary(x, other, alpha=1):
    """x + 2.0, x * 0.5, x / 3 (Adam's bias correction, attention's scaling): a float tensor and
    a Python number give x's dtype, laid out like x."""
    if type(other) not in (int, float) or not x.dtype.is_floating_point or not _dense(x):
        return NotImplemented
    return _like(x)


def _row_major(t: torch.Tensor) -> bool:
    """Strides exactly those of a contiguous tensor of its shape. ``is_contiguous`` also holds
    for a [N, C, 1, 1] laid out channels-last, which a kernel may keep channels-last."""
    expected = 1
    for size, stride in zip(reversed(t.shape), reversed(t.stride())):
        if stride != expected:
            return False
        expected *= size
    return True


def _broadcast_binary(x, other):
    """x * other where one stretches size-1 dims of the other (a squeeze-and-excitation scale,
    [N, C, H, W] * [N, C, 1, 1]; a layer scale, [C] * [N, H, W, C]), both row-major: a
    row-major output of the broadcast shape. Sizes that do not broadcast are the kernel's
    error to raise."""
    if not (_row_major(x) and _row_major(other)):
        return NotImplemented
    pad = x.dim() - other.dim()  # a lower rank stands for leading 1s (ConvNeXt's gamma * y)
    xs, os = [1] * -pad + list(x.shape), [1] * pad + list(other.shape)
    shape = []
    for a, b in zip(xs, os):
        if a != b and a != 1 and b != 1:
            return NotImplemented
        shape.append(b if a == 1 else a)
    return torch.empty(*shape, dtype=x.dtype, device=x.device)


def _cat(tensors, dim=0):
    """Concatenation of contiguous tensors of one dtype (Inception's branches): a contiguous
    output whose ``dim`` is the sum. The meta kernel checks and promotes in Python (~0.3 ms)."""
    first = tensors[0] if len(tensors) else None
    if first is None or first.dim() == 0 or not -first.dim() <= dim < first.dim():
        return NotImplemented  # a dim out of range: the kernel's IndexError
    dim = dim % first.dim()
    # other ranks have no memory format but row-major: the output is row-major whatever the
    # inputs' layouts (ViT's cls token before its transposed patch embeddings)
    any_layout = first.dim() not in (4, 5)
    # a [N, C, 1, 1] (or [N, C, 1, 1, 1]) is channels-last too: laid out so (strides
    # (C, 1, C, C)), it may make the kernel pick that layout
    last = {4: torch.channels_last, 5: torch.channels_last_3d}.get(first.dim())
    same = all(t.dtype == first.dtype and t.device == first.device and t.dim() == first.dim()
               and (any_layout or t.is_contiguous()) and t.shape[:dim] == first.shape[:dim]
               and t.shape[dim + 1:] == first.shape[dim + 1:]
               and not (last and t.is_contiguous(memory_format=last) and not _row_major(t))
               for t in tensors)
    if not same:
        return NotImplemented
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return torch.empty(*shape, dtype=first.dtype, device=first.device)


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """A 2-D convolution of a contiguous NCHW input by a contiguous weight: a contiguous
    [N, C_out, H', W'] with H' = (H + 2p - d(k - 1) - 1) // s + 1, or for a transposed one
    (weight [C_in, C_out / groups, kH, kW]) H' = (H - 1)s - 2p + d(k - 1) + output_padding + 1.
    The meta kernel reaches the same answer through symbolic-shape helpers (~0.1 ms a call; a
    transposed one imports sympy on first use, ~1 s). Anything it would reject, and every other
    case (1-D/3-D, channels-last, where the meta and CPU kernels disagree on the layout, mixed
    dtypes), goes to it."""
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


def _floating(*tensors) -> bool:
    first = tensors[0]
    return first.dtype.is_floating_point and all(
        t.dtype == first.dtype and t.device == first.device for t in tensors)


def _addmm(bias, mat1, mat2, beta=1, alpha=1):
    """Linear's ``bias + mat1 @ mat2``: a contiguous [n, m]. Its meta kernel checks and promotes
    through symbolic-shape helpers, ~2 ms a call."""
    if (not _floating(bias, mat1, mat2) or mat1.dim() != 2 or mat2.dim() != 2
            or mat1.shape[1] != mat2.shape[0]):
        return NotImplemented
    n, m = mat1.shape[0], mat2.shape[1]
    if tuple(bias.shape) not in ((m,), (1, m), (n, m)):
        return NotImplemented
    return torch.empty(n, m, dtype=mat1.dtype, device=mat1.device)


def _mean_dim(x, dim, keepdim=False, dtype=None):
    """Global average pooling's mean over some dims of a contiguous float tensor (~1 ms meta
    kernel): contiguous, those dims kept as 1 or dropped."""
    dim = [dim] if isinstance(dim, int) else dim
    if dtype is not None or not dim or not x.dtype.is_floating_point or not x.is_contiguous():
        return NotImplemented
    rank = x.dim()
    if any(not -rank <= d < rank for d in dim):
        return NotImplemented
    reduced = {d % rank for d in dim}
    if len(reduced) != len(dim):  # a dim named twice: the kernel's error
        return NotImplemented
    shape = [1 if i in reduced else n for i, n in enumerate(x.shape) if keepdim or i not in reduced]
    return torch.empty(*shape, dtype=x.dtype, device=x.device) if shape else torch.empty(
        (), dtype=x.dtype, device=x.device)


def _pair(values, default=None):
    """A pooling argument as (h, w): one value stands for both; empty means ``default``."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values and default is not None:
        return default
    return (values[0], values[0]) if len(values) == 1 else tuple(values) if len(values) == 2 else None


def _pooled_side(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape: floor (or ceil) division, and with ceil_mode no last
    window that would start inside the right padding."""
    span = n + 2 * p - d * (k - 1) - 1
    side = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (side - 1) * s >= n + p:
        side -= 1
    return side


def _pooled_shape(x, kernel_size, stride, padding, dilation, ceil_mode):
    """[N, C, H', W'] for a 2-D pool of a contiguous 4-D float tensor, or None for every case
    the kernel would reject or lay out otherwise."""
    kernel = _pair(kernel_size)
    stride = _pair(stride, default=kernel)
    padding, dilation = _pair(padding), _pair(dilation)
    if (None in (kernel, stride, padding, dilation) or x.dim() != 4 or not x.is_contiguous()
            or not x.dtype.is_floating_point or min(x.shape) < 1 or min(kernel) < 1
            or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0
            or any(2 * p > k for p, k in zip(padding, kernel))):
        return None
    sides = [_pooled_side(n, k, s, p, d, ceil_mode)
             for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)]
    return (*x.shape[:2], *sides) if min(sides) >= 1 else None


def _max_pool2d_with_indices(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """(values, int64 indices), both contiguous. The meta kernel: ~0.2 ms a call."""
    shape = _pooled_shape(x, kernel_size, stride, padding, dilation, ceil_mode)
    if shape is None:
        return NotImplemented
    return (torch.empty(*shape, dtype=x.dtype, device=x.device),
            torch.empty(*shape, dtype=torch.int64, device=x.device))


def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    shape = _pooled_shape(x, kernel_size, stride, padding, 1, ceil_mode)
    if shape is None or divisor_override == 0:
        return NotImplemented
    return torch.empty(*shape, dtype=x.dtype, device=x.device)


def _relu_(x):
    """An activation in place (relu_, hardswish_, silu_, ...): the output is the input. Their
    meta kernels are Python decompositions: hardswish_ ~8 ms a call, hardsigmoid ~5 ms."""
    return x if x.dtype.is_floating_point else NotImplemented


def _relu(x):
    """An activation of a float tensor (relu, hardswish, silu, sigmoid, ...): laid out like x."""
    return _like(x) if x.dtype.is_floating_point else NotImplemented


def _adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling of a row-major [N, C, H, W] float tensor: a row-major
    [N, C, h, w]. Its meta kernel imports sympy on first use (~1 s)."""
    if (x.dim() != 4 or not x.dtype.is_floating_point or not _row_major(x) or min(x.shape) < 1
            or len(output_size) != 2 or min(output_size) < 1):
        return NotImplemented
    return torch.empty(x.shape[0], x.shape[1], *output_size, dtype=x.dtype, device=x.device)


def _add_(x, other, alpha=1):
    """A residual sum in place (ResNet's ``out += identity``), both of one shape and dtype, or
    a Python number into a float tensor (Adam's ``denom.add_(eps)``): the output is x."""
    if not isinstance(other, torch.Tensor):
        return x if type(other) in (int, float) and x.dtype.is_floating_point else NotImplemented
    if (other.shape != x.shape or other.dtype != x.dtype
            or other.device != x.device or x.dtype == torch.bool
            or (alpha != 1 and not x.dtype.is_floating_point)):
        return NotImplemented
    return x


def _mul_(x, other):
    """``x *= other`` in place (an optimizer's momentum decay, ``buf.mul_(0.9)``): the output is
    x, for a Python number into a float tensor or a tensor of x's shape and dtype."""
    if isinstance(other, torch.Tensor):
        same = other.shape == x.shape and other.dtype == x.dtype and other.device == x.device
    else:
        same = type(other) in (int, float) and x.dtype.is_floating_point
    return x if same and x.dtype != torch.bool else NotImplemented


def _activation_backward(grad_output, x, *constants):
    """The gradient of an activation (relu's threshold_backward, hardtanh, hardswish,
    hardsigmoid, silu, sigmoid): laid out like ``grad_output`` when ``x`` (its input or output)
    is laid out alike. Their meta kernels are Python decompositions, ~2 ms a call for
    hardtanh's and hardswish's."""
    if (not isinstance(x, torch.Tensor) or x.shape != grad_output.shape
            or x.dtype != grad_output.dtype or not grad_output.dtype.is_floating_point
            or x.device != grad_output.device or x.stride() != grad_output.stride()
            or not _dense(x)):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


def _empty_like(x, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """``torch.empty_like(x)`` (autograd's gradient buffers): x's strides for a dense x."""
    if (dtype is not None or layout not in (None, torch.strided) or device is not None
            or pin_memory or memory_format not in (None, torch.preserve_format)
            or not _dense(x)):
        return NotImplemented
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)


def _empty(size, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """``aten.empty`` itself, asked by batch norm for its reserve buffer: ``torch.empty`` is
    3x cheaper than calling the op with every keyword argument."""
    if (layout not in (None, torch.strided) or pin_memory
            or memory_format not in (None, torch.contiguous_format)):
        return NotImplemented
    return torch.empty(size, dtype=dtype, device=device)


from . import fastpaths_modern as _modern  # noqa: E402  (it uses the helpers above)

FAST_PATHS = {
    aten.convolution.default: _convolution,
    aten.add.Tensor: _same_layout_binary,
    aten.sub.Tensor: _same_layout_binary,
    aten.mul.Tensor: _same_layout_binary,
    aten.cat.default: _cat,
    aten.hardtanh_.default: _hardtanh_,
    aten.hardtanh.default: _hardtanh,
    aten.native_batch_norm.default: _native_batch_norm,
    aten.native_batch_norm_backward.default: _native_batch_norm_backward,
    aten.addmm.default: _addmm,
    aten.mean.dim: _mean_dim,
    aten.max_pool2d_with_indices.default: _max_pool2d_with_indices,
    aten.avg_pool2d.default: _avg_pool2d,
    aten.relu_.default: _relu_,
    aten.relu.default: _relu,
    aten.hardswish_.default: _relu_,
    aten.hardswish.default: _relu,
    aten.hardsigmoid_.default: _relu_,
    aten.hardsigmoid.default: _relu,
    aten.silu_.default: _relu_,
    aten.silu.default: _relu,
    aten.sigmoid_.default: _relu_,
    aten.sigmoid.default: _relu,
    aten._adaptive_avg_pool2d.default: _adaptive_avg_pool2d,
    aten.add_.Tensor: _add_,
    aten.empty.memory_format: _empty,
    aten.empty_like.default: _empty_like,
    aten.mul_.Tensor: _mul_,
    aten.threshold_backward.default: _activation_backward,
    aten.hardtanh_backward.default: _activation_backward,
    aten.hardswish_backward.default: _activation_backward,
    aten.hardsigmoid_backward.default: _activation_backward,
    aten.silu_backward.default: _activation_backward,
    aten.sigmoid_backward.default: _activation_backward,
}

_modern.register(FAST_PATHS)

# the same, by id: an op overload hashes in Python (~0.4 us a lookup), its id does not; the
# overloads stay alive as FAST_PATHS' keys
_BY_ID = {id(func): fast for func, fast in FAST_PATHS.items()}


def fast_path(func):
    """``FAST_PATHS.get(func)``, without hashing the op."""
    return _BY_ID.get(id(func))


def run_op(func, args, kwargs):
    """Run ``func`` through its fast path when it has one and its tensors hold no values, else
    through PyTorch's kernel."""
    fast = fast_path(func)
    out = fast(*args, **kwargs) if fast is not None and _shape_only(args) else NotImplemented
    return func(*args, **kwargs) if out is NotImplemented else out


def _shape_only(args) -> bool:
    """The op's first tensor (cat's first in its list) is meta, or fake without a value. A real
    tensor, or a fake one that carries its value (FakeTensorMode keeps the value of a small
    tensor it lifts), goes to the kernel: a trace may read it. ``n = torch.tensor(2.0)`` made in
    a forward is a real CPU tensor even in a meta trace; answered by a fast path, ``n.mul_(3)``
    left it 2 and ``x.repeat(int(n), ...)`` repeated twice; Adam's step counter stayed 0."""
    first = args[0] if args else None
    if type(first) in (list, tuple):
        first = first[0] if first else None
    if not isinstance(first, torch.Tensor):
        return True  # a factory (empty): it reads no tensor
    return first.is_meta or (isinstance(first, FakeTensor) and first.constant is None)


def run_kernel(func, args, kwargs):
    """Run ``func`` through PyTorch's kernel: for real tensors, whose values must be computed."""
    return func(*args, **kwargs)
