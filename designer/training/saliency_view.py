"""Saliency and Grad-CAM of the image Classify shows, for a chosen class: which pixels move
the class score most, and which regions of a convolution's maps speak for the class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from designer.training.classify_view import image_box
from designer.training.heat import heat_table
from designer.training.images import as_display
from designer.training.insight import SaliencyAnswer, SaliencyRequest
from designer.training.shown_requests import AsksWhenShown
from engine.spec import NetworkSpec

PREDICTED = "the predicted class"
HEAT = "inferno"
IDLE = "Saliency and Grad-CAM appear here for the image Classify shows."


def _picture(title: str) -> tuple[pg.GraphicsLayoutWidget, pg.ViewBox, pg.ImageItem]:
    widget = pg.GraphicsLayoutWidget()
    widget.setAcceptDrops(False)
    box, item = image_box(widget, title)
    return widget, box, item


class SaliencyView(AsksWhenShown, QtWidgets.QWidget):
    """Emits `wanted` with a `SaliencyRequest` for the image, class and layer chosen while
    visible, None while hidden or without an image; shows the `SaliencyAnswer` it gets.
    A file dropped here is offered as `file_dropped(path)`, for Classify to open."""

    wanted = QtCore.Signal(object)
    file_dropped = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.run_key: str | None = None
        self.image: np.ndarray | None = None
        self.explained: SaliencyAnswer | None = None
        self.class_choice = QtWidgets.QComboBox()
        self.class_choice.setToolTip("The class whose score is explained.")
        self.layer_choice = QtWidgets.QComboBox()
        self.layer_choice.setToolTip("The convolution whose maps Grad-CAM weighs (usually the "
                                     "last: the most semantic maps that still have a place).")
        self.saliency_view, self._saliency_box, self.saliency_item = _picture(
            "saliency |∂score/∂pixel|")
        self.saliency_item.setColorMap(pg.colormap.get(HEAT))
        self.cam_view, self._cam_box, self.cam_image = _picture("Grad-CAM")
        self.cam_heat = pg.ImageItem(axisOrder="row-major")
        self.cam_heat.setLookupTable(heat_table())   # the image shows where nothing speaks
        self._cam_box.addItem(self.cam_heat)
        self.caption = QtWidgets.QLabel(IDLE)
        self.caption.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("Class", self.class_choice)
        form.addRow("Grad-CAM at", self.layer_choice)
        pictures = QtWidgets.QHBoxLayout()
        pictures.addWidget(self.saliency_view)
        pictures.addWidget(self.cam_view)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addLayout(pictures, 1)
        layout.addWidget(self.caption)
        self.class_choice.currentIndexChanged.connect(self._emit_wanted)
        self.layer_choice.currentIndexChanged.connect(self._emit_wanted)
        self.set_run(None, [], None)

    def set_run(self, spec: NetworkSpec | None, class_names: list[str],
                run_key: str | None) -> None:
        """Explain images of the run `run_key` (None: no run) of network `spec`."""
        self.run_key = run_key
        convs = [] if spec is None else [l for l in spec.layers if l.type == "conv"]
        with QtCore.QSignalBlocker(self.class_choice), QtCore.QSignalBlocker(self.layer_choice):
            self.class_choice.clear()
            self.class_choice.addItem(PREDICTED, None)
            for index, name in enumerate(class_names):
                self.class_choice.addItem(name, index)
            self.layer_choice.clear()
            for layer in convs:
                self.layer_choice.addItem(layer.name, layer.id)
            if convs:
                self.layer_choice.setCurrentIndex(len(convs) - 1)
            else:
                self.layer_choice.addItem("no convolution", None)
        self.layer_choice.setEnabled(bool(convs))
        self.class_choice.setEnabled(run_key is not None)
        self._emit_wanted()

    def set_image(self, image: np.ndarray) -> None:
        """The image to explain (what Classify shows)."""
        self.image = image
        self._emit_wanted()

    def request(self) -> SaliencyRequest | None:
        if self.run_key is None or self.image is None or not self.isVisible():
            return None
        return SaliencyRequest(self.image, self.class_choice.currentData(),
                               self.layer_choice.currentData())

    def show_saliency(self, answer: SaliencyAnswer) -> None:
        wanted, e = self.request(), answer.explanation
        if wanted is None or answer.image is not wanted.image or (
                wanted.class_index not in (None, e.class_index)) or (
                wanted.cam_layer not in (None, e.cam_layer)):
            return   # for an image, class or layer chosen before
        self.explained = answer
        self.saliency_item.setImage(e.saliency, levels=(0, max(float(e.saliency.max()), 1e-12)))
        self.cam_image.setImage(as_display(answer.image), autoLevels=True)
        if e.cam is None:
            self.cam_heat.clear()
        else:
            self.cam_heat.setImage(e.cam, levels=(0, 1))
        for box in (self._saliency_box, self._cam_box):
            box.autoRange(padding=0.02)
        names, p = answer.class_names, e.probabilities
        self.caption.setText(
            f"Predicted {names[e.predicted]} ({100 * p[e.predicted]:.1f} %); explaining "
            f"{names[e.class_index]} ({100 * p[e.class_index]:.1f} %). Saliency: bright where "
            "a pixel's change moves the score most. Grad-CAM: heat where the layer's maps "
            "speak for the class" + ("." if e.cam is not None else
                                     " (the network has no convolution)."))


    def dragEnterEvent(self, event) -> None:
        if self.run_key is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.file_dropped.emit(str(Path(urls[0].toLocalFile())))
