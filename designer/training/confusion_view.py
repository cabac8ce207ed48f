"""Confusion matrix and per-class accuracy on the validation set."""

from __future__ import annotations

import html

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of each true class (row) predicted correctly; NaN for a class with no images."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


class ConfusionView(QtWidgets.QWidget):
    """Rows are true classes, columns predicted ones; cells shaded by their share of the row.

    The table is one rich-text label: a single `setText` per update, laid out and painted
    by Qt without calling back into Python, so it stays cheap while training holds the GIL.
    """

    requested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix: np.ndarray | None = None
        self.summary = QtWidgets.QLabel()
        self.summary.setWordWrap(True)
        self.compute = QtWidgets.QPushButton("Compute")
        self.compute.setToolTip("Classify the validation set with the current weights.")
        self.compute.setEnabled(False)
        self.compute.clicked.connect(self.requested)
        self.table = QtWidgets.QLabel()
        self.table.setTextFormat(QtCore.Qt.RichText)
        self.table.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)
        self.table.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.table)
        scroll.setWidgetResizable(True)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.compute)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        self.reset()

    def show_confusion(self, confusion) -> None:
        self.matrix = np.asarray(confusion.matrix)
        self.table.setText(confusion_html(self.matrix, confusion.class_names))
        total = self.matrix.sum()
        overall = np.trace(self.matrix) / total if total else 0.0
        self.summary.setText(f"Validation set: {int(total)} images, {100 * overall:.1f} % "
                             "correct. Rows: true class; columns: predicted class (by number).")

    def set_available(self, available: bool) -> None:
        self.compute.setEnabled(available)

    def reset(self) -> None:
        self.matrix = None
        self.table.setText("")
        self.summary.setText("Shown at the end of training, or press Compute.")


def confusion_html(matrix: np.ndarray, names: list[str]) -> str:
    """The matrix as an HTML table with a per-class accuracy column."""
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    accuracy = per_class_accuracy(matrix)
    head = "".join(f"<th>{c}</th>" for c in range(len(names)))
    rows = []
    for r, name in enumerate(names):
        label = html.escape(name if name == str(r) else f"{r} {name}")
        cells = "".join(
            f'<td align="center" bgcolor="{_shade(shares[r, c], r == c)}"'
            f' style="color:{"white" if shares[r, c] > 0.5 else "black"}">{int(matrix[r, c])}</td>'
            for c in range(len(names)))
        acc = "—" if np.isnan(accuracy[r]) else f"{100 * accuracy[r]:.1f} %"
        rows.append(f'<tr><th align="left">{label}</th>{cells}<td align="right">{acc}</td></tr>')
    return (f'<table cellspacing="0" cellpadding="2" border="1" style="font-size:small">'
            f"<tr><th></th>{head}<th>accuracy</th></tr>{''.join(rows)}</table>")


def _shade(share: float, correct: bool) -> str:
    """Blue for right answers, red for confusions; stronger the larger their share of the row."""
    hue = 215 if correct else 0
    saturation = int(30 + 200 * share) if share > 0 else 0
    return QtGui.QColor.fromHsv(hue, saturation, 255 - int(120 * share)).name()
