"""A table's columns shown or hidden from its header's context menu, remembered between runs:
a narrow dock shows the columns its user reads, the others stay a right-click away."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class ColumnMenu:
    """One checkable action per column of `view`'s header (all but the first, which names
    the row); the hidden columns are kept in QSettings under `settings_key`. Columns the
    table cannot fill yet (`set_unavailable`) stay hidden whatever the menu says."""

    def __init__(self, view: QtWidgets.QTableView, settings_key: str):
        self.view, self.settings_key = view, settings_key
        header, model = view.horizontalHeader(), view.model()
        stored = QtCore.QSettings().value(settings_key, [])
        hidden = {str(title) for title in stored} if isinstance(stored, list) else set()
        header.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
        self.actions: dict[int, QtGui.QAction] = {}
        self._unavailable: frozenset[int] = frozenset()
        for column in range(1, model.columnCount()):
            title = _title(model, column)
            action = QtGui.QAction(title, header)
            action.setCheckable(True)
            action.setChecked(title not in hidden)
            action.toggled.connect(self._toggled)
            header.addAction(action)
            self.actions[column] = action
        self._apply()

    def set_unavailable(self, columns: frozenset[int]) -> None:
        """Hide `columns` (e.g. times not measured yet) and grey out their actions."""
        if columns != self._unavailable:
            self._unavailable = columns
            self._apply()

    def _toggled(self) -> None:
        self._apply()
        QtCore.QSettings().setValue(self.settings_key,
                                    [a.text() for a in self.actions.values() if not a.isChecked()])

    def _apply(self) -> None:
        for column, action in self.actions.items():
            action.setEnabled(column not in self._unavailable)
            self.view.setColumnHidden(column, not action.isChecked() or column in self._unavailable)


def _title(model: QtCore.QAbstractItemModel, column: int) -> str:
    """The header's title without what changes with the settings ("Batch ×32" → "Batch")."""
    return str(model.headerData(column, QtCore.Qt.Orientation.Horizontal)).split(" ×")[0]
