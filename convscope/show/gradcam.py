"""Grad-CAM: where in the input a convolutional layer found the evidence for one class.

Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization". With A [K, h, w] the layer's activations for one input and y the class score (the
logit, before softmax):

    w_k  = mean over (i, j) of dy / dA_k[i, j]        how much channel k matters to the class
    cam  = ReLU(sum_k w_k * A_k)                       [h, w]: where those channels fire for it

then ``cam`` is resized bilinearly to the input's H x W and divided by its maximum, so it lies in
[0, 1] (all zeros when nothing speaks for the class). The layer defaults to the last one with a
spatial map, the class to the predicted one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .layers import capture, evaluating, last_spatial_layer, spatial


@dataclass(frozen=True)
class GradCam:
    """The heat map [H, W] in [0, 1] for class ``target`` at ``layer``, and the model's softmax
    ``probabilities`` [K] for the input."""

    heat: torch.Tensor
    layer: str
    target: int
    probabilities: torch.Tensor

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())


def grad_cam(model: nn.Module, image: torch.Tensor, layer: str | None = None,
             target: int | None = None) -> GradCam:
    """Grad-CAM of ``image`` [C, H, W] (see the module docstring), with the model in eval mode."""
    x = image.detach()[None].requires_grad_(True)  # a graph even for a layer with no weights
    with evaluating(model), torch.enable_grad():
        layer = layer or last_spatial_layer(model, x)
        logits, activation = capture(model, layer, x)
        spatial(activation, layer, "Grad-CAM")
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            shape = (list(logits.shape) if isinstance(logits, torch.Tensor) else
                     f"a {type(logits).__name__}; return the logits alone")
            raise UsageError(f"Grad-CAM needs a classifier whose output is [N, classes]; "
                             f"{type(model).__name__} returns {shape}.")
        classes = logits.shape[1]
        target = int(logits[0].argmax()) if target is None else target
        if not 0 <= target < classes:
            raise UsageError(f"class {target} is out of range: the model has {classes} classes "
                             f"(0..{classes - 1}).")
        gradient = torch.autograd.grad(logits[0, target], activation, allow_unused=True)[0]
    if gradient is None:  # the class score does not depend on this layer
        gradient = torch.zeros_like(activation)  # [1, K, h, w]
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # w_k [1, K, 1, 1]
    cam = F.relu((weights * activation.detach()).sum(dim=1, keepdim=True))  # [1, 1, h, w]
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    heat = cam / peak if peak > 0 else torch.zeros_like(cam)
    return GradCam(heat, layer, target, logits.detach()[0].softmax(0))
