"""Group norm of a channels-last map on meta tensors, run as the CPU runs it.

``torch.group_norm`` (which ``F.group_norm`` and ``nn.GroupNorm`` call) is a C++ composite
that picks the layout it normalises in by device: on the CPU the input's own suggested layout
(a channels-last map stays as it is), on any other device row-major, so a meta trace recorded a
copy of every channels-last map before its group norm that the CPU never makes. For the
duration of a meta trace, ``trace.as_on_cpu`` puts ``group_norm`` below in ``torch``: a dense
channels-last meta input goes straight to ``native_group_norm``, as on the CPU; every other call
(and every input PyTorch would refuse, for its own message) goes to PyTorch's function.
"""
from __future__ import annotations

from math import prod

import torch

from .fastpaths.layout import _suggests_channels_last

_TORCH_GROUP_NORM = torch.group_norm


def _fits(input, num_groups, weight, bias) -> bool:
    """A 4-d meta map laid out channels-last, with groups that divide its channels and a
    weight and bias of one value a channel: what the CPU's composite takes without a copy."""
    if type(input) is not torch.Tensor or not input.is_meta or input.dim() != 4:
        return False
    channels = input.shape[1]
    return (isinstance(num_groups, int) and num_groups > 0 and channels % num_groups == 0
            and all(t is None or (type(t) in (torch.Tensor, torch.nn.Parameter)
                                  and t.numel() == channels) for t in (weight, bias))
            and _suggests_channels_last(input))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    """``torch.group_norm``, without the row-major copy of a channels-last meta input."""
    if _fits(input, num_groups, weight, bias):
        n, c = input.shape[0], input.shape[1]
        return torch.ops.aten.native_group_norm(input, weight, bias, n, c,
                                                prod(input.shape[2:]), num_groups, eps)[0]
    return _TORCH_GROUP_NORM(input, num_groups, weight, bias, eps, cudnn_enabled)
