"""Leaf modules recorded as the aten ops their forward runs, without running that forward.

Most of a CNN's ops come from four leaf modules: Conv2d, BatchNorm2d, ReLU and ReLU6 (191 of
MobileNetV2's 205 ops; 282 of Inception v3's 408, whose ReLUs are functional calls). Through
PyTorch each one goes module -> functional -> C++ composite -> dispatcher -> our mode, ~50 us a
convolution and ~100 us a batch norm (two ops) on a shape-only tensor, most of it glue.
Their forwards in the common case are one fixed sequence of aten calls, so for those cases we
make the same calls' outputs with the fast paths (``fastpaths``, pinned against the CPU kernel)
and record them as the dispatcher would have shown them, arguments included. A lowering reads
only the shapes of the module's tensors: where no read has made a tensor's shape-only copy yet
(``state.copied_on_read``), the model's own tensor stands for it (``_tensors``), and the copy is
never made.

A lowering returns ``NOT_LOWERED`` for every other case (another layout, dtype mix, padding
mode, a shape the kernel would reject, an unbatched input, training mode for batch norm), and the
module's own forward runs instead, so PyTorch's errors still reach ``analyses.diagnose``. Only
the exact classes below, with their forward and the methods it calls untouched, are lowered,
and only on the meta backend with no other torch mode active. ``tests/trace/test_lowering.py``
checks that every zoo model and random layer configurations give the same graph either way.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..graph import TensorMeta
from .fastpaths import fast_path
from .fastpaths.conv import _convolution
from .fastpaths.layout import _dense, _like
from .recorder import tensor_meta
from .state import FOREIGN, CopiedOnRead

aten = torch.ops.aten
NOT_LOWERED = object()
_Tensor = torch.Tensor
_NO_OUTPUT_PADDING = (0, 0)
_PYTHON_KEY = torch._C.DispatchKey.Python
_SNAPSHOT_KEY = torch._C.DispatchKey.PythonTLSSnapshot
_is_excluded = torch._C._dispatch_tls_is_dispatch_key_excluded
_exclude = torch._C._dispatch_tls_set_dispatch_key_excluded

_NUMBERS = (int, float)  # a hardtanh bound the recorder keeps as it is
_META = torch.device("meta")  # every lowered input is on it
# the reserve's keyword arguments as the recorder writes them (dtypes, layouts and devices as
# text): given so, it has nothing to convert
_RESERVE_KWARGS = {"dtype": "uint8", "layout": "strided", "device": "meta"}

# record(func, args, tensors, out, kwargs=None, unread=()): the recorder's entry for an op it
# did not see dispatched (``Recorder.record_lowered``): the first ``tensors`` args are tensors
# or None, the others and kwargs plain Python already; ``unread``, metas of outputs no code reads
Record = Callable[..., None]


def _tensors(module: nn.Module, table: str, *names: str) -> list | None:
    """``module.<name>`` for each name, as a lowering may read it: from the module's table,
    without nn.Module.__getattr__'s ~1.7 us a lookup. In a ``CopiedOnRead`` table, each entry's
    ``stand_in``: the model's own tensor while no read has made its copy, as a lowering reads
    only its shape. A name missing from the table (a weight-norm hook's plain attribute) is left
    to ``getattr``. None where a tensor is neither shape-only nor the model's own (one the
    forward stored): the module's own forward meets it, as it would on the CPU."""
    found = getattr(module, table)
    lazy = type(found) is CopiedOnRead
    tensors = []
    for name in names:
        if lazy and name in found:
            t = found.stand_in(name)
            if t is FOREIGN:
                return None
        else:
            t = found[name] if name in found else getattr(module, name)
            if t is not None and not t.is_meta:
                return None
        tensors.append(t)
    return tensors


def _conv2d(module: nn.Conv2d, x: torch.Tensor, record: Record):
    """F.conv2d -> aten.conv2d -> aten.convolution(x, w, b, stride, padding, dilation,
    transposed=False, output_padding=[0, 0], groups)."""
    padding = module.padding
    if module.padding_mode != "zeros" or type(padding) is str:
        return NOT_LOWERED  # padded by F.pad first, or conv2d.padding's own decomposition
    found = _tensors(module, "_parameters", "weight", "bias")
    if found is None:
        return NOT_LOWERED
    args = (x, *found, [*module.stride], [*padding], [*module.dilation],
            False, [*_NO_OUTPUT_PADDING], module.groups)
    out = _convolution(*args, stand_ins=True)
    if out is NotImplemented:
        return NOT_LOWERED
    record(aten.convolution.default, args, 3, out)
    return out


def _batch_norm_2d(module: nn.BatchNorm2d, x: torch.Tensor, record: Record):
    """In eval mode with running statistics: F.batch_norm -> aten.batch_norm ->
    _batch_norm_impl_index, which makes an empty uint8 reserve, then native_batch_norm."""
    if module.training or x.dim() != 4:
        return NOT_LOWERED
    statistics = _tensors(module, "_buffers", "running_mean", "running_var")
    affine = _tensors(module, "_parameters", "weight", "bias")
    if statistics is None or affine is None:
        return NOT_LOWERED
    (mean, var), (weight, bias) = statistics, affine
    if mean is None or var is None:
        return NOT_LOWERED
    per_channel, dtype = (x.shape[1],), x.dtype
    # _batch_norm_impl_index's own checks: every per-channel tensor has C elements; a mix of
    # dtypes (mixed precision) is the kernel's to decide
    for t in (weight, bias, mean, var):
        if t is not None and (t.shape != per_channel or t.dtype != dtype):
            return NOT_LOWERED
    momentum = 0.0 if module.momentum is None else float(module.momentum)
    args = (x, weight, bias, mean, var, False, momentum, float(module.eps))
    statistic = _empty(dtype)  # in eval mode the CPU kernel's saved mean and invstd are [0]
    record(aten.empty.memory_format, ([0],), 0, None, _RESERVE_KWARGS, (_empty(torch.uint8),))
    out = _like(x)
    record(aten.native_batch_norm.default, args, 5, out, None, (statistic, statistic))
    return out


_EMPTY: dict[torch.dtype, TensorMeta] = {}


def _empty(dtype: torch.dtype) -> TensorMeta:
    """The meta of a [0] tensor of ``dtype``: a lowered batch norm's reserve and eval-mode
    statistics are never read (the lowering returns only its output), so they are recorded
    without making a tensor, three tensors fewer a batch norm."""
    found = _EMPTY.get(dtype)
    if found is None:
        found = _EMPTY[dtype] = tensor_meta(torch.empty(0, dtype=dtype, device=_META))
    return found


def _elementwise(func, args, record: Record, inplace: bool):
    if inplace and not _dense(args[0]):  # may share memory: dispatched, the write is checked
        return NOT_LOWERED
    out = fast_path(func)(*args)
    if out is NotImplemented:
        return NOT_LOWERED
    record(func, args, 1, out)
    return out


def _relu(module: nn.ReLU, x: torch.Tensor, record: Record):
    """torch.relu_(x) in place (the output is x itself), else torch.relu(x)."""
    inplace = module.inplace
    return _elementwise(aten.relu_.default if inplace else aten.relu.default, (x,), record,
                        inplace)


def _hardtanh(module: nn.Hardtanh, x: torch.Tensor, record: Record):
    """ReLU6 and Hardtanh: hardtanh_(x, min, max) in place, else hardtanh(x, min, max)."""
    inplace, low, high = module.inplace, module.min_val, module.max_val
    if type(low) not in _NUMBERS or type(high) not in _NUMBERS:
        return NOT_LOWERED  # recorded as the dispatcher shows it, plain numbers only
    func = aten.hardtanh_.default if inplace else aten.hardtanh.default
    return _elementwise(func, (x, low, high), record, inplace)


def _methods(cls: type, *names: str) -> tuple:
    return tuple((name, getattr(cls, name)) for name in names)


# class -> (its lowering, (name, function) of its forward and of each method the forward calls,
# as PyTorch defines them: one the instance or the class replaces is someone's own code, which
# must run)
LOWERINGS = {
    nn.Conv2d: (_conv2d, _methods(nn.Conv2d, "forward", "_conv_forward")),
    nn.BatchNorm2d: (_batch_norm_2d, _methods(nn.BatchNorm2d, "forward", "_check_input_dim")),
    nn.ReLU: (_relu, _methods(nn.ReLU, "forward")),
    nn.ReLU6: (_hardtanh, _methods(nn.ReLU6, "forward")),
    nn.Hardtanh: (_hardtanh, _methods(nn.Hardtanh, "forward")),
}


def lowered_forward(module: nn.Module, record: Record):
    """``module``'s forward on one plain tensor, recording its ops through ``record``; it
    returns NOT_LOWERED where the module's own forward must run. None for modules that are not
    one of LOWERINGS' classes with that class's own forward and methods."""
    cls = type(module)
    entry = LOWERINGS.get(cls)
    if entry is None:
        return None
    lower, methods = entry
    own = module.__dict__
    for name, method in methods:
        if name in own or getattr(cls, name) is not method:
            return None

    def forward(x):
        if type(x) is not _Tensor or not x.is_meta:
            return NOT_LOWERED
        # the outputs are made as inside __torch_dispatch__: unseen by our own mode. What
        # _ExcludeDispatchKeyGuard does, without making a guard object (~1 us) per module. The
        # mode's snapshot of thread state is left out too: nothing here reaches Python
        # (~0.5 us a tensor made)
        was_excluded, snapshot_was = _is_excluded(_PYTHON_KEY), _is_excluded(_SNAPSHOT_KEY)
        _exclude(_PYTHON_KEY, True)
        _exclude(_SNAPSHOT_KEY, True)
        try:
            return lower(module, x, record)
        finally:
            _exclude(_PYTHON_KEY, was_excluded)
            _exclude(_SNAPSHOT_KEY, snapshot_was)

    return forward


def lowering_allowed() -> bool:
    """No other torch mode is active: a lowered op would skip a user's TorchFunctionMode or
    dispatch mode, which would have seen the ops the module's forward runs."""
    return (not torch._C._is_torch_function_mode_enabled()
            and torch._C._len_torch_dispatch_stack() == 0)
