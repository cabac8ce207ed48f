"""The whole network at once, as the ConvNetJS demos show it: a column per layer with what it
computes for one validation image (or, toggled, every convolution's filters), live while
training.

Each column paints one image made on the worker thread (`network_pictures`); an update swaps
the image and repaints that column, and only a change of size lays anything out again.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from designer.training.network_pictures import (
    LayerPicture, NetworkPicture, NetworkRequest, filtered_layers,
)
from designer.training.shown_requests import AsksWhenShown
from designer.training.unit_fields import Marks, UnitFields
from engine.spec import NetworkSpec

MIN_COLUMN_WIDTH = 96    # px inside a column's margins
MAX_CAPTION_WIDTH = 160  # px: wider captions wrap rather than widen their column
BAR_LENGTH = 72          # px: the bar of a probability of 1 (or of the best score)
MAX_NAME_WIDTH = 144     # px: longer class names are elided
SPACING = 4              # px between columns and between a bar and its words
IDLE = "Train or open a checkpoint to see every layer at once."
ACTIVATIONS = ("Each layer's output for the chosen validation image: a tile per depth slice, "
               "each auto-contrasted. Point at a tile for its values; click a unit for its "
               "receptive field.")
NO_SAMPLES = "This run has no validation images to feed through the network."
FILTERS = "Every convolution's filters, each auto-contrasted. Point at a filter for its weights."
FILTERS_TIP, NO_FILTERS_TIP = ("The filters of every convolution layer.",
                               "This network has no convolution layer.")


def packed_image(pixels: np.ndarray) -> QtGui.QImage:
    """Packed 0xffRRGGBB pixels (H, W) as a QImage of its own (a copy: the array may go)."""
    h, w = pixels.shape
    return QtGui.QImage(pixels.data, w, h, pixels.strides[0],
                        QtGui.QImage.Format.Format_RGB32).copy()


class PictureCanvas(QtWidgets.QWidget):
    """Paints one `LayerPicture`, its mosaic or its class bars, and any `Marks` over it;
    `hovered` words what the mouse is over ("" when nothing), `clicked` gives the unit
    clicked as (tile, row, col)."""

    hovered = QtCore.Signal(str)
    clicked = QtCore.Signal(int, int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.picture: LayerPicture | None = None
        self._image = QtGui.QImage()
        self._mouse: QtCore.QPointF | None = None   # where the mouse is, while over this
        self._hover_index: int | None = None
        self.marks: Marks | None = None
        self._name_width = self._row_height = 0
        # Class names laid out once (they recur every update): name -> (text, width).
        self._names: dict[str, tuple[QtGui.QStaticText, int]] = {}
        self.setMouseTracking(True)
        self.setFixedSize(0, 0)

    def show_picture(self, picture: LayerPicture) -> None:
        self.picture = picture
        if picture.mosaic is not None:
            self._image = packed_image(picture.mosaic.image)
            size = self._image.size()
        else:
            self._image = QtGui.QImage()
            size = self._bars_size(picture)
        if size != self.size():
            self.setFixedSize(size)
        self.update()
        if self._mouse is not None:      # the values under a resting mouse change too
            self._hover(self.index_at(self._mouse))

    def index_at(self, pos: QtCore.QPointF) -> int | None:
        """The tile (or class bar) at `pos`, None over a gap or nothing."""
        if self.picture is None:
            return None
        if self.picture.mosaic is not None:
            return self.picture.mosaic.tile_at(pos.y(), pos.x())
        row = int(pos.y() // self._row_height) if pos.y() >= 0 else -1
        return row if 0 <= row < len(self.picture.scores) else None

    def _bars_size(self, picture: LayerPicture) -> QtCore.QSize:
        metrics = self.fontMetrics()
        for score in picture.scores:
            if score.name not in self._names:
                name = metrics.elidedText(score.name, QtCore.Qt.TextElideMode.ElideRight,
                                          MAX_NAME_WIDTH)
                self._names[score.name] = (QtGui.QStaticText(name),
                                           metrics.horizontalAdvance(name))
        self._name_width = max(self._names[s.name][1] for s in picture.scores)
        self._row_height = metrics.height() + 4
        value_width = max(metrics.horizontalAdvance(s.text) for s in picture.scores)
        return QtCore.QSize(self._name_width + BAR_LENGTH + value_width + 2 * SPACING,
                            self._row_height * len(picture.scores))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.Type.FontChange:
            self._names.clear()

    def set_marks(self, marks: Marks | None) -> None:
        self.marks = marks
        self.update()

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        if not self._image.isNull():
            painter.drawImage(0, 0, self._image)
        elif self.picture is not None:
            self._paint_bars(painter)
        if self.marks is not None:
            self._paint_marks(painter, self.marks)

    def _paint_marks(self, painter: QtGui.QPainter, marks: Marks) -> None:
        if marks.heat is not None:
            painter.drawImage(marks.heat_rect, marks.heat)
        for rect, colour in marks.rects:
            painter.setPen(QtGui.QPen(colour, 2))
            painter.drawRect(rect.adjusted(1, 1, -1, -1))

    def _paint_bars(self, painter: QtGui.QPainter) -> None:
        palette, role = self.palette(), QtGui.QPalette.ColorRole
        text, bar, track = (palette.color(r) for r in (role.WindowText, role.Highlight, role.Mid))
        left, h = self._name_width + SPACING, self._row_height
        value_left, baseline = left + BAR_LENGTH + SPACING, 2 + self.fontMetrics().ascent()
        for i, score in enumerate(self.picture.scores):
            top = i * h
            name, width = self._names[score.name]
            painter.setPen(text)
            painter.drawStaticText(self._name_width - width, top + 2, name)
            painter.drawText(value_left, top + baseline, score.text)
            painter.setPen(track)
            painter.drawRect(left, top + 3, BAR_LENGTH - 1, h - 7)
            painter.fillRect(QtCore.QRectF(left, top + 3, BAR_LENGTH * score.bar, h - 6), bar)

    def _hover(self, index: int | None) -> None:
        self._hover_index = index
        self.hovered.emit("" if index is None else self.picture.describe(index))

    def mouseMoveEvent(self, event) -> None:
        self._mouse = event.position()
        index = self.index_at(self._mouse)
        if index != self._hover_index:
            self._hover(index)

    def leaveEvent(self, event) -> None:
        self._mouse = None
        self._hover(None)

    def mousePressEvent(self, event) -> None:
        unit = None if self.picture is None else self.picture.unit_at(event.position().y(),
                                                                      event.position().x())
        if event.button() == QtCore.Qt.MouseButton.LeftButton and unit is not None:
            self.clicked.emit(*unit)


class LayerColumn(QtWidgets.QWidget):
    """One layer: its name, a caption, and its picture, which scrolls when taller than the
    column; `marked` draws it highlighted."""

    def __init__(self, layer_id: str, title: str, parent=None):
        super().__init__(parent)
        self.layer_id = layer_id
        self.marked = False
        self.title = QtWidgets.QLabel(title)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.caption = QtWidgets.QLabel()
        for label in (self.title, self.caption):
            label.setWordWrap(True)
        self.canvas = PictureCanvas()
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidget(self.canvas)
        self.scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        align = QtCore.Qt.AlignmentFlag
        self.scroll.setAlignment(align.AlignHCenter | align.AlignTop)
        self.scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.viewport().setAutoFillBackground(False)   # a marked column shows through
        self._caption_width = 0
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.caption)
        layout.addWidget(self.scroll, 1)
        self._fit_width()

    def show_picture(self, picture: LayerPicture) -> None:
        # Labels are set only when their words change: most updates change just the pixels.
        if self.title.text() != picture.title:
            self.title.setText(picture.title)
        if self.caption.text() != picture.caption:
            self.caption.setText(picture.caption)
            self._caption_width = self.caption.fontMetrics().horizontalAdvance(picture.caption)
        self.canvas.show_picture(picture)
        self._fit_width()

    def set_marked(self, marked: bool) -> None:
        if marked != self.marked:
            self.marked = marked
            self.update()

    def _fit_width(self) -> None:
        scrolls = self.canvas.height() > self.scroll.height()
        bar = self.scroll.verticalScrollBar().sizeHint().width() if scrolls else 0
        width = max(MIN_COLUMN_WIDTH, min(self._caption_width + 4, MAX_CAPTION_WIDTH),
                    self.canvas.width() + bar) + 2 * SPACING
        if width != self.width():
            self.setFixedWidth(width)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_width()     # a shorter column needs room for its scroll bar

    def paintEvent(self, event) -> None:
        if not self.marked:
            return
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        colour = self.palette().color(QtGui.QPalette.ColorRole.Highlight)
        painter.setPen(QtGui.QPen(colour, 2))
        colour.setAlpha(40)
        painter.setBrush(colour)
        painter.drawRoundedRect(QtCore.QRectF(self.rect()).adjusted(1, 1, -1, -1), 4, 4)


class ColumnStrip(QtWidgets.QScrollArea):
    """Layer columns side by side, scrolling sideways; `hovered` words what the mouse is over,
    `unit_clicked` gives the unit clicked as (layer id, tile, row, col)."""

    hovered = QtCore.Signal(str)
    unit_clicked = QtCore.Signal(str, int, int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: dict[str, LayerColumn] = {}
        self.marked: str | None = None
        row = QtWidgets.QWidget()
        self._row = QtWidgets.QHBoxLayout(row)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(SPACING)
        self._row.addStretch(1)
        self.setWidget(row)
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def set_layers(self, layers: Sequence[tuple[str, str]]) -> None:
        """One empty column per (layer id, title)."""
        for column in self.columns.values():
            self._row.removeWidget(column)
            column.deleteLater()
        self.columns = {}
        for layer_id, title in layers:
            column = LayerColumn(layer_id, title)
            column.canvas.hovered.connect(self.hovered)
            column.canvas.clicked.connect(
                lambda tile, row, col, layer=layer_id: self.unit_clicked.emit(layer, tile, row,
                                                                              col))
            self._row.insertWidget(self._row.count() - 1, column)
            column.show()     # now, not when the layout gets to it: mark() needs its place
            self.columns[layer_id] = column
        self.mark(self.marked, scroll=False)

    def show_pictures(self, pictures: Sequence[LayerPicture]) -> None:
        if [p.layer_id for p in pictures] != list(self.columns):
            self.set_layers([(p.layer_id, p.title) for p in pictures])
        for picture in pictures:
            self.columns[picture.layer_id].show_picture(picture)

    def mark(self, layer_id: str | None, scroll: bool = True) -> None:
        """Highlight the column of `layer_id` (None: none) and scroll it into view."""
        self.marked = layer_id
        for column in self.columns.values():
            column.set_marked(column.layer_id == layer_id)
        if scroll:
            self.scroll_to_marked()

    def scroll_to_marked(self) -> None:
        # Once pending layouts are done: columns added just now have no place yet.
        QtCore.QTimer.singleShot(0, self, self._scroll_now)

    def _scroll_now(self) -> None:
        if self.marked in self.columns:
            self.ensureWidgetVisible(self.columns[self.marked], 2 * SPACING, 0)

    def wheelEvent(self, event) -> None:
        # The strip scrolls only sideways, so the wheel scrolls it sideways.
        QtWidgets.QApplication.sendEvent(self.horizontalScrollBar(), event)


class NetworkView(AsksWhenShown, QtWidgets.QWidget):
    """Every layer of a run at once. Emits `wanted` with a `NetworkRequest` when the view is
    shown, a run is set, or the user picks another image or mode, and None when hidden or
    without a run (so pictures are computed only while someone looks); draws the pictures it
    gets for the request, dropping any for another run, image or mode."""

    wanted = QtCore.Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_key: str | None = None
        self._samples = 0
        self.sample = QtWidgets.QSpinBox()
        self.sample.setPrefix("validation image ")
        self.sample.setKeyboardTracking(False)
        self.sample.setToolTip("The validation image fed through the network.")
        self.activations_button = QtWidgets.QToolButton(text="Activations", checkable=True,
                                                        checked=True)
        self.activations_button.setToolTip("Every layer's output for the chosen image.")
        self.filters_button = QtWidgets.QToolButton(text="Filters", checkable=True)
        modes = QtWidgets.QButtonGroup(self)
        for button in (self.activations_button, self.filters_button):
            modes.addButton(button)
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.hover = QtWidgets.QLabel(" ")
        self.hover.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.strips = {False: ColumnStrip(), True: ColumnStrip()}   # by "filters shown"
        self.stack = QtWidgets.QStackedWidget()
        for strip in self.strips.values():
            self.stack.addWidget(strip)
            strip.hovered.connect(lambda text: self.hover.setText(text or " "))
        header = QtWidgets.QHBoxLayout()
        header.addWidget(self.sample)
        header.addWidget(self.activations_button)
        header.addWidget(self.filters_button)
        header.addWidget(self.caption, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.hover)
        self.fields = UnitFields(self)
        layout.addWidget(self.fields.caption)
        self.sample.valueChanged.connect(self._emit_wanted)
        modes.buttonToggled.connect(self._mode_toggled)
        self.reset()

    @property
    def filters_shown(self) -> bool:
        return self.filters_button.isChecked()

    def request(self) -> NetworkRequest | None:
        """What the view wants computed now; None when hidden, without a run, or with no
        image to show activations for."""
        if self.run_key is None or not self.isVisible():
            return None
        if not self.filters_shown and self._samples == 0:
            return None
        return NetworkRequest(self.sample.value() - 1, self.filters_shown)

    def set_run(self, spec: NetworkSpec, samples: int, run_key: str) -> None:
        """Show the run named `run_key`: columns for its network's layers, `samples`
        validation images to choose from; pictures of any other run are dropped."""
        self.run_key, self._samples = run_key, samples
        with QtCore.QSignalBlocker(self.sample):
            self.sample.setRange(1, max(samples, 1))
            self.sample.setSuffix(f" of {samples}")
        has_filters = bool(filtered_layers(spec))
        self.filters_button.setEnabled(has_filters)
        self.filters_button.setToolTip(FILTERS_TIP if has_filters else NO_FILTERS_TIP)
        if not has_filters:
            with QtCore.QSignalBlocker(self.activations_button), \
                    QtCore.QSignalBlocker(self.filters_button):
                self.activations_button.setChecked(True)
        self.strips[False].set_layers([(layer.id, layer.name) for layer in spec.layers])
        self.strips[True].set_layers([(layer.id, layer.name) for layer in filtered_layers(spec)])
        self.hover.setText(" ")
        self._show_mode()
        self.strips[self.filters_shown].scroll_to_marked()
        self._emit_wanted()

    def reset(self) -> None:
        """No run: empty columns, nothing wanted."""
        self.run_key, self._samples = None, 0
        for strip in self.strips.values():
            strip.set_layers([])
        with QtCore.QSignalBlocker(self.sample):
            self.sample.setRange(1, 1)
            self.sample.setSuffix("")
        self.filters_button.setEnabled(False)
        self.filters_button.setToolTip(FILTERS_TIP)
        self.hover.setText(" ")
        self._show_mode()
        self._emit_wanted()

    def show_activations(self, picture: NetworkPicture) -> None:
        if (picture.run_key != self.run_key or self.filters_shown
                or picture.sample != self.sample.value() - 1):
            return   # an answer to an earlier request; the current one is on its way
        self.strips[False].show_pictures(picture.layers)

    def show_filters(self, pictures: Sequence[LayerPicture], run_key: str) -> None:
        if run_key != self.run_key or not self.filters_shown:
            return
        self.strips[True].show_pictures(pictures)

    def highlight(self, layer_id: str | None) -> None:
        """Mark the column of `layer_id` (the canvas selection) and scroll it into view;
        None marks none. A layer without a column now gets one marked when it has."""
        for filters, strip in self.strips.items():
            strip.mark(layer_id, scroll=filters == self.filters_shown)

    def _mode_toggled(self, button, checked: bool) -> None:
        if checked:
            self._show_mode()
            self.strips[self.filters_shown].scroll_to_marked()
            self._emit_wanted()

    def _show_mode(self) -> None:
        filters = self.filters_shown
        self.stack.setCurrentWidget(self.strips[filters])
        self.sample.setEnabled(self.run_key is not None and not filters and self._samples > 0)
        if self.run_key is None:
            self.caption.setText(IDLE)
        else:
            self.caption.setText(FILTERS if filters else ACTIVATIONS if self._samples
                                 else NO_SAMPLES)

