"""Turning activations and weights into pictures: plain NumPy, run on the worker thread.

Every picture the views show is one mosaic array of small tiles (one `setImage` per
refresh instead of one image item per tile); `Mosaic` remembers where each tile is so
a view can tell which slice the mouse is over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_TILE = 48   # px: larger maps are block-averaged down to this size
MIN_TILE = 16   # px: smaller ones are enlarged (nearest) so the 1 px gaps stay thin beside them
GAP = 1         # px between tiles
GAP_COLOUR = (0.2, 0.3, 0.45)   # a colour no grey tile has, so tiles stay apart


@dataclass(frozen=True)
class Mosaic:
    """Tiles laid out in a grid: `image` is RGB (rows·(h+gap), cols·(w+gap), 3) in 0..1."""

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


def shrink(maps: np.ndarray, limit: int = MAX_TILE) -> np.ndarray:
    """Block-average (N, H, W[, C]) maps so neither side exceeds `limit` pixels."""
    n, h, w = maps.shape[:3]
    f = max(1, -(-max(h, w) // limit))
    if f == 1:
        return maps
    h2, w2 = h // f, w // f
    cut = maps[:, :h2 * f, :w2 * f]
    return cut.reshape(n, h2, f, w2, f, *maps.shape[3:]).mean(axis=(2, 4))


def enlarge(tiles: np.ndarray, minimum: int = MIN_TILE) -> np.ndarray:
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


def mosaic(tiles: np.ndarray) -> Mosaic:
    """Lay out (N, h, w[, 3]) tiles, each stretched to 0..1, on a near-square RGB grid."""
    scaled, ranges = stretch(tiles.astype(np.float32))
    scaled = enlarge(scaled)
    if scaled.ndim == 3:
        scaled = np.repeat(scaled[..., None], 3, axis=3)
    n, h, w = scaled.shape[:3]
    cols = max(1, int(np.ceil(np.sqrt(n * h / w))))
    rows = -(-n // cols)
    padded = np.empty((rows * cols, h + GAP, w + GAP, 3), np.float32)
    padded[:] = GAP_COLOUR
    padded[:n, :h, :w] = scaled
    grid = padded.reshape(rows, cols, h + GAP, w + GAP, 3).swapaxes(1, 2)
    image = grid.reshape(rows * (h + GAP), cols * (w + GAP), 3)[:-GAP, :-GAP]
    return Mosaic(np.ascontiguousarray(image), n, cols, h, w, ranges)


def activation_mosaic(maps: np.ndarray) -> Mosaic:
    """One layer's output for one image, (H, W, D), as D tiles (one per depth slice)."""
    slices = np.moveaxis(maps, -1, 0)
    return mosaic(shrink(slices))


def filter_mosaic(weights: np.ndarray) -> Mosaic:
    """Conv weights (F, F, D1, K) as K tiles: RGB when D1 is 3, else the mean over depth."""
    filters = np.moveaxis(weights, -1, 0)            # (K, F, F, D1)
    if filters.shape[-1] != 3:
        filters = filters.mean(axis=-1)
    return mosaic(shrink(filters))


def as_display(image: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, C) image as (H, W) grey or (H, W, 3) RGB for an image item."""
    return image[..., 0] if image.shape[-1] == 1 else image[..., :3]
