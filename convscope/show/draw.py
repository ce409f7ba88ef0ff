"""Pictures as PNG files: the one module that uses matplotlib (its object API, so no display).

Every function takes what a compute module returned and writes one PNG, returning its path.
Pictures of pixels (filters, feature maps, Grad-CAM, the ERF) are pixel exact: each picture
pixel is a ``scale`` x ``scale`` block (``auto_scale``: about TARGET_PX along the longer side),
panels sit side by side PANEL_GAP pixels apart, under a TITLE_PX strip when there is a title.
A 13 x 13 filter grid at scale 10 with a title is a 130 x (130 + TITLE_PX) PNG, and picture
pixel (i, j) fills PNG rows TITLE_PX + 10*i ... TITLE_PX + 10*i + 9.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..errors import UsageError
from .curves import Curves
from .mosaic import stretch

DPI = 100
TITLE_PX = 30
PANEL_GAP = 8
TARGET_PX = 512
BOX_COLOUR = "cyan"


def auto_scale(height: int, width: int) -> int:
    """The block size of a picture pixel: TARGET_PX // the longer side, at least 1."""
    return max(1, TARGET_PX // max(height, width))


def draw_filters(grid: torch.Tensor, path, title: str | None = None,
                 scale: int | None = None) -> Path:
    """An RGB picture [H, W, 3] in [0, 1] (``filter_grid``), drawn as it is."""
    fig, (ax,) = _pixel_panels(grid.shape[:2], 1, scale, title)
    ax.imshow(grid.numpy(), interpolation="nearest", aspect="auto", vmin=0, vmax=1)
    return _save(fig, path)


def draw_features(picture: torch.Tensor, path, title: str | None = None,
                  scale: int | None = None) -> Path:
    """A grey picture [H, W] in [0, 1] with NaN gaps (``feature_mosaic``), in viridis."""
    matplotlib = _matplotlib()
    fig, (ax,) = _pixel_panels(picture.shape, 1, scale, title)
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    ax.imshow(picture.numpy(), cmap=colours, interpolation="nearest", aspect="auto", vmin=0,
              vmax=1)
    return _save(fig, path)


def draw_gradcam(image: torch.Tensor, heat: torch.Tensor, path, title: str | None = None,
                 scale: int | None = None) -> Path:
    """Two panels: the input [C, H, W] as the model saw it (stretched to [0, 1]), and the same
    with the heat map [H, W] over it in ``jet`` at half opacity (red: most evidence)."""
    fig, (left, right) = _pixel_panels(heat.shape, 2, scale, title)
    for ax in (left, right):
        _show_input(ax, image)
    right.imshow(heat.detach().numpy(), cmap="jet", alpha=0.5, interpolation="nearest",
                 aspect="auto", vmin=0, vmax=1)
    return _save(fig, path)


def draw_erf(heat: torch.Tensor, box: Sequence[int], path, title: str | None = None,
             scale: int | None = None) -> Path:
    """The heat map [H, W] over its maximum in ``magma`` (black: no gradient at all), with the
    theoretical field ``box`` (top, left, height, width) drawn round its pixels in BOX_COLOUR."""
    fig, (ax,) = _pixel_panels(heat.shape, 1, scale, title)
    from matplotlib.patches import Rectangle

    peak = float(heat.max())
    ax.imshow((heat / peak if peak > 0 else heat).numpy(), cmap="magma", interpolation="nearest",
              aspect="auto", vmin=0, vmax=1)
    top, left, height, width = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False,
                           edgecolor=BOX_COLOUR, linewidth=1.5))
    return _save(fig, path)


def curves_figure(curves: Curves, title: str | None = None):
    """A matplotlib Figure with one panel per quantity of ``curves``, epochs along x."""
    Figure = _figure_class()
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = Figure(figsize=(4.2 * len(curves.panels), 3.4), dpi=DPI, layout="constrained")
    marker = "o" if len(curves.epochs) <= 30 else None
    for index, (panel, series) in enumerate(curves.panels.items()):
        ax = fig.add_subplot(1, len(curves.panels), index + 1)
        for label, values in series.items():
            ax.plot(curves.epochs, values, marker=marker, markersize=3, label=label)
        ax.set(xlabel="epoch", title=panel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if panel == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        if len(series) > 1:
            ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def draw_curves(curves: Curves, path, title: str | None = None) -> Path:
    """The training curves (``curves_figure``) as a PNG."""
    return _save(curves_figure(curves, title), path)


def confusion_figure(matrix: torch.Tensor, classes: Sequence[str], title: str | None = None):
    """A matplotlib Figure of ``matrix`` [K, K] (row: true class, column: predicted; counts),
    each cell coloured by its count and labelled with it when K <= 30."""
    matrix = _checked_confusion(matrix, classes)
    Figure = _figure_class()
    k = len(classes)
    side = min(20.0, max(4.0, 2.0 + 0.45 * k))
    fig = Figure(figsize=(side, side), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    counts = matrix.numpy()
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="samples")
    if k <= 30:
        darkest = counts.max() or 1
        for (i, j), count in zip(((i, j) for i in range(k) for j in range(k)), counts.flat):
            ax.text(j, i, str(int(count)), ha="center", va="center", fontsize=8,
                    color="white" if count > darkest / 2 else "black")
    ticks = range(k) if k <= 50 else []
    ax.set_xticks(ticks, [classes[t] for t in ticks], rotation=90 if k > 10 else 0)
    ax.set_yticks(ticks, [classes[t] for t in ticks])
    ax.set(xlabel="predicted class", ylabel="true class")
    total = int(counts.sum())
    if title is None and total:
        title = f"accuracy {int(counts.trace()) / total:.1%} of {total} samples"
    ax.set_title(title)
    return fig


def draw_confusion(matrix: torch.Tensor, classes: Sequence[str], path,
                   title: str | None = None) -> Path:
    """The confusion matrix (``confusion_figure``) as a PNG."""
    return _save(confusion_figure(matrix, classes, title), path)


def _checked_confusion(matrix: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square [K, K] (true x predicted); got "
                         f"{list(matrix.shape)}.")
    if matrix.shape[0] != len(classes):
        raise ValueError(f"the confusion matrix has {matrix.shape[0]} classes but "
                         f"{len(classes)} class names were given.")
    if bool((matrix < 0).any()):
        raise ValueError("a confusion matrix holds counts; it has negative entries.")
    return matrix.detach().cpu().double()


def _show_input(ax, image: torch.Tensor) -> None:
    """An input [C, H, W]: colour when C is 3, else the mean over channels in grey."""
    image = image.detach().float().cpu()
    if image.shape[0] == 3:
        ax.imshow(stretch(image, (0, 1, 2)).permute(1, 2, 0).numpy(), interpolation="nearest",
                  aspect="auto")
    else:
        ax.imshow(stretch(image.mean(0), (0, 1)).numpy(), cmap="gray", interpolation="nearest",
                  aspect="auto", vmin=0, vmax=1)


def _pixel_panels(shape: Sequence[int], count: int, scale: int | None, title: str | None):
    """A figure of ``count`` panels, each an axes exactly ``shape`` x ``scale`` pixels."""
    Figure = _figure_class()
    scale = scale or auto_scale(*shape[:2])
    h, w = shape[0] * scale, shape[1] * scale
    width, height = count * w + (count - 1) * PANEL_GAP, h + (TITLE_PX if title else 0)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axes = []
    for k in range(count):
        ax = fig.add_axes((k * (w + PANEL_GAP) / width, 0, w / width, h / height))
        ax.set_axis_off()
        axes.append(ax)
    if title:  # ~0.6 em per character: shrink the font so the title fits the width
        size = max(5.0, min(11.0, width / (0.6 * len(title)) * 72 / DPI))
        fig.text(0.5, 1 - TITLE_PX / 2 / height, title, ha="center", va="center", fontsize=size)
    return fig, axes


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _figure_class():
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("pictures need matplotlib: pip install 'convscope[train]'.") from None
    return matplotlib
