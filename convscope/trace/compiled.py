"""Models wrapped by ``torch.compile``: traced as the modules they wrap.

A compiled module hands whatever runs inside its forward to TorchDynamo, our recorder included:
a ResNet-18 took ~5 s to trace (dynamo compiling the recorder, eight times over, with a screen
of warnings) instead of 10 ms. A trace wants the module's own ops, so

- ``uncompiled`` unwraps a compiled model at the door (``analyze``, the CLI's loader): its rows
  and report keep the model's own names (``layer1.0.conv1``, not ``_orig_mod.layer1.0.conv1``);
- ``eager_compiled`` runs any compiled submodule eagerly for the duration of a trace, with
  PyTorch's own switch ``torch.compiler.set_stance("force_eager")``.

Neither imports TorchDynamo: a model can only be compiled once it is imported.
"""
from __future__ import annotations

import contextlib
import sys

import torch
from torch import nn

_DYNAMO = "torch._dynamo.eval_frame"


def uncompiled(model: nn.Module) -> nn.Module:
    """The module ``torch.compile`` wrapped (the same object with the same tensors), or
    ``model`` itself when it is not compiled."""
    frames = sys.modules.get(_DYNAMO)
    while frames is not None and isinstance(model, frames.OptimizedModule):
        model = model._orig_mod
    return model


def eager_compiled():
    """Compiled submodules run their own forward eagerly until the block ends (a no-op where
    TorchDynamo is not imported, or on a PyTorch before 2.6, which has no such switch)."""
    stance = getattr(torch.compiler, "set_stance", None)
    if _DYNAMO not in sys.modules or stance is None:
        return contextlib.nullcontext()
    return stance("force_eager")
