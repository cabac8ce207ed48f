"""The inspector's table model: one row per layer of an `Analysis`, plus a totals row; the
notes' hints mark their layers with an information icon, gentler than an error's warning.

Cell texts are formatted once per refresh, so painting only looks strings up.
"""

from __future__ import annotations

from typing import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from designer.advice_cells import (
    ADVICE_COLUMNS, TIMING_COLUMNS, Advice, advice_cells, advice_totals,
)
from designer.timing_store import ShownTimings
from engine.advice import Hint
from engine.shapes import BYTES_PER_FLOAT, Analysis, LayerInfo, format_bytes

Qt = QtCore.Qt
COLUMNS = (  # header, tooltip
    ("Layer", "The layer's name"),
    ("Type", "The layer type"),
    ("Output", "Output volume W×H×D"),
    ("Params", "Parameters: weights + biases"),
    ("Memory", "Activation memory per image (float32); layers computed in place add none"),
    ("Batch", "Activation memory for the whole batch"),
    ("Mult-adds", "Multiply-adds per image in the forward pass"),
    ("RF", "Receptive field: the input region one output neuron sees"),
)
BATCH_COLUMN = 5
FIRST_ADVICE = len(COLUMNS)
COLUMNS += ADVICE_COLUMNS
TIMED = frozenset(FIRST_ADVICE + c for c in TIMING_COLUMNS)
STALE = ("Measured on this network before its last edits; Measure again for times of the "
         "network as it is.")
NUMERIC_FROM = 3
# Combined once: data() and flags() run for every painted cell, and enum "|" is slow in Python.
DISPLAY, TOOLTIP = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
ALIGN, BACKGROUND, FONT, ICON, FOREGROUND = (
    Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ForegroundRole)
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
LAYER_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
TOTALS_FLAGS = Qt.ItemFlag.ItemIsEnabled
# Translucent, so the row reads as red over light and dark bases with the normal text colour.
ERROR_BACKGROUND = QtGui.QColor(230, 40, 30, 80)
IN_PLACE = "in place"


def format_count(n: int) -> str:
    """A large count with an SI prefix and three significant digits: 15.5 G."""
    for prefix, scale in (("T", 10 ** 12), ("G", 10 ** 9), ("M", 10 ** 6), ("k", 10 ** 3)):
        if n >= scale:
            return f"{n / scale:.3g} {prefix}"
    return str(n)


def _memory_cells(info: LayerInfo, batch: int) -> tuple[str, str]:
    if info.output is None:
        return "—", "—"
    if info.in_place:
        return IN_PLACE, IN_PLACE
    floats = info.allocated * BYTES_PER_FLOAT
    return format_bytes(floats), format_bytes(floats * batch)


def _layer_row(info: LayerInfo, batch: int, advice: Advice,
               timings: ShownTimings) -> tuple[str, ...]:
    layer = info.layer
    measured = advice_cells(layer.id, advice, timings.layers.get(layer.id))
    if info.output is None:
        return (layer.name, layer.kind.symbol, "—", "—", "—", "—", "—", "—", *measured)
    per_image, per_batch = _memory_cells(info, batch)
    return (layer.name, layer.kind.symbol, str(info.output), f"{info.params:,}",
            per_image, per_batch, format_count(info.macs),
            f"{info.receptive_field}×{info.receptive_field}", *measured)


def _totals_row(analysis: Analysis, batch: int, advice: Advice,
                timings: ShownTimings) -> tuple[str, ...]:
    floats = analysis.total_activations * BYTES_PER_FLOAT
    last = next((i for i in reversed(analysis.layers) if i.output is not None), None)
    return ("Total", "",
            str(analysis.output) if analysis.output else "—",
            f"{analysis.total_params:,}", format_bytes(floats), format_bytes(floats * batch),
            format_count(analysis.total_macs),
            f"{last.receptive_field}×{last.receptive_field}" if last else "—",
            *advice_totals(advice, list(timings.layers.values())))


def _tooltip(info: LayerInfo, hint: str | None) -> str:
    if info.error:
        return info.error
    if hint:
        return f"{_facts(info)}\n\nℹ {hint}"
    return _facts(info)


def _facts(info: LayerInfo) -> str:
    if info.output is None:
        return "Its volume depends on the layer with the error above."
    parts = [info.layer.kind.title,
             f"{info.input} → {info.output}" if info.input else f"{info.output}"]
    if info.params:
        parts.append(f"{info.weights:,} weights + {info.biases:,} biases")
    if info.macs:
        parts.append(f"{info.macs:,} multiply-adds per image")
    if info.in_place:
        parts.append("computed in place: no new activation memory")
    return "\n".join(parts)


class InspectorModel(QtCore.QAbstractTableModel):
    """Rows 0..n−1 are the layers in stack order; row n is the totals."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._analysis: Analysis | None = None
        self._batch = 1
        self._ids: tuple[str, ...] = ()
        self._cells: list[tuple[str, ...]] = []
        self._errors: list[str | None] = []
        self._hints: list[str | None] = []
        self._timings = ShownTimings()
        self.bold_font, self._italic = QtGui.QFont(), QtGui.QFont()
        self.bold_font.setBold(True)
        self._italic.setItalic(True)
        # The red background is hidden under the selection colour; the icon is not.
        style = QtWidgets.QApplication.style()
        self._warning = style.standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._information = style.standardIcon(
            QtWidgets.QStyle.StandardPixmap.SP_MessageBoxInformation)
        self._grey = QtWidgets.QApplication.palette().color(
            QtGui.QPalette.ColorGroup.Disabled, QtGui.QPalette.ColorRole.Text)

    # --- updates ------------------------------------------------------------------------
    def set_analysis(self, analysis: Analysis, batch: int, hints: Sequence[Hint] = (),
                     timings: ShownTimings = ShownTimings()) -> set[int]:
        """Show `analysis`, with the notes' `hints` and the measured `timings`, and return
        the columns whose texts changed. Keeps the rows (and the view's selection) when the
        layers are the same and then reports only the cells that changed, so the view
        repaints only those."""
        ids = tuple(i.layer.id for i in analysis.layers)
        advice = Advice.of(analysis)
        cells = [_layer_row(i, batch, advice, timings) for i in analysis.layers] + [
            _totals_row(analysis, batch, advice, timings)]
        errors = [i.error for i in analysis.layers] + [None]
        by_layer = {h.layer_id: h.text for h in hints}
        marks = [by_layer.get(i) for i in ids] + [None]
        old_cells, old_errors, old_marks = self._cells, self._errors, self._hints
        batch_changed = batch != self._batch
        stale_changed = timings.stale != self._timings.stale
        self._analysis, self._batch, self._timings = analysis, batch, timings
        if ids != self._ids:
            self.beginResetModel()
            self._ids, self._cells, self._errors, self._hints = ids, cells, errors, marks
            self.endResetModel()
            return set(range(len(COLUMNS)))
        self._cells, self._errors, self._hints = cells, errors, marks
        columns: set[int] = set()
        for row, (old, new) in enumerate(zip(old_cells, cells)):
            changed = [c for c, (a, b) in enumerate(zip(old, new)) if a != b]
            if stale_changed:
                changed = sorted({*changed, *TIMED})
            if old_errors[row] != errors[row] or old_marks[row] != marks[row]:
                changed = [0, *changed, len(COLUMNS) - 1]  # background and icon of the whole row
            if changed:
                columns.update(changed)
                self.dataChanged.emit(self.index(row, changed[0]), self.index(row, changed[-1]))
        if batch_changed:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, BATCH_COLUMN, BATCH_COLUMN)
        return columns

    def has_icons(self) -> bool:
        return any(self._errors) or any(self._hints)

    # --- queries ------------------------------------------------------------------------
    @property
    def layer_ids(self) -> tuple[str, ...]:
        return self._ids

    def cell(self, row: int, column: int) -> str:
        return self._cells[row][column]

    # --- Qt model interface -------------------------------------------------------------
    def rowCount(self, parent=QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._cells)

    def columnCount(self, parent=QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        title, tip = COLUMNS[section]
        if role == DISPLAY:
            return f"{title} ×{self._batch}" if section == BATCH_COLUMN else title
        if role == TOOLTIP:
            measured = self._timings.timings
            if section in TIMED and measured is not None:
                return f"{tip}; at batch {measured.batch_size} on the {measured.device.upper()}"
            return f"{tip} of {self._batch}" if section == BATCH_COLUMN else tip
        return None

    def flags(self, index):
        return TOTALS_FLAGS if index.row() == len(self._ids) else LAYER_FLAGS

    def data(self, index, role=DISPLAY):
        row, column = index.row(), index.column()
        if role == DISPLAY:
            return self._cells[row][column]
        if role == ALIGN:
            return RIGHT if column >= NUMERIC_FROM else None
        if role == BACKGROUND:
            return ERROR_BACKGROUND if self._errors[row] else None
        if role == ICON:
            if column != 0:
                return None
            return self._warning if self._errors[row] else (
                self._information if self._hints[row] else None)
        if role == FOREGROUND:
            return self._grey if self._timings.stale and column in TIMED else None
        if role == FONT:
            if row == len(self._ids):
                return self.bold_font
            return self._italic if self._cells[row][column] == IN_PLACE else None
        if role == TOOLTIP:
            if self._timings.stale and column in TIMED:
                return STALE
            if row < len(self._ids):
                return _tooltip(self._analysis.layers[row], self._hints[row])
        return None
