"""What the list of runs shows: one row per run file, its columns, how each sorts, and
which run is open and which is training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6 import QtCore, QtGui

from designer.training.run_text import accuracy_text, epochs_text, local_time, run_tooltip
from engine.checkpoint import RunSummary

SORT_ROLE = QtCore.Qt.ItemDataRole.UserRole
RIGHT = QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column:
    title: str
    text: Callable[[RunSummary], str]
    key: Callable[[RunSummary], Any]  # what the column sorts by
    align: QtCore.Qt.AlignmentFlag | None = None


COLUMNS = (
    Column("Name", lambda r: r.name, lambda r: r.name.casefold()),
    Column("Started", lambda r: local_time(r.created), lambda r: r.created),
    Column("Network", lambda r: r.spec.name, lambda r: r.spec.name.casefold()),
    Column("Data", lambda r: r.data_name, lambda r: r.data_name.casefold()),
    Column("Epochs", epochs_text, lambda r: r.epochs_done, RIGHT),
    Column("Best val. accuracy", lambda r: accuracy_text(r.best_val_acc),
           lambda r: -1.0 if r.best_val_acc is None else r.best_val_acc, RIGHT),
)
NAME, STARTED = 0, 1
MARKS = {"current": "open", "busy": "training"}


class RunsModel(QtGui.QStandardItemModel):
    """The listed runs, and which of them is open (current) and which is training (busy).

    Each run's texts, sort keys, font and tooltip are stored in the model's items when the
    run is put, so that painting, sizing and sorting the table never call into Python: while
    a run trains, every such call would wait for the interpreter lock, and a table that asks
    each of its cells for half a dozen roles would stall the window for tens of ms."""

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(0, len(COLUMNS), parent)
        for i, column in enumerate(COLUMNS):
            header = QtGui.QStandardItem(column.title)
            if column.align:
                header.setTextAlignment(column.align)
            self.setHorizontalHeaderItem(i, header)
        self.runs: list[RunSummary] = []
        self.current: Path | None = None
        self.busy: Path | None = None

    def set_runs(self, runs) -> None:
        self.beginResetModel()
        self.blockSignals(True)  # one reset, not a signal per row
        try:
            self.setRowCount(0)
            self.runs = list(runs)
            for run in self.runs:
                self.appendRow(self._items(run))
        finally:
            self.blockSignals(False)
        self.endResetModel()

    def row_of(self, path: Path) -> int | None:
        return next((i for i, run in enumerate(self.runs) if run.path == path), None)

    def put(self, run: RunSummary) -> None:
        """Show `run` in place of the listed run of its file, or as a new row."""
        row = self.row_of(run.path)
        if row is None:
            self.runs.append(run)
            self.appendRow(self._items(run))
        else:
            self.runs[row] = run
            self._refill(row)

    def remove(self, path: Path) -> None:
        row = self.row_of(path)
        if row is not None:
            del self.runs[row]
            self.removeRow(row)

    def mark(self, which: str, path: Path | None) -> None:
        """Make `path` the current or the busy run ("current", "busy")."""
        before = getattr(self, which)
        setattr(self, which, path)
        for p in {before, path} - {None}:
            row = self.row_of(p)
            if row is not None:
                self._refill(row)

    def marks(self, path: Path) -> list[str]:
        """"open" for the current run, "training" for the busy one."""
        return [word for which, word in MARKS.items() if getattr(self, which) == path]

    def _refill(self, row: int) -> None:
        self.blockSignals(True)  # one dataChanged for the row, not one per role and cell
        try:
            self._fill([self.item(row, i) for i in range(len(COLUMNS))], self.runs[row])
        finally:
            self.blockSignals(False)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _items(self, run: RunSummary) -> list[QtGui.QStandardItem]:
        """A new row for `run`, filled before it is added (one rowsInserted, complete)."""
        items = [QtGui.QStandardItem() for _ in COLUMNS]
        self._fill(items, run)
        return items

    def _fill(self, items: list[QtGui.QStandardItem], run: RunSummary) -> None:
        tip, marks = run_tooltip(run), self.marks(run.path)
        font = None  # the view's own
        if run.path == self.current:
            font = QtGui.QFont()
            font.setBold(True)
        for i, (item, column) in enumerate(zip(items, COLUMNS)):
            text = column.text(run)
            if i == NAME and marks:
                text += f"  ({', '.join(marks)})"
            item.setText(text)
            item.setData(column.key(run), SORT_ROLE)
            item.setToolTip(tip)
            item.setData(font, QtCore.Qt.ItemDataRole.FontRole)
            if column.align:
                item.setTextAlignment(column.align)
