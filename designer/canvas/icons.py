"""Layer icons drawn with QPainter: a glyph per layer type in its group's colour.

Activations draw their own function curve, so the icon says what the layer computes.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui

from designer.canvas.style import group_color
from engine.resources import icon

_P = QtCore.QPointF


def app_icon() -> QtGui.QIcon:
    return QtGui.QIcon(str(icon("app.svg")))


def layer_icon(type_key: str) -> QtGui.QIcon:
    icon = QtGui.QIcon()
    for ratio in (1, 2, 3):
        pixmap = QtGui.QPixmap(32 * ratio, 32 * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(pixmap)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        draw_glyph(painter, type_key, QtCore.QRectF(2, 2, 28, 28))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def draw_glyph(painter: QtGui.QPainter, type_key: str, r: QtCore.QRectF) -> None:
    """Draw the glyph of `type_key` inside `r` (any size; drawn in a 28×28 design box)."""
    color = group_color(type_key)
    painter.save()
    painter.translate(r.topLeft())
    painter.scale(r.width() / 28, r.height() / 28)
    painter.setPen(round_pen(color, 2.2))
    fill = QtGui.QColor(color)
    fill.setAlphaF(0.35)
    painter.setBrush(fill)
    glyph = _GLYPHS.get(type_key) or _curve(type_key)
    glyph(painter, color)
    painter.restore()


def round_pen(color: QtGui.QColor, width: float) -> QtGui.QPen:
    return QtGui.QPen(color, width, QtCore.Qt.PenStyle.SolidLine, QtCore.Qt.PenCapStyle.RoundCap,
                      QtCore.Qt.PenJoinStyle.RoundJoin)


def _squares(n: int, size: float, step: float):
    def draw(p: QtGui.QPainter, _color) -> None:
        for i in range(n):
            p.drawRect(QtCore.QRectF(3 + i * step, 3 + i * step, size, size))
    return draw


def _pool(p: QtGui.QPainter, color) -> None:
    for i in range(2):
        for j in range(2):
            p.drawRect(QtCore.QRectF(2 + 6 * i, 4 + 6 * j, 6, 6))
    p.drawLine(_P(16, 10), _P(20, 10))
    p.setBrush(color)
    p.drawRect(QtCore.QRectF(21, 7, 6, 6))


def _gap(p: QtGui.QPainter, color) -> None:
    p.drawRect(QtCore.QRectF(2, 6, 14, 14))
    p.drawLine(_P(17, 13), _P(21, 13))
    p.setBrush(color)
    p.drawEllipse(_P(24, 13), 3, 3)


def _dense(hollow: bool):
    def draw(p: QtGui.QPainter, color) -> None:
        left = [_P(6, 6 + 8 * i) for i in range(3)]
        right = [_P(22, 6 + 8 * i) for i in range(3)]
        pen = p.pen()
        thin = QtGui.QPen(pen)
        thin.setWidthF(1.0)
        p.setPen(thin)
        for a in left:
            for b in right:
                if not (hollow and (a.y() == 14 or b.y() == 6)):
                    p.drawLine(a, b)
        p.setPen(pen)
        for i, c in enumerate(left + right):
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush if hollow and i in (1, 3) else color)
            p.drawEllipse(c, 3, 3)
    return draw


def _bars(heights):
    def draw(p: QtGui.QPainter, _color) -> None:
        for i, h in enumerate(heights):
            p.drawRect(QtCore.QRectF(3 + 6 * i, 25 - h, 4, h))
    return draw


def _curve(type_key: str):
    functions = {
        "relu": lambda x: max(0.0, x),
        "leaky_relu": lambda x: x if x > 0 else 0.15 * x,
        "tanh": math.tanh,
        "sigmoid": lambda x: 2 / (1 + math.exp(-2.5 * x)) - 1,
        "batchnorm": lambda x: 2.2 * math.exp(-2.2 * x * x) - 1.1,
        "svm": lambda x: max(0.0, -x),
    }
    f = functions[type_key]

    def draw(p: QtGui.QPainter, _color) -> None:
        axis = QtGui.QPen(p.pen())
        axis.setWidthF(0.8)
        p.setPen(axis)
        p.drawLine(_P(2, 14), _P(26, 14))
        p.drawLine(_P(14, 2), _P(14, 26))
        p.setPen(QtGui.QPen(p.pen().color(), 2.4))
        xs = [-1.2 + 2.4 * i / 40 for i in range(41)]
        p.drawPolyline([_P(14 + 10 * x, 14 - 10 * f(x)) for x in xs])
    return draw


_GLYPHS = {
    "input": _squares(1, 22, 0),
    "conv": _squares(3, 14, 4.5),
    "pool": _pool,
    "gap": _gap,
    "lrn": _bars((8, 14, 20, 14)),
    "fc": _dense(False),
    "dropout": _dense(True),
    "softmax": _bars((5, 8, 21, 6)),
}
