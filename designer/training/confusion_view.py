"""Confusion matrix and per-class accuracy on the validation set."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of each true class (row) predicted correctly; NaN for a class with no images."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


class ConfusionView(QtWidgets.QWidget):
    """Rows are true classes, columns predicted ones; cells shaded by their share of the row.

    The cells are made once per class count and then only get new text and colours, with
    fixed column widths: Qt paints them without calling back into Python, and nothing is
    re-measured, so an update stays cheap while training holds the GIL.
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
        self.table = QtWidgets.QTableWidget()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setSectionResizeMode(QtWidgets.QHeaderView.Fixed)
            header.setMinimumSectionSize(16)
        self.table.verticalHeader().setDefaultSectionSize(20)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.compute)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.reset()

    def show_confusion(self, confusion) -> None:
        matrix, names = np.asarray(confusion.matrix), list(confusion.class_names)
        n = len(names)
        if names != self._names:
            self._make_cells(names)
        digits = "8" * len(str(int(matrix.max(initial=0))))
        width = max(22, self.table.fontMetrics().horizontalAdvance(digits) + 10)
        header = self.table.horizontalHeader()
        if header.defaultSectionSize() != width:
            header.setDefaultSectionSize(width)
            self.table.setColumnWidth(n, 70)
        self.matrix = matrix
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        accuracy = per_class_accuracy(matrix)
        for r in range(n):
            for c in range(n):
                item = self.table.item(r, c)
                item.setText(str(int(matrix[r, c])))
                item.setBackground(_shade(shares[r, c], r == c))
                item.setForeground(WHITE if shares[r, c] > 0.5 else BLACK)
            self.table.item(r, n).setText("—" if np.isnan(accuracy[r])
                                          else f"{100 * accuracy[r]:.1f} %")
        total = matrix.sum()
        overall = np.trace(matrix) / total if total else 0.0
        self.summary.setText(f"{int(total)} validation images, {100 * overall:.1f} % correct. "
                             "Rows: true class; columns: predicted class.")

    def _make_cells(self, names: list[str]) -> None:
        self._names = names
        n = len(names)
        self.table.setRowCount(n)
        self.table.setColumnCount(n + 1)
        self.table.setHorizontalHeaderLabels([str(c) for c in range(n)] + ["accuracy"])
        self.table.setVerticalHeaderLabels([name if name == str(r) else f"{r} {name}"
                                            for r, name in enumerate(names)])
        for r in range(n):
            for c in range(n + 1):
                item = QtWidgets.QTableWidgetItem()
                item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                self.table.setItem(r, c, item)

    def set_available(self, available: bool) -> None:
        self.compute.setEnabled(available)

    def reset(self) -> None:
        self.matrix = None
        self._names: list[str] = []
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.summary.setText("Shown at the end of training, or press Compute.")


WHITE, BLACK = QtGui.QColor("white"), QtGui.QColor("black")


def _shade(share: float, correct: bool) -> QtGui.QColor:
    """Blue for right answers, red for confusions; stronger the larger their share of the row."""
    hue = 215 if correct else 0
    saturation = int(30 + 200 * share) if share > 0 else 0
    return QtGui.QColor.fromHsv(hue, saturation, 255 - int(120 * share))
