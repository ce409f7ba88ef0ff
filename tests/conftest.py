"""Shared helpers: real forwards that act as the oracle for our shape-only numbers."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


def real_inputs(shapes, batch_size=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn((batch_size, *s), generator=generator) for s in shapes]


def runs_for_real(model: nn.Module, shape) -> bool:
    """Whether a real forward of one sample of ``shape`` (without batch) runs."""
    try:
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    except RuntimeError:
        return False
    return True


def real_leaf_outputs(model: nn.Module, inputs) -> list[tuple[str, list]]:
    """(qualified name, output shape) of every leaf-module call of a real forward, in order."""
    names = {m: n for n, m in model.named_modules()}
    seen = []

    def hook(module, args, output):
        shape = list(output.shape) if isinstance(output, torch.Tensor) else [
            list(o.shape) for o in output]
        seen.append((names[module], shape))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return seen


class OpNames(TorchDispatchMode):
    """The aten ops run under it, by name (``.ops``)."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def flop_counter_total(model: nn.Module, inputs) -> int:
    """torch's own count: 2 x multiply-accumulates of convolutions and matrix products."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops()


def snapshot(model: nn.Module) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    devices = {p.device for p in model.parameters()}
    grads = [p.requires_grad for p in model.parameters()]
    attributes = [sorted(m.__dict__) for m in model.modules()]  # no traced forward left behind
    return {"state": state, "flags": flags, "devices": devices, "grads": grads,
            "attributes": attributes}


def assert_same_model(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["flags"] == before["flags"]
    assert after["devices"] == before["devices"]
    assert after["grads"] == before["grads"]
    assert after["attributes"] == before["attributes"]
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
