"""One typed editor per hyperparameter kind, built from the catalogue's `ParamDef`.

Every editor emits `edited(value)` only for the user's changes; `show_value`
puts the document's value in with signals blocked, so nothing echoes back.
"""

from __future__ import annotations

import math
import re

from PySide6 import QtCore, QtGui, QtWidgets

from engine.spec import ParamDef

_FLOAT_SO_FAR = re.compile(r"[+-]?(\d+\.?\d*|\.\d*)?([eE][+-]?\d*)?")


def format_float(value: float) -> str:
    """Six significant digits; below 0.001 as a short exponent: 0.75, 1e-4, 2.5e-12."""
    text = f"{value:.5e}" if 0 < abs(value) < 1e-3 else f"{value:.6g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def decade_step(value: float, steps: int) -> float:
    """A tenth of the value's decade, so arrows move 1e-4 by 1e-5 and 0.75 by 0.01;
    going down from a power of ten uses the finer step below it."""
    a = abs(value) * (1 - 1e-9 if steps * value < 0 else 1)
    return 0.01 if a == 0 else 10.0 ** (math.floor(math.log10(a)) - 1)


class IntEditor(QtWidgets.QSpinBox):
    edited = QtCore.Signal(object)

    def __init__(self, param: ParamDef, parent=None):
        super().__init__(parent)
        self.param = param
        self.setRange(int(param.minimum), int(param.maximum))
        self.setSuffix(f" {param.unit}" if param.unit else "")
        self.setKeyboardTracking(False)
        self.setAccelerated(True)
        self.valueChanged.connect(self.edited.emit)

    def show_value(self, value: int) -> None:
        # A value out of range (from a file) is shown as it is; the inspector flags it.
        with QtCore.QSignalBlocker(self):
            self.setRange(min(int(self.param.minimum), value), max(int(self.param.maximum), value))
            self.setValue(value)


class FloatEditor(QtWidgets.QDoubleSpinBox):
    """A spin box that shows and accepts scientific notation (LRN α = 1e-4, ε = 1e-5)."""

    edited = QtCore.Signal(object)

    def __init__(self, param: ParamDef, parent=None):
        super().__init__(parent)
        self.param = param
        self.setDecimals(15)  # Qt rounds stored values to this; we format ourselves
        self.setRange(param.minimum, param.maximum)
        self.setSuffix(f" {param.unit}" if param.unit else "")
        self.setKeyboardTracking(False)
        self.valueChanged.connect(self.edited.emit)

    def show_value(self, value: float) -> None:
        with QtCore.QSignalBlocker(self):
            self.setRange(min(self.param.minimum, value), max(self.param.maximum, value))
            self.setValue(value)

    def _number_text(self, text: str) -> str:
        return text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip()

    def textFromValue(self, value: float) -> str:
        return format_float(value)

    def valueFromText(self, text: str) -> float:
        try:
            return float(self._number_text(text))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        body = self._number_text(text)
        if _FLOAT_SO_FAR.fullmatch(body) is None:
            return QtGui.QValidator.State.Invalid, text, pos
        try:
            value = float(body)
        except ValueError:
            return QtGui.QValidator.State.Intermediate, text, pos
        ok = self.minimum() <= value <= self.maximum()
        return (QtGui.QValidator.State.Acceptable if ok
                else QtGui.QValidator.State.Intermediate), text, pos

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:
        value = self.value()
        target = value + steps * decade_step(value, steps)
        self.setValue(min(max(float(f"{target:.10g}"), self.minimum()), self.maximum()))


class ChoiceEditor(QtWidgets.QComboBox):
    edited = QtCore.Signal(object)

    def __init__(self, param: ParamDef, parent=None):
        super().__init__(parent)
        self.param = param
        self.addItems(list(param.choices))
        self.currentTextChanged.connect(self.edited.emit)

    def show_value(self, value: str) -> None:
        with QtCore.QSignalBlocker(self):
            if self.findText(value) < 0:
                self.addItem(value)  # a value from a file the catalogue does not allow
            self.setCurrentText(value)


def make_editor(param: ParamDef, parent=None) -> IntEditor | FloatEditor | ChoiceEditor:
    if param.choices:
        editor = ChoiceEditor(param, parent)
    elif param.kind is int:
        editor = IntEditor(param, parent)
    else:
        editor = FloatEditor(param, parent)
    tip = param.help or param.label
    editor.setToolTip(tip)
    return editor
