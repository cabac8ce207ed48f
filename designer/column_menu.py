"""A table's columns shown or hidden from its header's context menu, remembered between runs:
a narrow dock shows the columns its user reads, the others stay a right-click away."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


def add_column_menu(view: QtWidgets.QTableView, settings_key: str) -> None:
    """Give `view`'s header one checkable action per column (all but the first, which names
    the row); the hidden columns are kept in QSettings under `settings_key`."""
    header, model = view.horizontalHeader(), view.model()
    stored = QtCore.QSettings().value(settings_key, [])
    hidden = {str(title) for title in stored} if isinstance(stored, list) else set()
    header.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
    actions = []
    for column in range(1, model.columnCount()):
        title = _title(model, column)
        action = QtGui.QAction(title, header)
        action.setCheckable(True)
        action.setChecked(title not in hidden)
        view.setColumnHidden(column, title in hidden)
        action.toggled.connect(lambda shown, c=column: _toggle(view, settings_key, actions, c,
                                                               shown))
        header.addAction(action)
        actions.append(action)


def _title(model: QtCore.QAbstractItemModel, column: int) -> str:
    """The header's title without what changes with the settings ("Batch ×32" → "Batch")."""
    return str(model.headerData(column, QtCore.Qt.Orientation.Horizontal)).split(" ×")[0]


def _toggle(view: QtWidgets.QTableView, settings_key: str, actions: list[QtGui.QAction],
            column: int, shown: bool) -> None:
    view.setColumnHidden(column, not shown)
    QtCore.QSettings().setValue(settings_key, [a.text() for a in actions if not a.isChecked()])
