"""Many small images laid out as one: a near-square grid of tiles with a gap between them.

``n`` tiles of h x w take ``columns = ceil(sqrt(n))`` and ``rows = ceil(n / columns)``; tile k
sits at row k // columns, column k % columns, and its top-left pixel is at

    (gap + row*(h + gap), gap + column*(w + gap))

so the whole picture is ``rows*(h + gap) + gap`` by ``columns*(w + gap) + gap``. Eight 3x3
filters: 3 x 3 tiles, a 13 x 13 picture.
"""
from __future__ import annotations

import math

import torch


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) of the grid for ``count`` tiles."""
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def tile_origin(index: int, count: int, tile: tuple[int, int], gap: int = 1) -> tuple[int, int]:
    """(top, left) pixel of tile ``index`` of ``count`` tiles of size ``tile`` (h, w)."""
    columns = grid_shape(count)[1]
    row, column = divmod(index, columns)
    return gap + row * (tile[0] + gap), gap + column * (tile[1] + gap)


def mosaic(tiles: torch.Tensor, gap: int = 1, fill: float = 1.0) -> torch.Tensor:
    """tiles [n, h, w, *c] -> one picture [H, W, *c], the gaps set to ``fill``."""
    count, h, w = tiles.shape[:3]
    rows, columns = grid_shape(count)
    picture = torch.full((rows * (h + gap) + gap, columns * (w + gap) + gap, *tiles.shape[3:]),
                         fill, dtype=tiles.dtype)
    for index in range(count):
        top, left = tile_origin(index, count, (h, w), gap)
        picture[top:top + h, left:left + w] = tiles[index]
    return picture


def stretch(values: torch.Tensor, dims) -> torch.Tensor:
    """Min-max to [0, 1] over ``dims`` (x - min) / (max - min); a constant block becomes 0.5."""
    low, high = values.amin(dims, keepdim=True), values.amax(dims, keepdim=True)
    span = high - low
    return torch.where(span > 0, (values - low) / span.clamp_min(1e-30),
                       torch.full_like(values, 0.5))
