"""Classify one image (dropped on the view, opened, or taken from the validation set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from designer.training.images import as_display
from engine.data import DataError
from engine.data.folder import read_image_file
from engine.spec import Volume

TOP = 5   # classes shown


def image_box(view: pg.GraphicsLayoutWidget, title: str) -> tuple[pg.ViewBox, pg.ImageItem]:
    """A fixed-aspect, top-down view box holding one row-major image item, under a title."""
    view.addLabel(title)
    view.nextRow()
    box = view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
    box.setMouseEnabled(False, False)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    return box, item


def ask_image_path(parent) -> str | None:
    """An image file chosen by the user, to classify."""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(
        parent, "Classify Image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff)")
    return path or None


def top_classes(probabilities: np.ndarray, names: list[str], k: int = TOP):
    """The k most probable classes, best first, as (name, probability) pairs."""
    order = np.argsort(probabilities)[::-1][:k]
    return [(names[i], float(probabilities[i])) for i in order]


class ClassifyView(QtWidgets.QWidget):
    """Emits `classify(image)` for a uint8 (H, W, D) image; shows the `Prediction` it gets.

    `error(sentence)` reports a file that cannot be read.
    """

    classify = QtCore.Signal(object)
    error = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.volume: Volume | None = None
        self._submitted: np.ndarray | None = None
        self._label: int | None = None   # the class of the image submitted, when known
        self.samples: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.caption = QtWidgets.QLabel("Drop an image file here, open one, or pick a "
                                        "validation image.")
        self.caption.setWordWrap(True)
        self.open_button = QtWidgets.QPushButton("Open Image…")
        self.open_button.clicked.connect(self._open)
        self.sample = QtWidgets.QSpinBox()
        self.sample.setPrefix("validation image ")
        self.pick = QtWidgets.QPushButton("Classify")
        self.pick.setToolTip("Classify the chosen validation image.")
        self.pick.clicked.connect(self.submit_sample)
        self.image_view = pg.GraphicsLayoutWidget()
        self.image_view.setFixedWidth(120)
        self._box, self.image_item = image_box(self.image_view, "image")
        self.bars_plot = pg.PlotWidget(title="Top classes")
        self.bars_plot.setLabel("left", "probability (%)")
        self.bars_plot.setYRange(0, 100)
        self.bars_plot.setMouseEnabled(False, False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=(80, 140, 255))
        self.bars_plot.addItem(self.bars)
        for child in (self.image_view, self.bars_plot):
            child.setAcceptDrops(False)   # drops land on this view, not on the plots
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.open_button)
        row.addStretch(1)
        row.addWidget(self.sample)
        row.addWidget(self.pick)
        body = QtWidgets.QHBoxLayout()
        body.addWidget(self.image_view)
        body.addWidget(self.bars_plot, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        layout.addWidget(self.caption)
        layout.addLayout(body, 1)
        self.set_samples(None, None)

    def set_samples(self, volume: Volume | None, samples: np.ndarray | None,
                    labels: np.ndarray | None = None) -> None:
        """The network's input volume and the validation images to pick from, with their
        classes (None: none yet)."""
        self.volume, self.samples, self.labels = volume, samples, labels
        ready = volume is not None
        self.open_button.setEnabled(ready)
        self.pick.setEnabled(ready and samples is not None and len(samples) > 0)
        count = len(samples) if samples is not None else 0
        self.sample.setRange(1, max(count, 1))   # counted from 1, as the network view counts
        self.sample.setSuffix(f" of {count}")

    def submit_sample(self) -> None:
        """Classify the chosen validation image."""
        if self.samples is not None and len(self.samples):
            index = self.sample.value() - 1
            self.submit(self.samples[index],
                        None if self.labels is None else int(self.labels[index]))

    def submit(self, image: np.ndarray, label: int | None = None) -> None:
        self._submitted, self._label = image, label
        self.image_item.setImage(as_display(image), autoLevels=True)
        self._box.autoRange(padding=0.02)
        self.classify.emit(image)

    def submit_file(self, path: str | Path) -> None:
        if self.volume is None:
            return
        try:
            self.submit(read_image_file(Path(path), self.volume))
        except DataError as e:
            self.error.emit(str(e))

    def show_prediction(self, prediction) -> None:
        if prediction.image is not self._submitted:
            return   # the answer for an image submitted before the one shown
        top = top_classes(prediction.probabilities, prediction.class_names)
        x = np.arange(len(top))
        self.bars.setOpts(x=x, height=[100 * p for _, p in top], width=0.6)
        self.bars_plot.getAxis("bottom").setTicks([[(i, name) for i, (name, _) in enumerate(top)]])
        self.bars_plot.setXRange(-0.5, max(len(top), 1) - 0.5)
        name, p = top[0]
        truth = "" if self._label is None else (
            f" The image is labelled {prediction.class_names[self._label]}"
            f" ({100 * prediction.probabilities[self._label]:.1f} %).")
        self.caption.setText(f"Most likely: {name} ({100 * p:.1f} %).{truth}")

    def _open(self) -> None:
        path = ask_image_path(self)
        if path:
            self.submit_file(path)

    def dragEnterEvent(self, event) -> None:
        if self.volume is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.submit_file(urls[0].toLocalFile())
