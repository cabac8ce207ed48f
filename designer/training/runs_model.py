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


class RunsModel(QtCore.QAbstractTableModel):
    """The listed runs, and which of them is open (current) and which is training (busy)."""

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.runs: list[RunSummary] = []
        self.current: Path | None = None
        self.busy: Path | None = None

    def rowCount(self, parent=QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent=QtCore.QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=QtCore.Qt.ItemDataRole.DisplayRole):
        if orientation == QtCore.Qt.Orientation.Horizontal:
            if role == QtCore.Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section].title
            if role == QtCore.Qt.ItemDataRole.TextAlignmentRole and COLUMNS[section].align:
                return COLUMNS[section].align
        return None

    def data(self, index, role=QtCore.Qt.ItemDataRole.DisplayRole):
        run, column = self.runs[index.row()], COLUMNS[index.column()]
        Role = QtCore.Qt.ItemDataRole
        if role == Role.DisplayRole:
            marks = self.marks(run.path) if index.column() == NAME else []
            return column.text(run) + (f"  ({', '.join(marks)})" if marks else "")
        if role == SORT_ROLE:
            return column.key(run)
        if role == Role.FontRole and run.path == self.current:
            font = QtGui.QFont()
            font.setBold(True)
            return font
        if role == Role.ToolTipRole:
            return run_tooltip(run)
        if role == Role.TextAlignmentRole:
            return column.align
        return None

    def marks(self, path: Path) -> list[str]:
        """"open" for the current run, "training" for the busy one."""
        return [word for which, word in MARKS.items() if getattr(self, which) == path]

    def set_runs(self, runs) -> None:
        self.beginResetModel()
        self.runs = list(runs)
        self.endResetModel()

    def row_of(self, path: Path) -> int | None:
        return next((i for i, run in enumerate(self.runs) if run.path == path), None)

    def put(self, run: RunSummary) -> None:
        """Show `run` in place of the listed run of its file, or as a new row."""
        row = self.row_of(run.path)
        if row is None:
            self.beginInsertRows(QtCore.QModelIndex(), len(self.runs), len(self.runs))
            self.runs.append(run)
            self.endInsertRows()
        else:
            self.runs[row] = run
            self._changed(row)

    def remove(self, path: Path) -> None:
        row = self.row_of(path)
        if row is not None:
            self.beginRemoveRows(QtCore.QModelIndex(), row, row)
            del self.runs[row]
            self.endRemoveRows()

    def mark(self, which: str, path: Path | None) -> None:
        """Make `path` the current or the busy run ("current", "busy")."""
        before = getattr(self, which)
        setattr(self, which, path)
        for p in {before, path} - {None}:
            row = self.row_of(p)
            if row is not None:
                self._changed(row)

    def _changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
