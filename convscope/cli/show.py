"""`convscope show`: pictures of what a network sees, written as PNG files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from ..errors import UsageError
from .app import ArgOpt, DebugOpt, InputOpt, app, friendly, load_network, output_folder

if TYPE_CHECKING:
    from torch import nn

    from ..train.checkpoint import Run

WHATS = ("filters", "features", "gradcam", "erf", "curves")
# the options each picture reads; any other given is refused rather than left unread
USES = {"filters": (), "features": ("--image", "--index", "--data", "--layer"),
        "gradcam": ("--image", "--index", "--data", "--layer", "--class"),
        "erf": ("--layer",), "curves": ()}


@dataclass
class Request:
    """What one `convscope show` call asks for, with the model loaded."""

    model: nn.Module  # in eval mode
    run: Optional[Run]  # None for a MODEL spec
    input_size: tuple[int, ...]
    out: Path
    layer: Optional[str]
    target: Optional[int]
    image: Optional[Path]
    index: Optional[int]
    data: Optional[str]


@app.command()
@friendly
def show(
    run_or_model: str = typer.Argument(
        ..., metavar="RUN_OR_MODEL",
        help="a run folder or .pt checkpoint from `convscope train`, or a MODEL spec (zoo:NAME, "
             "package.module:callable, file.py:callable) with its untrained weights"),
    what: str = typer.Option(..., "--what", "-w", help="filters|features|gradcam|erf|curves"),
    out: str = typer.Option(..., "--out", "-o", help="folder for the PNG files (created)"),
    image: Optional[Path] = typer.Option(None, "--image", help="an image file to look at"),
    index: Optional[int] = typer.Option(None, "--index",
                                        help="look at validation image N of --data (default 0)"),
    layer: Optional[str] = typer.Option(
        None, "--layer", "-l", help="the layer for features (default: the first conv), gradcam "
                                    "and erf (default: the last layer with a spatial map)"),
    target: Optional[int] = typer.Option(None, "--class",
                                         help="Grad-CAM of class K (default: the predicted one)"),
    data: Optional[str] = typer.Option(
        None, "--data", help="where --index picks from: digits, a folder of class folders, mnist "
                             "or cifar10 (default: the run's data, else digits)"),
    input: Optional[str] = InputOpt,
    arg: List[str] = ArgOpt,
    debug: bool = DebugOpt,
):
    """Pictures as PNG files in --out: the first layer's filters (filters.png), one layer's
    feature maps for one input (features-LAYER.png), the Grad-CAM heat map of a class over the
    input (gradcam.png), the effective receptive field of a layer, the mean |gradient| of its
    middle unit over random inputs with the theoretical field as a box (erf-LAYER.png), and the
    training curves of a run (curves.png). The input is --image, or validation image --index of
    --data, standardised as the run was trained.

    \b
    Examples:
      convscope show runs/digits --what gradcam --index 3 --out pictures
      convscope show runs/digits --what features --layer 1 --image seven.png --out pictures
      convscope show runs/digits --what curves --out pictures
      convscope show zoo:simple_cnn --arg num_classes=10 --what erf --layer 3 --out pictures
      convscope show zoo:resnet18 --what filters --out pictures
    """
    if what not in WHATS:
        raise UsageError(f"--what {what!r} is not one of {', '.join(WHATS)}.")
    if image is not None and index is not None:
        raise UsageError("give --image PATH or --index N, not both.")
    _check_used(what, {"--image": image, "--index": index, "--data": data, "--layer": layer,
                       "--class": target})
    if layer is not None and not layer.strip():  # was read as no --layer: the default one
        raise UsageError("--layer is empty: give a layer's name, as `convscope summary MODEL` "
                         "lists them, or leave --layer out for the default.")
    model, run, input_size = _load(run_or_model, arg, input, what != "curves")
    if what == "curves" and run is None:
        raise UsageError(f"--what curves needs a run written by `convscope train`; "
                         f"{run_or_model} is a MODEL spec, which has no training history.")
    if what in ("features", "gradcam", "erf"):
        _check_forward(model, input_size)
    folder = output_folder(out)  # a str: typer would have read "" as the working directory
    request = Request(model, run, input_size, folder, layer, target, image, index, data)
    line = {"filters": _filters, "features": _features, "gradcam": _gradcam, "erf": _erf,
            "curves": _curves}[what](request)
    typer.echo(line)


def _check_used(what: str, given: dict) -> None:
    """Refuse the options ``--what`` does not read: silently unread, they looked obeyed."""
    unread = [flag for flag, value in given.items() if value is not None and flag not in USES[what]]
    if unread:
        readers = [w for w in WHATS if unread[0] in USES[w]]
        listed = ", ".join(readers[:-1]) + " or " + readers[-1] if len(readers) > 1 else readers[0]
        raise UsageError(f"--what {what} does not use {', '.join(unread)}: leave "
                         f"{'them' if len(unread) > 1 else 'it'} out ({unread[0]} is for "
                         f"--what {listed}).")


def _load(spec: str, args: list[str], input: Optional[str], needs_model: bool = True):
    """(model in eval mode, Run or None, input size C x H x W) of RUN_OR_MODEL. Without
    ``needs_model`` (curves: the history alone) a run's model is not rebuilt, and is None: a
    run of a model passed as a Python object has curves too."""
    from ..train.checkpoint import is_run, load_run, load_trained_model

    if is_run(spec) or Path(spec).is_dir():
        if args or input is not None:
            raise UsageError("--arg and --input describe a MODEL spec; a run already records its "
                             "model and input size.")
        model, run = load_trained_model(spec) if needs_model else (None, load_run(spec)[0])
        return model, run, tuple(run.input_size)
    network, _, shapes = load_network(spec, args, input, shapes_only=False)
    if len(shapes) != 1 or len(shapes[0]) != 3:
        raise UsageError(f"show needs one image input C x H x W; got --input {input}.")
    return network.eval(), None, shapes[0]


def _check_forward(model: nn.Module, input_size: tuple[int, ...]) -> None:
    """The check summary makes: a model that cannot run on the input stops with one message
    naming the layer, not with the error PyTorch's real forward would raise."""
    from ..probe import checked_trace
    from ..trace.inputs import make_spec

    checked_trace(model, make_spec(input_size))


def _picture_input(request: Request):
    """(image [C, H, W], its true class's name or None, what it is, the names of the model's
    outputs: the run's classes, or the data's for a model that was not trained here, else None).
    The true class is named by the data it comes from, which may not be the run's. Only the one
    image is resized (``validation_image``): not the whole data set, at the model's size."""
    from ..train.data import load_image, measured_normalisation, validation_image

    run, name = request.run, _data_name(request)
    if request.image is not None:
        normalisation = run.normalisation if run else measured_normalisation(
            name, request.input_size)
        image = load_image(request.image, request.input_size, normalisation)
        return image, None, str(request.image), run.classes if run else None
    # standardised as the run was, or as training on the data would
    picked = (validation_image(name, request.input_size, request.index or 0, run.seed,
                               run.val_fraction, run.normalisation) if run else
              validation_image(name, request.input_size, request.index or 0))
    # the run's own data is named as the run names it; another data set by its own names
    names = run.classes if run and request.data is None else picked.classes
    return picked.image, names[picked.label], f"{picked.what} of {name}", (
        run.classes if run else picked.classes)


def _data_name(request: Request) -> str:
    """The data --index picks from: --data, else the run's own, else digits."""
    run = request.run
    return request.data or (run.data if run else "digits")


def _class(k: int, classes) -> str:
    return classes[k] if classes and k < len(classes) else str(k)


def _filters(request: Request) -> str:
    from ..show.draw import draw_filters
    from ..show.filters import filter_grid, first_conv

    name, conv = first_conv(request.model)
    out, inputs, kh, kw = conv.weight.shape
    title = f"{name}: {out} filters {kh}x{kw} over {inputs} input channel{'s' * (inputs > 1)}"
    path = draw_filters(filter_grid(conv.weight), request.out / "filters.png", title)
    return f"wrote {path} ({title})"


def _features(request: Request) -> str:
    from ..show.draw import draw_features
    from ..show.features import feature_maps, feature_mosaic
    from ..show.filters import first_conv

    layer = request.layer or first_conv(
        request.model, "the default layer of --what features: pass --layer NAME, a layer whose "
                       "output is a [N, C, H, W] map")[0]
    image, _, source, _ = _picture_input(request)
    maps = feature_maps(request.model, layer, image)
    title = f"{layer}: {maps.shape[0]} maps {maps.shape[1]}x{maps.shape[2]} of {source}"
    path = draw_features(feature_mosaic(maps), request.out / f"features-{layer}.png", title)
    return f"wrote {path} ({title})"


def _gradcam(request: Request) -> str:
    from ..show.draw import draw_gradcam
    from ..show.gradcam import grad_cam

    image, label, source, classes = _picture_input(request)
    cam = grad_cam(request.model, image, request.layer, request.target)
    outputs, unlike = len(cam.probabilities), None
    if classes is not None and len(classes) != outputs:
        # an untrained model's outputs are not the data's classes: numbered, and said so
        unlike, classes = len(classes), None
    predicted = cam.predicted
    about = f"predicted {_class(predicted, classes)}, p={cam.probabilities[predicted]:.2f}"
    if label is not None:
        about += f", true {label}"
    if unlike is not None:
        about += (f"; the model has {outputs} outputs and the data {unlike} classes, so its "
                  "outputs are numbers, not the data's classes (train it on the data first)")
    if cam.target != predicted:
        about += f"; class {_class(cam.target, classes)}, p={cam.probabilities[cam.target]:.2f}"
    title = f"Grad-CAM of class {_class(cam.target, classes)} at {cam.layer}, {source}"
    path = draw_gradcam(image, cam.heat, request.out / "gradcam.png", title)
    return f"wrote {path} ({about}; layer {cam.layer})"


def _erf(request: Request) -> str:
    import torch

    from ..show.draw import draw_erf
    from ..show.erf import effective_field
    from ..show.layers import last_spatial_layer

    layer = request.layer or last_spatial_layer(request.model, torch.randn(1, *request.input_size))
    erf = effective_field(request.model, layer, request.input_size)
    top, left, height, width = erf.box
    title = f"ERF of unit {erf.unit} of {layer}, theoretical field {erf.field.short()} (box)"
    path = draw_erf(erf.heat, erf.box, request.out / f"erf-{layer}.png", title)
    return (f"wrote {path} (unit {erf.unit} of {layer}: theoretical field {erf.field.short()}, "
            f"rows {top}..{top + height - 1} x columns {left}..{left + width - 1}; "
            f"{erf.inside:.0%} of the gradient inside)")


def _curves(request: Request) -> str:
    from ..show.curves import curves
    from ..show.draw import draw_curves

    history = request.run.history  # up to the checkpoint's epoch; a run folder has them all
    last = request.run.path / "last.pt" if request.run.path else None
    if last is not None and last.exists():
        from ..train.checkpoint import load_run

        history = load_run(last)[0].history
    series = curves(history)
    path = draw_curves(series, request.out / "curves.png", title=request.run.name)
    return f"wrote {path} ({len(series.epochs)} epochs: {', '.join(series.panels)})"
