"""trace.group_norm: a channels-last map's group norm on meta tensors runs as on the CPU.

``torch.group_norm`` copies its input to row-major first on every device but the CPU; a meta
trace recorded that copy, which a CPU forward never makes.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convscope.trace.as_on_cpu import as_on_cpu
from convscope.trace.group_norm import group_norm
from tests.conftest import OpNames


def _ops(x, groups=4, **options):
    weight, bias = torch.randn(8, device=x.device), torch.randn(8, device=x.device)
    with as_on_cpu(), OpNames() as seen:
        out = F.group_norm(x, groups, weight, bias, **options)
    return seen.ops, out


@pytest.mark.parametrize("channels_last", [True, False])
def test_a_meta_group_norm_runs_the_ops_a_cpu_one_runs(channels_last):
    x = torch.randn(2, 8, 5, 6)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    cpu_ops, cpu = _ops(x)
    meta_ops, meta = _ops(x.to("meta"))
    assert meta_ops == cpu_ops  # a channels-last input: native_group_norm alone, no clone
    assert (meta.shape, meta.stride()) == (cpu.shape, cpu.stride())


def test_pytorch_s_own_function_is_back_after_the_trace_and_refuses_what_it_refuses():
    before = torch.group_norm
    with as_on_cpu():
        assert torch.group_norm is group_norm
    assert torch.group_norm is before
    x = torch.randn(2, 8, 5, 6, device="meta").to(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="divisible by num_groups|num_groups"):
        _ops(x, groups=3)
