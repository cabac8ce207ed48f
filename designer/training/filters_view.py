"""The first convolutional layer's filters as small images: the notes' edge and colour
detectors."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from designer.training.mosaic_view import MosaicView


class FiltersView(QtWidgets.QWidget):
    """Emits `wanted(bool)` as it is shown or hidden; draws the `FilterPicture`s it gets."""

    wanted = QtCore.Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.caption = QtWidgets.QLabel("Train or open a checkpoint to see the first "
                                        "convolutional layer's filters.")
        self.caption.setWordWrap(True)
        self.grid = MosaicView(self._describe)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.grid, 1)

    @property
    def tile_count(self) -> int:
        return self.grid.tile_count

    def show_picture(self, picture) -> None:
        if picture is None:
            self.grid.reset()
            self.caption.setText("This network has no convolutional layer, so there are no "
                                 "filters to show.")
            return
        self.grid.show_mosaic(picture.mosaic)
        f, _, depth, k = picture.shape
        colour = "RGB" if depth == 3 else ("grey" if depth == 1 else f"mean of {depth} slices")
        self.caption.setText(f"{picture.layer_name}: {k} filters of {f}×{f}×{depth} ({colour})")

    def reset(self) -> None:
        self.grid.reset()

    def _describe(self, index: int, low: float, high: float) -> str:
        return f"filter {index}: weights {low:.3g} … {high:.3g}"

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.wanted.emit(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.wanted.emit(False)
