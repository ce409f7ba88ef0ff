"""A linear twin of a model, for measuring receptive fields with gradients.

The twin is a float64, eval-mode copy whose weights are all positive (1/fan_in times a value
drawn from [1, 2)), biases zero and floating buffers one, run under ``Linearised``: activations
and batch norm pass their input through, max pooling becomes average pooling over the same
windows. It is then linear with positive weights, so the gradient of one output unit is nonzero
exactly on the input positions that unit can see, with no cancellation and no dead ReLU: its
extent is the receptive field.
1/fan_in keeps activations near one at any depth; float64 keeps the corner gradients (about
9**-depth) from underflowing.

Functions are replaced at the ``torch.nn.functional`` level (a ``TorchFunctionMode``), so
``F.relu`` and ``x.relu()`` in a ``forward`` are caught as well as ``nn.ReLU`` modules.
"""
from __future__ import annotations

import copy
import re
from math import prod

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .tensors import flat_tensors

# functions that become the identity: their gradient would otherwise depend on the values
IDENTITY = {
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu",
    "elu_", "selu", "selu_", "celu", "celu_", "gelu", "silu", "mish", "hardswish", "hardsigmoid",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus", "prelu", "rrelu", "rrelu_", "threshold",
    "threshold_", "clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_max", "batch_norm",
    "dropout", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
}


class Stop(Exception):
    """Raised by a hook once every wanted layer has run: the rest of the forward is not needed."""


class Linearised(TorchFunctionMode):
    """Activations and batch norm pass their input through; max pooling becomes averaging.

    ``used`` (a set) collects the ids of every tensor an op receives, parameters included.
    """

    def __init__(self, used: set | None = None):
        super().__init__()
        self.used = used

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        # tensors the forward makes itself (torch.ones(...)) join the twin's float64
        args, kwargs = torch.utils._pytree.tree_map(_as_float64, (args, kwargs))
        if self.used is not None:
            self.used.update(id(t) for t in torch.utils._pytree.tree_leaves((args, kwargs))
                             if isinstance(t, torch.Tensor))
        name = getattr(func, "__name__", "")
        if name in IDENTITY:
            return args[0] if args else kwargs["input"]
        if "max_pool" in name and not kwargs.get("return_indices"):
            return _average_like_max(func, args, kwargs)
        if name in ("conv1d", "conv2d", "conv3d"):
            return _grouped_as_batch(func, *args, **kwargs)
        return func(*args, **kwargs)


def _as_float64(value):
    floating = isinstance(value, torch.Tensor) and value.is_floating_point()
    return value.to(torch.float64) if floating and value.dtype != torch.float64 else value


def _tuple(value, n: int) -> tuple[int, ...]:
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return value * n if len(value) == 1 else value


def _pool_geometry(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   return_indices=False):
    return kernel_size, stride or kernel_size, padding, dilation, ceil_mode


def _average_like_max(func, args, kwargs):
    """Average pooling over exactly max pooling's windows (max pooling's gradient picks one)."""
    name, x = func.__name__, args[0]
    if "adaptive" in name:
        size = args[1] if len(args) > 1 else kwargs["output_size"]
        return getattr(F, name.replace("max", "avg"))(x, size)
    dims = int(re.search(r"(\d)d", name).group(1))
    kernel, stride, padding, dilation, ceil = _pool_geometry(*args, **kwargs)
    if all(d == 1 for d in _tuple(dilation, dims)):
        avg = getattr(F, f"avg_pool{dims}d")
        return avg(x, kernel, stride, padding, ceil_mode=ceil, count_include_pad=True)
    # dilated windows: a depthwise conv with an all-ones kernel, padded to max pooling's size
    expected = func(x.detach(), kernel, stride, padding, dilation, ceil).shape[-dims:]
    kernel, stride, padding, dilation = (_tuple(v, dims) for v in (kernel, stride, padding,
                                                                     dilation))
    pads = []
    for i in reversed(range(dims)):  # F.pad lists the last dim first
        span = dilation[i] * (kernel[i] - 1) + 1
        right = (expected[i] - 1) * stride[i] + span - x.shape[-dims + i] - padding[i]
        pads += [padding[i], max(right, padding[i])]
    ones = x.new_ones(x.shape[1], 1, *kernel) / prod(kernel)
    out = getattr(F, f"conv{dims}d")(F.pad(x, pads), ones, stride=stride, dilation=dilation,
                                     groups=x.shape[1])
    return out[(...,) + tuple(slice(0, n) for n in expected)]


def _grouped_as_batch(conv, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A grouped conv whose groups all have the same weights (the twin's do) as average pooling
    (depthwise) or as one conv over the groups folded into the batch: torch's float64 grouped
    conv is ~20x slower. Same values, same gradients."""
    if (groups == 1 or x.dim() != weight.dim() or weight.is_meta
            or bool(weight.min() != weight.max())):
        return conv(x, weight, bias, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    dims, kernel = x.dim() - 2, weight.shape[2:]
    pads = _tuple(padding, dims) if not isinstance(padding, str) else None
    if (weight.shape[:2] == (c, 1) and pads is not None and _tuple(dilation, dims) == (1,) * dims
            and all(2 * p <= k for p, k in zip(pads, kernel))):
        pool = getattr(F, f"avg_pool{dims}d")  # a depthwise conv with one weight w: w*k*k*mean
        out = pool(x, tuple(kernel), stride, pads, count_include_pad=True) * (
            weight.flatten()[0] * prod(kernel))
        return out if bias is None else out + bias.reshape(1, -1, *[1] * dims)
    out = conv(x.reshape(n * groups, c // groups, *x.shape[2:]),
               weight[: weight.shape[0] // groups], None, stride, padding, dilation)
    out = out.reshape(n, weight.shape[0], *out.shape[2:])
    return out if bias is None else out + bias.reshape(1, -1, *[1] * (out.dim() - 2))


def run_until(model: nn.Module, modules: list[nn.Module], x: torch.Tensor,
              used: set | None = None) -> list[torch.Tensor | None]:
    """The first output of each module in a linearised forward of ``x``, stopped once all ran."""
    seen: dict[int, torch.Tensor] = {}

    def hook(mod, args, output):
        if id(mod) not in seen:
            seen[id(mod)] = output if isinstance(output, torch.Tensor) else next(
                iter(flat_tensors(output)), None)
        if len(seen) == len({id(m) for m in modules}):
            raise Stop

    handles = [m.register_forward_hook(hook) for m in set(modules)]
    try:
        with Linearised(used):
            model(x * 1.0)  # * 1.0: in-place ops at the start need a non-leaf tensor
    except Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return [seen.get(id(m)) for m in modules]


def positive(shape, draw: torch.Generator) -> torch.Tensor:
    """Values in [1, 2), float64, not all equal: a layer norm over channels of equal values (or
    read by equal weights) is a constant, whose gradient would hide the field behind it."""
    return 1.0 + torch.rand(shape, generator=draw, dtype=torch.float64)


def linear_twin(model: nn.Module, layers: list[str], input_size) -> nn.Module:
    """The positive float64 copy of ``model`` (see the module docstring).

    It starts on the meta device (the user's weights are never copied); a shape-only forward up
    to the last of ``layers`` tells which parameters are used, and only those are made real.
    """
    memo = {}
    for t in (*model.parameters(), *model.buffers()):
        fp = t.is_floating_point()
        meta = torch.empty(t.shape, dtype=torch.float64 if fp else t.dtype, device="meta")
        if not fp and not t.is_meta:
            meta = t.detach().clone()  # integer buffers (indices) keep their values
        memo[id(t)] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    twin = copy.deepcopy(model, memo).eval()
    modules = dict(twin.named_modules())
    used: set = set()
    run_until(twin, [modules[name] for name in layers],
              torch.empty((1, *input_size), dtype=torch.float64, device="meta"), used)
    draw = torch.Generator().manual_seed(0)
    for module in twin.modules():
        for name, p in module._parameters.items():
            if p is not None and p.is_meta and id(p) in used:
                # 1/fan_in keeps activations near 1 however deep the model; biases add nothing
                value = 0.0 if name == "bias" else 1.0 / prod(p.shape[1:]) if p.dim() > 1 else 1.0
                module._parameters[name] = nn.Parameter(
                    value * positive(p.shape, draw), p.requires_grad)
        for name, b in module._buffers.items():
            if b is not None and b.is_meta and id(b) in used:
                # ones, not zeros: spectral norm divides by u . (W v) of its buffers u and v
                fill = torch.ones if b.is_floating_point() else torch.zeros
                module._buffers[name] = fill(b.shape, dtype=b.dtype)
    return twin
