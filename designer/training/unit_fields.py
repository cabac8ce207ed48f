"""Click a unit in an activation map of the whole-network view: the input image shows the
unit's theoretical receptive field as a rectangle and its effective receptive field,
|∂unit/∂pixel|, as a heat overlay, and a line under the maps says what they are.

The fields are computed on the worker thread (`insight.UnitFieldRequest`) and recomputed
with the maps while training runs; what is drawn here is only their pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from designer.training.heat import heat_image
from designer.training.images import GAP
from designer.training.insight import UnitFieldAnswer, UnitFieldRequest
from designer.training.network_pictures import LayerPicture
from engine.insight.receptive import Window

if TYPE_CHECKING:
    from designer.training.network_view import NetworkView

HINT = "Click a unit in any map to see its receptive field on the image."
WINDOW_COLOUR = QtGui.QColor(0, 210, 255)
UNIT_COLOUR = QtGui.QColor(255, 64, 160)
MIN_MARK = 4.0     # px: a unit's mark is never smaller, however many units a pixel holds


@dataclass(frozen=True)
class Marks:
    """What a picture canvas draws over its mosaic: a heat image stretched over `heat_rect`,
    and outlined rectangles, each with its colour."""

    heat: QtGui.QImage | None
    heat_rect: QtCore.QRectF
    rects: tuple[tuple[QtCore.QRectF, QtGui.QColor], ...]


def unit_rect(picture: LayerPicture, tile: int, row: int, col: int) -> QtCore.QRectF:
    """Where unit (row, col) of tile `tile` lies on a picture's mosaic, at least MIN_MARK."""
    m, (rows, cols) = picture.mosaic, picture.units
    sy, sx = m.tile_height / rows, m.tile_width / cols
    top = tile // m.cols * (m.tile_height + GAP) + row * sy
    left = tile % m.cols * (m.tile_width + GAP) + col * sx
    grow_y, grow_x = max(0.0, MIN_MARK - sy) / 2, max(0.0, MIN_MARK - sx) / 2
    return QtCore.QRectF(left - grow_x, top - grow_y, sx + 2 * grow_x, sy + 2 * grow_y)


def window_rect(picture: LayerPicture, window: Window) -> QtCore.QRectF:
    """The part of a window on the image, on the input picture's tile."""
    m, (rows, cols) = picture.mosaic, picture.units
    sy, sx = m.tile_height / rows, m.tile_width / cols
    (top, bottom), (left, right) = window.rows, window.cols
    return QtCore.QRectF(left * sx, top * sy, (right - left) * sx, (bottom - top) * sy)


def caption(answer: UnitFieldAnswer) -> str:
    f, w = answer.field, answer.field.window
    channel = "all channels" if f.channel is None else f"channel {f.channel}"
    rows, cols = w.rows[1] - w.rows[0], w.cols[1] - w.cols[0]
    on_image = f"{rows}×{cols} of it on the image, the rest padding" if w.clipped else \
        "all on the image"
    effective = (f"half of it from its {f.core} strongest of those {rows * cols} pixels"
                 if f.core else "none: no pixel moves the unit for this image (an inactive "
                 "ReLU stops every gradient)")
    return (f"<b>{answer.layer_name}</b>, {channel}, unit (row {f.row}, col {f.col}) = "
            f"{f.value:.3g}: theoretical field {w.size}×{w.size} px "
            f"(<span style='color:{WINDOW_COLOUR.name()}'>■</span> rectangle; {on_image}); "
            f"effective field |∂unit/∂pixel| (heat): {effective}.")


class UnitFields(QtCore.QObject):
    """The receptive fields of the unit clicked in a `NetworkView`. Emits `wanted` with a
    `UnitFieldRequest` whenever the view's image changes while a unit is chosen, and None
    when the view is hidden, shows filters, or shows another run."""

    wanted = QtCore.Signal(object)

    def __init__(self, view: NetworkView):
        super().__init__(view)
        self.view = view
        self.strip = view.strips[False]
        self.unit: tuple[str, int, int, int] | None = None   # layer id, tile, row, col
        self._run_key: str | None = None
        self.caption = QtWidgets.QLabel(HINT)
        self.caption.setWordWrap(True)
        self.strip.unit_clicked.connect(self.choose)
        view.wanted.connect(self._follow)

    def request(self) -> UnitFieldRequest | None:
        view = self.view
        if self.unit is None or view.filters_shown or view.request() is None:
            return None
        layer_id, tile, row, col = self.unit
        return UnitFieldRequest(view.sample.value() - 1, layer_id, tile, row, col)

    def choose(self, layer_id: str, tile: int, row: int, col: int) -> None:
        """The unit (row, col) of tile `tile` of a layer's map was clicked."""
        if layer_id == next(iter(self.strip.columns), None):
            return   # the image's own pixels have no field to show
        self.unit = (layer_id, tile, row, col)
        self.wanted.emit(self.request())

    def show_field(self, answer: UnitFieldAnswer) -> None:
        if answer.request != self.request():
            return   # for a unit or image chosen before
        columns = list(self.strip.columns.values())
        image, unit = columns[0].canvas, self.strip.columns[answer.request.layer_id].canvas
        for column in columns:
            if column.canvas not in (image, unit):
                column.canvas.set_marks(None)
        r = answer.request
        picture = image.picture
        field = answer.field.effective[:picture.units[0], :picture.units[1]]
        window = (window_rect(picture, answer.field.window), WINDOW_COLOUR)
        tile = QtCore.QRectF(0, 0, picture.mosaic.tile_width, picture.mosaic.tile_height)
        image.set_marks(Marks(heat_image(field), tile, (window,)))
        unit.set_marks(Marks(None, QtCore.QRectF(), (
            (unit_rect(unit.picture, r.channel, r.row, r.col), UNIT_COLOUR),)))
        self.caption.setText(caption(answer))

    def clear(self) -> None:
        self.unit = None
        for column in self.strip.columns.values():
            column.canvas.set_marks(None)
        self.caption.setText(HINT)

    def _follow(self, _request) -> None:
        if self.view.run_key != self._run_key:
            self._run_key = self.view.run_key
            self.clear()
        self.caption.setHidden(self.view.filters_shown)  # filters have no units to click
        self.wanted.emit(self.request())
