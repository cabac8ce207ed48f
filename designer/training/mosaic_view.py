"""A pyqtgraph view of one `Mosaic`: image item made once, hover names the tile under the mouse."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from designer.training.images import Mosaic


def image_box(view: pg.GraphicsLayoutWidget, title: str = "") -> tuple[pg.ViewBox, pg.ImageItem]:
    """A fixed-aspect, top-down view box holding one row-major image item."""
    if title:
        view.addLabel(title)
        view.nextRow()
    box = view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
    box.setMouseEnabled(False, False)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    return box, item


class MosaicView(QtWidgets.QWidget):
    """Shows a grid of tiles; `describe(index, low, high)` words the hover text for a tile."""

    def __init__(self, describe, parent=None):
        super().__init__(parent)
        self._describe = describe
        self.mosaic: Mosaic | None = None
        self.graphics = pg.GraphicsLayoutWidget()
        self.box, self.item = image_box(self.graphics)
        self.hover = QtWidgets.QLabel(" ")
        self.hover.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.hover)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)

    @property
    def tile_count(self) -> int:
        return 0 if self.mosaic is None else self.mosaic.count

    def show_mosaic(self, mosaic: Mosaic) -> None:
        first = self.mosaic is None or self.mosaic.image.shape != mosaic.image.shape
        self.mosaic = mosaic
        self.item.setImage(mosaic.image, levels=(0.0, 1.0), autoLevels=False)
        if first:
            self.box.autoRange(padding=0.02)

    def reset(self) -> None:
        self.mosaic = None
        self.item.clear()
        self.hover.setText(" ")

    def _mouse_moved(self, scene_pos) -> None:
        if self.mosaic is None:
            return
        pos = self.item.mapFromScene(scene_pos)
        index = self.mosaic.tile_at(pos.y(), pos.x())
        if index is None:
            self.hover.setText(" ")
            return
        low, high = self.mosaic.ranges[index]
        self.hover.setText(self._describe(index, low, high))
