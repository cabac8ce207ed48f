"""Colours of the layer groups, and colours that read on light and dark themes alike."""

from __future__ import annotations

from PySide6 import QtGui

from engine.spec import CATALOGUE

# One hue per group of the notes, saturated enough to read on white and on near-black.
GROUP_COLORS = {
    "Input": "#78909c",
    "Conv": "#1e88e5",
    "Pool": "#8e24aa",
    "Activations": "#fb8c00",
    "Normalization": "#00897b",
    "Fully-connected": "#43a047",
    "Dropout": "#a1887f",
    "Loss": "#d81b60",
}


def group_color(type_key: str) -> QtGui.QColor:
    return QtGui.QColor(GROUP_COLORS[CATALOGUE[type_key].group])


def is_dark(palette: QtGui.QPalette) -> bool:
    return palette.color(QtGui.QPalette.ColorRole.Base).lightness() < 128


def error_color(palette: QtGui.QPalette) -> QtGui.QColor:
    """Red text that keeps its contrast on the theme's base colour."""
    return QtGui.QColor("#ff7070" if is_dark(palette) else "#c62828")


def error_fill(palette: QtGui.QPalette) -> QtGui.QColor:
    """The background of a card with an error: the base colour tinted red."""
    base = palette.color(QtGui.QPalette.ColorRole.Base)
    red = QtGui.QColor("#e53935")
    mix = 0.28 if is_dark(palette) else 0.16
    return QtGui.QColor.fromRgbF(*(base.getRgbF()[i] * (1 - mix) + red.getRgbF()[i] * mix
                                   for i in range(3)))
