"""Layers by name, and what they output in a forward: the hooks every picture shares."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..errors import UsageError
from ..receptive_field import closest
from ..tensors import flat_tensors


def module_named(model: nn.Module, layer: str) -> nn.Module:
    """The module ``layer`` (a qualified name such as ``features.3``) of ``model``."""
    modules = dict(model.named_modules())
    if layer and layer in modules:
        return modules[layer]
    names = [n for n in modules if n]
    raise UsageError(f"no layer named {layer!r} in {type(model).__name__}. "
                     f"{closest(layer, names)} Layer names are qualified module names, as "
                     "`convscope summary` lists them.", layer=layer)


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """``model`` in eval mode inside the block (batch norm reads its running statistics, dropout
    is off), so a picture never updates a statistic; every module's own flag is put back after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


class _Stop(Exception):
    """Raised by the hook once the layer has run: the rest of the forward is not needed."""


def capture(model: nn.Module, layer: str, x: torch.Tensor, whole: bool = True
            ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Run ``model`` on the batch ``x``: (model output, output of module ``layer``).

    The layer's first call counts (a module used twice is caught the first time); a layer that
    returns several tensors gives its first. ``whole=False`` stops the forward once the layer has
    run, and the model output is then None.
    """
    module = module_named(model, layer)
    caught: list[torch.Tensor] = []

    def hook(mod, args, output):
        if not caught:
            caught.append(output if isinstance(output, torch.Tensor)
                          else next(iter(flat_tensors(output)), None))
            if not whole:
                raise _Stop

    handle = module.register_forward_hook(hook)
    result = None
    try:
        result = model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not caught:
        raise UsageError(f"layer {layer} did not run in the forward of {type(model).__name__}; "
                         "pick a layer its forward calls.", layer=layer)
    if caught[0] is None:
        raise UsageError(f"layer {layer} returns no tensor; pick a layer whose output holds one.",
                         layer=layer)
    return result, caught[0]


def spatial(activation: torch.Tensor, layer: str, picture: str) -> torch.Tensor:
    """``activation`` checked to be a [N, C, H, W] map, with a message saying why it must be."""
    if activation.dim() != 4:
        raise UsageError(f"{picture} needs a layer whose output is a [N, C, H, W] map; "
                         f"{layer} gives {list(activation.shape)}. Pick a convolution or an "
                         "activation before the flatten/pooling.", layer=layer)
    return activation


def last_spatial_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The module whose output is the last [N, C, H, W] map with more than one position a leaf
    module makes: the default layer of Grad-CAM and of the effective receptive field (usually
    the activation or pooling after the last convolution; a 1x1 map would say nothing about
    where). A leaf, so the name is a row of ``convscope summary`` rather than a container such
    as ``features``, unless that leaf made the map at a later call: ``capture`` takes a module's
    first call, so the map is named by the innermost module whose first call returned it
    (ResNet's shared ReLU makes the block's output at its second call: ``layer4.1``)."""
    names = {id(m): n for n, m in model.named_modules() if n}
    leaves = {n for n, m in model.named_modules() if n and next(m.children(), None) is None}
    # a map is (tensor, version): an in-place op (ResNet's += and ReLU) keeps the tensor and
    # changes its values, so a batch norm's output object is also the block's
    maps: list[tuple[torch.Tensor, int, str]] = []  # each spatial map a leaf made, and the leaf
    first: dict[str, tuple[torch.Tensor, int] | None] = {}  # each module's first call's output

    def hook(module, args, output):
        name = names[id(module)]
        spatial = (isinstance(output, torch.Tensor) and output.dim() == 4
                   and output[0, 0].numel() > 1)
        made = (output, output._version) if spatial else None
        if spatial and name in leaves:
            maps.append((*made, name))
        first.setdefault(name, made)

    handles = [m.register_forward_hook(hook) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad(), evaluating(model):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    if not maps:
        raise UsageError(f"{type(model).__name__} has no layer with a [N, C, H, W] output of more "
                         "than one position; pass --layer.")
    last, version, maker = maps[-1]
    returned = [name for name, made in first.items()
                if made is not None and made[0] is last and made[1] == version]
    if returned:  # the last leaf that made it, else the innermost module that returned it
        return max(reversed(returned), key=lambda name: (name in leaves, name.count(".")))
    # made at a later call inside the model's own forward: the last leaf's first map instead
    firsts = [name for name, out in first.items() if out is not None and name in leaves]
    return firsts[-1] if firsts else maker
