"""Heat overlays: a non-negative map drawn over an image in inferno colours, as opaque as it
is strong and transparent where it is zero, so the image shows through where nothing is."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

OPACITY = 170   # alpha of the strongest value (of 255), so the image always shows through


def heat_table(opacity: int = OPACITY) -> np.ndarray:
    """256 RGBA colours (uint8) for values 0…1: inferno, alpha rising from 0 to `opacity`."""
    colours = pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False)
    alpha = np.ceil(np.linspace(0, 1, 256) * opacity)
    return np.column_stack([colours, alpha]).astype(np.uint8)


def heat_image(field: np.ndarray) -> QtGui.QImage:
    """A non-negative (h, w) map, scaled to its peak, as an ARGB image of `heat_table`."""
    peak = field.max() if field.size else 0
    scaled = field / peak if peak > 0 else np.zeros_like(field)
    rgba = heat_table()[np.ceil(scaled * 255).astype(np.intp)].astype(np.uint32)
    pixels = np.ascontiguousarray(
        (rgba[..., 3] << 24) | (rgba[..., 0] << 16) | (rgba[..., 1] << 8) | rgba[..., 2])
    h, w = pixels.shape
    return QtGui.QImage(pixels.data, w, h, pixels.strides[0],
                        QtGui.QImage.Format.Format_ARGB32).copy()
