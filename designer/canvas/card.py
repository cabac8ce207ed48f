"""One layer card: its one-line summary, its size on the canvas, and how it is painted.

Each card draws the layer's output volume as a block whose height grows with the
spatial size √(W·H) and whose width grows with √D, both relative to the network's
largest volume, so a ConvNet's shrinking width and growing
depth read at a glance.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from PySide6 import QtCore, QtGui

from designer.canvas.icons import draw_glyph
from designer.canvas.style import error_color, error_fill, group_color
from engine.shapes import Analysis, LayerInfo
from engine.spec import LayerSpec, Volume

CARD_HEIGHT = 60
CARD_GAP = 12
MARGIN = 14
MAX_CARD_WIDTH = 720
BLOCK_AREA = 140  # width reserved at the right for the volume block
BLOCK_MIN_HEIGHT, BLOCK_MAX_HEIGHT = 6, CARD_HEIGHT - 18
BLOCK_MIN_WIDTH, BLOCK_MAX_WIDTH = 4, BLOCK_AREA - 30
TEXT_LEFT = 50  # the name and the line below it start right of the glyph
VOLUME_WIDTH = 96
PADDING = 8
WRAPPED = (QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter
           | QtCore.Qt.TextFlag.TextWordWrap)


def _num(v) -> str:
    return f"{v:g}"


_SUMMARIES = {
    "input": lambda p: f"{p['width']}×{p['height']}×{p['depth']}",
    "conv": lambda p: f"{p['size']}×{p['size']} ×{p['filters']}, S{p['stride']} P{p['pad']}",
    "pool": lambda p: (f"{p['mode']} {p['size']}×{p['size']} S{p['stride']}"
                       + (f" P{p['pad']}" if p["pad"] else "")),
    "leaky_relu": lambda p: f"α={_num(p['slope'])}",
    "lrn": lambda p: f"n={p['size']}",
    "fc": lambda p: f"{p['units']}",
    "dropout": lambda p: f"p={_num(p['p'])}",
    "svm": lambda p: f"Δ={_num(p['margin'])}",
}


def card_summary(layer: LayerSpec) -> str:
    """The layer's key hyperparameters as the notes write them: `CONV 3×3 ×32, S1 P1`."""
    detail = _SUMMARIES.get(layer.type)
    return f"{layer.kind.symbol} {detail(layer.params)}" if detail else layer.kind.symbol


def card_tooltip(info: LayerInfo) -> str:
    layer = info.layer
    lines = [f"<b>{html.escape(layer.name)}</b> — {html.escape(layer.kind.title)}",
             html.escape(card_summary(layer))]
    if info.input is not None and info.output is not None:
        lines.append(f"{info.input} → <b>{info.output}</b>")
    if info.params:
        lines.append(f"{info.params:,} parameters")
    if info.error:
        lines.append(f"<b>Error:</b> {html.escape(info.error)}")
        if info.fixes:
            fixes = " or ".join(html.escape(fix.text) for fix in info.fixes)
            lines.append(f"<b>Fix:</b> {fixes} (in the inspector)")
    return "<p style='white-space:pre-wrap'>" + "<br>".join(lines) + "</p>"


def card_height(info: LayerInfo, width: float, font: QtGui.QFont) -> float:
    """CARD_HEIGHT, or taller where the error sentence needs more lines than one: the card
    is where the user looks for why a layer is red, so the sentence is never cut."""
    if not info.error:
        return CARD_HEIGHT
    room = QtCore.QRectF(0, 0, _line_width(width), 1e6)
    lines = QtGui.QFontMetricsF(font).boundingRect(room, WRAPPED, info.error).height()
    return max(CARD_HEIGHT, math.ceil(CARD_HEIGHT / 2 + PADDING + lines))


def _line_width(card_width: float) -> float:
    """The width of the line below the name: up to the volume block."""
    return card_width - TEXT_LEFT - BLOCK_AREA - PADDING


@dataclass(frozen=True)
class VolumeScale:
    """Maps volumes to block sizes relative to the largest volume of a network."""

    max_side: float
    max_depth: int

    @classmethod
    def of(cls, analysis: Analysis) -> "VolumeScale":
        volumes = [i.output for i in analysis.layers if i.output is not None]
        return cls(max((math.sqrt(v.width * v.height) for v in volumes if v.size), default=1.0),
                   max((v.depth for v in volumes if v.size), default=1))

    def block(self, volume: Volume) -> QtCore.QSizeF:
        side = math.sqrt(volume.width * volume.height) / self.max_side
        depth = math.sqrt(volume.depth / self.max_depth)
        return QtCore.QSizeF(BLOCK_MIN_WIDTH + (BLOCK_MAX_WIDTH - BLOCK_MIN_WIDTH) * depth,
                             BLOCK_MIN_HEIGHT + (BLOCK_MAX_HEIGHT - BLOCK_MIN_HEIGHT) * side)


def paint_card(p: QtGui.QPainter, rect: QtCore.QRectF, info: LayerInfo, scale: VolumeScale,
               palette: QtGui.QPalette, selected: bool) -> None:
    role = QtGui.QPalette.ColorRole
    accent = group_color(info.layer.type)
    fill = error_fill(palette) if info.error else palette.color(role.Base)
    border = palette.color(role.Highlight) if selected else palette.color(role.Mid)
    p.save()
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setPen(QtGui.QPen(border, 2.5 if selected else 1.0))
    p.setBrush(fill)
    p.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 7, 7)
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(error_color(palette) if info.error else accent)
    p.drawRoundedRect(QtCore.QRectF(rect.left() + 2, rect.top() + 2, 6, rect.height() - 4), 3, 3)
    # The glyph, the name and the volume keep their places in the first CARD_HEIGHT
    # pixels of a card that an error sentence makes taller.
    head = QtCore.QRectF(rect.left(), rect.top(), rect.width(), CARD_HEIGHT)
    draw_glyph(p, info.layer.type, QtCore.QRectF(rect.left() + 16, head.center().y() - 12, 24, 24))

    text_left = rect.left() + TEXT_LEFT
    block_left = rect.right() - BLOCK_AREA
    font = QtGui.QFont(p.font())
    bold = QtGui.QFont(font)
    bold.setBold(True)
    line1 = QtCore.QRectF(text_left, rect.top() + PADDING, _line_width(rect.width()) - VOLUME_WIDTH,
                          CARD_HEIGHT / 2 - PADDING)
    line2 = QtCore.QRectF(text_left, head.center().y() + 1, _line_width(rect.width()),
                          rect.bottom() - head.center().y() - PADDING)
    text = palette.color(role.Text)
    muted = palette.color(role.PlaceholderText)

    p.setFont(bold)
    p.setPen(text)
    _draw_elided(p, line1, info.layer.name)
    name_width = QtGui.QFontMetricsF(bold).horizontalAdvance(info.layer.name) + 12
    p.setFont(font)
    p.setPen(muted)
    summary = line1.adjusted(min(name_width, line1.width()), 0, 0, 0)
    _draw_elided(p, summary, card_summary(info.layer))

    if info.error:
        p.setPen(error_color(palette))
        p.drawText(line2, WRAPPED, info.error)
    else:
        p.setPen(muted)
        _draw_elided(p, line2, _detail(info))

    volume_rect = QtCore.QRectF(block_left - VOLUME_WIDTH, line1.top(), VOLUME_WIDTH,
                                line1.height())
    p.setFont(bold)
    # Only the layer at fault is red; the layers below it just have nothing to show.
    p.setPen(error_color(palette) if info.error else text if info.output is not None else muted)
    p.drawText(volume_rect, QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
               str(info.output) if info.output is not None else "no output")
    if info.output is not None:
        _draw_block(p, QtCore.QRectF(block_left + 12, rect.top(), BLOCK_AREA - 12, CARD_HEIGHT),
                    scale.block(info.output), accent, info.in_place)
    p.restore()


def _detail(info: LayerInfo) -> str:
    parts = []
    if info.params:
        parts.append(f"{info.params:,} params")
    if info.macs:
        parts.append(f"{info.macs:,} mult-adds")
    if info.receptive_field > 1:
        parts.append(f"sees {info.receptive_field}×{info.receptive_field} px")
    return " · ".join(parts) or info.layer.kind.title


def _draw_elided(p: QtGui.QPainter, rect: QtCore.QRectF, text: str) -> None:
    elided = p.fontMetrics().elidedText(text, QtCore.Qt.TextElideMode.ElideRight, int(rect.width()))
    p.drawText(rect, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter, elided)


def _draw_block(p: QtGui.QPainter, area: QtCore.QRectF, size: QtCore.QSizeF,
                color: QtGui.QColor, in_place: bool) -> None:
    """A box in oblique projection: front face width ∝ depth, height ∝ spatial size."""
    slant = min(8.0, size.height() * 0.3)
    front = QtCore.QRectF(area.left(), area.center().y() - (size.height() - slant) / 2,
                          size.width(), size.height())
    top = QtGui.QPolygonF([front.topLeft(), front.topLeft() + QtCore.QPointF(slant, -slant),
                           front.topRight() + QtCore.QPointF(slant, -slant), front.topRight()])
    side = QtGui.QPolygonF([front.topRight(), front.topRight() + QtCore.QPointF(slant, -slant),
                            front.bottomRight() + QtCore.QPointF(slant, -slant), front.bottomRight()])
    edge = color.darker(140)
    face = QtGui.QColor(color)
    # In-place layers (activations) reuse their input's memory: drawn as an outline only.
    face.setAlphaF(0.25 if in_place else 0.9)
    p.setPen(QtGui.QPen(edge, 1.0))
    for polygon, shade in ((top, 125), (side, 85)):
        c = face.lighter(shade)
        c.setAlphaF(face.alphaF())
        p.setBrush(c)
        p.drawPolygon(polygon)
    p.setBrush(face)
    p.drawRect(front)
