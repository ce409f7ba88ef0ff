"""Where shape-only tensors come from: the meta device, fake tensors, or real ones.

Each backend is (context manager, make(shape, dtype), convert(example tensor), like(parameter)).
The meta backend's context runs the composites that choose by device as the CPU would
(``as_on_cpu``: attention's kernel, group norm's layout).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .as_on_cpu import as_on_cpu


META = torch.device("meta")  # made once: a device given as text is parsed on every call
PLAIN = (torch.Tensor, torch.nn.Parameter)


def meta_backend():
    def make(shape, dtype):
        return torch.empty(shape, dtype=dtype, device=META)

    def like(t):
        # nearly every parameter and buffer: the cheapest copy (~3 us); a tensor subclass
        # would answer empty_like itself. Not for a model built on the meta device: there
        # empty_like is a Python decomposition, ~7 us, whose first call imports sympy (~1 s)
        if type(t) in PLAIN and t.is_contiguous() and not t.is_meta:
            if not t.shape and not t.is_floating_point():
                # a counter (BatchNorm's num_batches_tracked), which a forward may read as a
                # number (momentum=None averages over 1 / float(count)): a real copy, one value
                return t.clone()
            return torch.empty_like(t, device=META, requires_grad=t.requires_grad)
        copy = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=META)
        return copy.requires_grad_() if t.requires_grad else copy

    return as_on_cpu(), make, like, like


def fake_backend():
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)

    def make(shape, dtype):
        with mode:
            return torch.empty(shape, dtype=dtype)

    def like(t):
        if not t.shape and not t.is_floating_point() and not t.is_meta:
            # a counter a forward reads as a number (BatchNorm's num_batches_tracked with
            # momentum=None): a fake tensor that keeps its value, as the meta backend's real copy
            return mode.fake_tensor_converter.from_real_tensor(mode, t.clone(), make_constant=True)
        with mode:
            copy = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype)
        return copy.requires_grad_(t.requires_grad)

    return mode, make, mode.from_tensor, like


def real_backend():
    def make(shape, dtype):
        return torch.randn(shape, dtype=dtype) if dtype.is_floating_point else torch.zeros(
            shape, dtype=dtype)

    def copy(t):
        # the forward may write into its input or its weights (x.relu_(), weight.clamp_()): it
        # writes into copies, and the user's tensors stay as they were
        cloned = t.detach().clone()
        return nn.Parameter(cloned, t.requires_grad) if isinstance(t, nn.Parameter) else \
            cloned.requires_grad_(t.requires_grad)

    return contextlib.nullcontext(), make, copy, copy


BACKENDS = {"meta": meta_backend, "fake": fake_backend, "real": real_backend}
