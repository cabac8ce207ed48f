"""Turning activations and weights into pictures: plain NumPy, run on the worker thread.

Every picture the views show is one mosaic of small tiles, packed as the pixels of a QImage
(one image per refresh instead of one item per tile); `Mosaic` remembers where each tile
is so a view can tell which slice the mouse is over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

MAX_TILE = 48   # px: larger maps are block-averaged down to this size
GAP = 1         # px between tiles
GAP_RGB32 = 0xFF334C73   # a colour no grey tile has, so tiles stay apart


@dataclass(frozen=True)
class Mosaic:
    """Tiles laid out in a grid: `image` is (rows·(h+gap), cols·(w+gap)) packed uint32
    0xffRRGGBB pixels (`to_rgb32`)."""

    image: np.ndarray
    count: int
    cols: int
    tile_height: int
    tile_width: int
    ranges: np.ndarray      # (count, 2): each tile's value range before contrast stretching

    def tile_at(self, row: float, col: float) -> int | None:
        """Index of the tile under pixel (row, col), or None over a gap or outside."""
        r, dr = divmod(int(row), self.tile_height + GAP)
        c, dc = divmod(int(col), self.tile_width + GAP)
        index = r * self.cols + c
        if row < 0 or col < 0 or c >= self.cols or dr >= self.tile_height \
                or dc >= self.tile_width or index >= self.count:
            return None
        return index


def shrink_factor(h: int, w: int, limit: int = MAX_TILE) -> int:
    """The block side `shrink` averages H×W maps over (1: not shrunk)."""
    return max(1, -(-max(h, w) // limit))


def shrunk_cover(h: int, w: int, limit: int = MAX_TILE) -> tuple[int, int]:
    """The rows and columns of H×W maps that `shrink` keeps (it cuts what fills no block)."""
    f = shrink_factor(h, w, limit)
    return h // f * f, w // f * f


def shrink(maps: np.ndarray, limit: int = MAX_TILE) -> np.ndarray:
    """Block-average (N, H, W[, C]) maps so neither side exceeds `limit` pixels."""
    n, h, w = maps.shape[:3]
    f = shrink_factor(h, w, limit)
    if f == 1:
        return maps
    h2, w2 = h // f, w // f
    cut = maps[:, :h2 * f, :w2 * f]
    return cut.reshape(n, h2, f, w2, f, *maps.shape[3:]).mean(axis=(2, 4))


def enlarge(tiles: np.ndarray, minimum: int) -> np.ndarray:
    """Repeat the pixels of small (N, h, w[, C]) tiles so the larger side reaches `minimum`."""
    f = max(1, minimum // max(tiles.shape[1:3]))
    return tiles.repeat(f, axis=1).repeat(f, axis=2) if f > 1 else tiles


def stretch(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each tile scaled to 0..1 on its own (auto-contrast); also returns the original ranges."""
    flat = tiles.reshape(len(tiles), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    shape = (len(tiles),) + (1,) * (tiles.ndim - 1)
    scaled = (tiles - lo.reshape(shape)) / span.reshape(shape)
    return scaled.astype(np.float32), np.stack([lo, hi], axis=1)


def to_rgb32(scaled: np.ndarray) -> np.ndarray:
    """Tiles in 0..1, grey (N, h, w) or RGB (N, h, w, 3), as packed uint32 0xffRRGGBB: the
    pixels of a QImage in Format_RGB32, which paints without any conversion."""
    # fmax drops NaN (a diverged run): black rather than whatever the cast makes of it
    levels = (np.fmin(np.fmax(scaled, 0), 1) * 255 + 0.5).astype(np.uint32)
    if levels.ndim == 4:
        r, g, b = levels[..., 0], levels[..., 1], levels[..., 2]
        return 0xFF000000 | (r << 16) | (g << 8) | b
    return 0xFF000000 | (levels * 0x010101)


def tile_grid(tiles: np.ndarray, cols: int, ranges: np.ndarray) -> Mosaic:
    """Lay out packed tiles (N, h, w) from `to_rgb32`, `cols` a row. `ranges` (N, 2) are the
    values each tile stands for (what a hover reports)."""
    n, h, w = tiles.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    image = np.full((rows * (h + GAP) - GAP, cols * (w + GAP) - GAP), GAP_RGB32, np.uint32)
    # A view of the image as (rows, cols, h, w) cells, gaps skipped.
    row_step, col_step = image.strides
    cells = as_strided(image, (rows, cols, h, w),
                       (row_step * (h + GAP), col_step * (w + GAP)) + image.strides)
    full, rest = divmod(n, cols)
    cells[:full] = tiles[:full * cols].reshape(full, cols, h, w)
    if rest:
        cells[full, :rest] = tiles[full * cols:]
    return Mosaic(image, n, cols, h, w, np.asarray(ranges))


def filter_tiles(weights: np.ndarray) -> np.ndarray:
    """Conv weights (F, F, D1, K) as K tiles to draw: (K, F, F, 3) RGB when D1 is 3, else
    (K, F, F), the mean over depth."""
    filters = np.moveaxis(weights, -1, 0)            # (K, F, F, D1)
    return filters if filters.shape[-1] == 3 else filters.mean(axis=-1)


def as_display(image: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, C) image as (H, W) grey or (H, W, 3) RGB for an image item."""
    return image[..., 0] if image.shape[-1] == 1 else image[..., :3]
