"""Pictures of what a CNN sees: its first filters, a layer's feature maps, Grad-CAM heat maps,
effective receptive fields, and a run's training curves (``convscope show``).

One module per picture computes it with torch and returns plain tensors or small dataclasses
(``filters``, ``features``, ``gradcam``, ``erf``, ``curves``); ``draw`` is the only one that
uses matplotlib, and turns those into PNG files. ``layers`` finds a layer by name and catches its
output; ``mosaic`` lays many small images out as one. No function changes the model: it runs in
eval mode and every flag and weight is put back.

    >>> from convscope import zoo
    >>> from convscope.show import first_conv, filter_grid
    >>> name, conv = first_conv(zoo.create("simple_cnn"))
    >>> name, tuple(filter_grid(conv.weight).shape)  # 4 filters 3x3: a 2 x 2 grid, 1-px gaps
    ('0.0', (9, 9, 3))
"""
from .curves import Curves, curves
from .erf import Erf, effective_field, field_box
from .features import feature_maps, feature_mosaic
from .filters import filter_grid, first_conv, normalised_filters
from .gradcam import GradCam, grad_cam
from .layers import last_spatial_layer, module_named

__all__ = ["Curves", "curves", "Erf", "effective_field", "field_box", "feature_maps",
           "feature_mosaic", "filter_grid", "first_conv", "normalised_filters", "GradCam",
           "grad_cam", "last_spatial_layer", "module_named"]
