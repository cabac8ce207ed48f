"""Activation maps: a validation image and every depth slice of one layer's output for it."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from designer.training.mosaic_view import MosaicView, image_box
from engine.spec import NetworkSpec

SKIPPED = frozenset({"input", "softmax", "svm"})   # nothing to show beyond the image or scores


class ActivationView(QtWidgets.QWidget):
    """Pick a layer and a sample; emits `wanted(layer_id or None, sample)` when either changes
    or the view is shown (None when hidden), and draws the `ActivationPicture`s it gets."""

    wanted = QtCore.Signal(object, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layer = QtWidgets.QComboBox()
        self.layer.setToolTip("Layer whose output volume is shown; selecting a layer on the "
                              "canvas picks it here too.")
        self.sample = QtWidgets.QSpinBox()
        self.sample.setToolTip("Index of the validation image fed through the network.")
        self.sample.setPrefix("validation image ")
        self.caption = QtWidgets.QLabel("Train or open a checkpoint to see activation maps.")
        self.caption.setWordWrap(True)
        self.input_view = pg.GraphicsLayoutWidget()
        self.input_view.setFixedWidth(110)
        self._input_box, self.input_item = image_box(self.input_view, "input")
        self.grid = MosaicView(self._describe)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.layer, 1)
        row.addWidget(self.sample)
        body = QtWidgets.QHBoxLayout()
        body.addWidget(self.input_view)
        body.addWidget(self.grid, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        layout.addWidget(self.caption)
        layout.addLayout(body, 1)
        self.layer.currentIndexChanged.connect(self._emit_wanted)
        self.sample.valueChanged.connect(self._emit_wanted)

    @property
    def tile_count(self) -> int:
        return self.grid.tile_count

    @property
    def layer_id(self) -> str | None:
        return self.layer.currentData()

    def set_network(self, spec: NetworkSpec, samples: int) -> None:
        """Offer the layers of the network being trained and `samples` validation images."""
        keep = self.layer_id
        with QtCore.QSignalBlocker(self.layer), QtCore.QSignalBlocker(self.sample):
            self.layer.clear()
            for layer in spec.layers:
                if layer.type not in SKIPPED:
                    self.layer.addItem(f"{layer.name} ({layer.kind.title})", layer.id)
            first_conv = next((l.id for l in spec.layers if l.type == "conv"), None)
            index = self.layer.findData(keep if self.layer.findData(keep) >= 0 else first_conv)
            self.layer.setCurrentIndex(max(index, 0))
            self.sample.setRange(0, max(samples - 1, 0))
        self.grid.reset()
        self._emit_wanted()

    def follow(self, layer_id: str) -> None:
        """Show `layer_id` if it is one of the trained network's layers (canvas selection)."""
        index = self.layer.findData(layer_id)
        if index >= 0:
            self.layer.setCurrentIndex(index)

    def show_picture(self, picture) -> None:
        if picture.layer_id != self.layer_id or picture.sample != self.sample.value():
            return   # an answer to an earlier choice; the current one is on its way
        self.input_item.setImage(picture.image, autoLevels=True)
        self._input_box.autoRange(padding=0.02)
        self.grid.show_mosaic(picture.mosaic)
        w, h, d = picture.volume
        self.caption.setText(f"{w}×{h}×{d}: {d} depth slices, each auto-contrasted")

    def _describe(self, index: int, low: float, high: float) -> str:
        return f"depth slice {index}: values {low:.3g} … {high:.3g}"

    def _emit_wanted(self, *_):
        self.wanted.emit(self.layer_id if self.isVisible() else None, self.sample.value())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._emit_wanted()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._emit_wanted()
