"""The oracle for training memory: a real CPU step, measured by torch.profiler's memory timeline.

It shares no code with convscope's prediction. What it counts, and why: every allocation that
backs a tensor PyTorch sees at the ATen-op level, from CREATE to DESTROY. It leaves out
  - allocations that back no tensor (oneDNN reorder and scratch buffers: ``Key`` without id), and
  - tensors allocated and freed inside one op (the profiler's TEMPORARY category: im2col
    columns, a kernel's private copy),
which are library workspaces, reported apart as ``workspace_peak``. docs/memory.md explains.
``tensor_peak`` counts the temporaries too: a backward that runs ATen ops of its own inside one
autograd node (a reentrant checkpoint's recomputed forward, spectral norm's division) frees
every tensor it made before the node returns, so the profiler files them all as temporaries.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.profiler._memory_profiler import Category, TensorKey


def _optimizer(name, params):
    if callable(name):  # a test's own: lambda params: torch.optim.SGD(params, ...)
        return name(params)
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=0.01, foreach=False),
        "momentum": lambda: torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False),
        "adam": lambda: torch.optim.Adam(params, lr=1e-3, foreach=False),
        "adamw": lambda: torch.optim.AdamW(params, lr=1e-3, foreach=False),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=0.045, alpha=0.9, eps=1.0,
                                               foreach=False),
    }[name]()


def _peaks(prof) -> dict:
    memory = prof._memory_profile()
    before = live = peak = scratch = scratch_peak = every = every_peak = 0
    for _, action, (key, version), nbytes in memory.timeline:
        tensor = isinstance(key, TensorKey)
        temporary = tensor and memory._categories.get(key, version) == Category.TEMPORARY
        if tensor and action.name in ("CREATE", "DESTROY"):
            every += nbytes if action.name == "CREATE" else -nbytes
            every_peak = max(every_peak, every)
        if action.name == "PREEXISTING":
            before += nbytes
        elif not tensor or temporary:
            scratch += nbytes if action.name == "CREATE" else -nbytes * (action.name == "DESTROY")
            scratch_peak = max(scratch_peak, scratch)
        elif action.name == "CREATE":
            live += nbytes
            peak = max(peak, live)
        elif action.name == "DESTROY":
            live -= nbytes
    return {"preexisting": before, "peak": before + peak, "workspace_peak": scratch_peak,
            "tensor_peak": before + every_peak}


def measure_training_step(model: nn.Module, x: torch.Tensor, optimizer: str,
                          autocast_dtype: torch.dtype | None = None) -> dict:
    """Peak bytes of the second of two real training steps (the first creates optimizer state).
    ``optimizer``: a name of ``_optimizer``'s, or a function from parameters to an optimizer.
    A model with nothing to train steps without an optimizer and, if the loss needs no
    gradient, without a backward."""
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(optimizer, trainable) if trainable else None

    def step():
        with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None):
            out = model(x)
        loss = nn.functional.cross_entropy(out, torch.zeros(out.shape[0], dtype=torch.long))
        del out
        if loss.requires_grad:
            loss.backward()
        del loss
        if opt is not None:
            opt.step()
            opt.zero_grad(set_to_none=True)

    step()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof:
        step()
    return _peaks(prof)


def measure_inference(model: nn.Module, x: torch.Tensor) -> dict:
    model.eval()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof, torch.no_grad():
        out = model(x)
        del out
    return _peaks(prof)
