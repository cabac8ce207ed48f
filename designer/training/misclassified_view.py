"""The validation images the run gets wrong, most confidently wrong first: a thumbnail each,
with its true and predicted class and the confidence; a click shows one in Classify."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from designer.training.images import as_display
from designer.training.insight import MisclassifiedImages

THUMB = 56          # px: thumbnails are enlarged (whole pixels) or shrunk to this
IDLE = "The validation images the network gets wrong are listed here when this tab is open."
INDEX = QtCore.Qt.ItemDataRole.UserRole


def thumbnail(image: np.ndarray) -> QtGui.QIcon:
    """A uint8 (H, W, C) image as an icon of THUMB px, its pixels kept sharp."""
    shown = np.ascontiguousarray(as_display(image))
    h, w = shown.shape[:2]
    fmt = (QtGui.QImage.Format.Format_Grayscale8 if shown.ndim == 2
           else QtGui.QImage.Format.Format_RGB888)
    picture = QtGui.QImage(shown.data, w, h, shown.strides[0], fmt).scaled(
        THUMB, THUMB, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
        QtCore.Qt.TransformationMode.FastTransformation)
    return QtGui.QIcon(QtGui.QPixmap.fromImage(picture))


class MisclassifiedView(QtWidgets.QWidget):
    """Emits `requested` when its list is out of date and it is seen (or Refresh is pressed),
    `chosen(index)` when the user clicks the validation image `index`."""

    requested = QtCore.Signal()
    chosen = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.images: np.ndarray | None = None
        self.run_key: str | None = None
        self.stale = False
        self.summary = QtWidgets.QLabel(IDLE)
        self.summary.setWordWrap(True)
        self.refresh = QtWidgets.QPushButton("Refresh")
        self.refresh.setToolTip("Classify the validation images again with the current weights.")
        self.refresh.clicked.connect(self.requested)
        self.list = QtWidgets.QListWidget()
        self.list.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.list.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.list.setGridSize(QtCore.QSize(THUMB + 36, THUMB + 40))
        self.list.setMovement(QtWidgets.QListView.Movement.Static)
        self.list.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(lambda item: self.chosen.emit(item.data(INDEX)))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        self.set_run(None, None)

    def set_run(self, images: np.ndarray | None, run_key: str | None) -> None:
        """The validation images of run `run_key` (None: no run, or its data is missing)."""
        self.images, self.run_key = images, run_key
        self.list.clear()
        self.summary.setText(IDLE if images is not None or run_key is None else
                             "This run's validation images cannot be loaded.")
        self.refresh.setEnabled(images is not None)
        self.outdated()

    def outdated(self) -> None:
        """The weights changed: the list is asked for again now if seen, else when seen."""
        self.stale = self.images is not None
        self._ask_if_seen()

    def show_mistakes(self, found: MisclassifiedImages) -> None:
        names = found.class_names
        self.list.clear()
        for m in found.mistakes:
            item = QtWidgets.QListWidgetItem(thumbnail(self.images[m.index]),
                                             f"{names[m.true]} → {names[m.predicted]}\n"
                                             f"{100 * m.confidence:.0f} %")
            item.setData(INDEX, m.index)
            item.setToolTip(f"Validation image {m.index + 1}: a {names[m.true]}, taken for a "
                            f"{names[m.predicted]} with {100 * m.confidence:.1f} % confidence.")
            self.list.addItem(item)
        count, total = len(found.mistakes), found.images
        share = f" ({100 * count / total:.1f} %)" if total else ""
        self.summary.setText(
            f"{count} of {total} validation images misclassified{share}, most confident "
            "first (true → predicted, confidence). Click one to see it in Classify with its "
            "saliency." if count else f"All {total} validation images are classified right.")

    def _ask_if_seen(self) -> None:
        if self.stale and self.isVisible():
            self.stale = False
            self.requested.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._ask_if_seen()
