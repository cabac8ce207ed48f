"""The list of runs: every run file of a folder with its network, data, epochs and best
validation accuracy, to open, continue, rename, delete or compare.

Files are read and changed only by tasks on a background `Worker` (`engine.run_files`);
the view shows what they return, so a folder of hundreds of runs never stalls the window.
The view changes no run itself: opening, continuing and comparing are asked of its owner
through signals.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from designer import dialogs
from designer.background import Worker
from designer.training.runs_model import NAME, SORT_ROLE, STARTED, RunsModel
from engine.checkpoint import RunSummary
from engine.run_files import (RunDeleted, RunListing, RunRead, RunRenamed, delete_task,
                              list_task, read_task, rename_task)

MAX_PROBLEMS_SHOWN = 5  # lines; the label's tooltip has them all


def _normal(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path).resolve()


class FolderLabel(QtWidgets.QLabel):
    """"Runs in FOLDER", the folder's middle elided to fit; the whole path in the tooltip."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.folder = ""
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                           QtWidgets.QSizePolicy.Policy.Preferred)

    def set_folder(self, folder: Path) -> None:
        self.folder = str(folder)
        self.setToolTip(self.folder)
        self._fit()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        metrics, prefix = self.fontMetrics(), "Runs in "
        room = self.width() - metrics.horizontalAdvance(prefix) - 4
        self.setText(prefix + metrics.elidedText(self.folder, QtCore.Qt.TextElideMode.ElideMiddle,
                                                 max(room, 40)))


class RunsView(QtWidgets.QWidget):
    """The runs of one folder in a sortable table, with their actions."""

    open_requested = QtCore.Signal(object)      # Path of the run file to open
    continue_requested = QtCore.Signal(object)  # Path of the run file to train further
    compare_requested = QtCore.Signal(list)     # RunSummary of each chosen run, as listed
    renamed = QtCore.Signal(object)             # RunSummary of a run under its new name
    deleted = QtCore.Signal(object)             # Path of a run file deleted
    message = QtCore.Signal(str)                # a sentence for the status bar

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.worker = Worker(self)
        self.worker.finished.connect(self._received)
        self.worker.failed.connect(self._failed)
        self.model = RunsModel(self)
        self.proxy = QtCore.QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = self._make_table()
        self.folder_label = FolderLabel()
        self.status = QtWidgets.QLabel()
        self.problems = QtWidgets.QLabel()
        self.problems.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                    QtWidgets.QSizePolicy.Policy.Preferred)
        self.problems.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems.hide()

        self.open_action = self._action("Open", self.open_selected, "Return",
                                        "Open the run: its network, curves and views.")
        self.continue_action = self._action("Continue", self.continue_selected, None,
                                            "Open the run and train it further.")
        self.rename_action = self._action("Rename…", self.rename_selected, "F2",
                                          "Give the run another name (its file keeps its own).")
        self.delete_action = self._action("Delete…", self.delete_selected,
                                          QtGui.QKeySequence.StandardKey.Delete,
                                          "Delete the run's file from the disk.")
        self.compare_action = self._action(
            "Compare Selected", self.compare_selected, None,
            "Overlay the curves of the selected runs: select two or more with Ctrl+click "
            "or Shift+click.")
        self.table.doubleClicked.connect(lambda _: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        for changed in (self.model.modelReset, self.model.rowsInserted, self.model.rowsRemoved):
            changed.connect(self._update_actions)
            changed.connect(self._show_count)
        self.model.modelReset.connect(self.table.resizeColumnsToContents)
        self.model.rowsInserted.connect(self.table.resizeColumnsToContents)
        self.model.dataChanged.connect(self._widen)

        choose = QtWidgets.QPushButton("Choose Folder…")
        choose.setToolTip("List the runs of another folder.")
        choose.clicked.connect(self.choose_folder)
        open_file = QtWidgets.QPushButton("Open Run File…")
        open_file.setToolTip("Open one run file from any folder.")
        open_file.clicked.connect(self.open_file)
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.setToolTip("Read the folder again.")
        refresh.clicked.connect(self.refresh)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        for button in (choose, open_file, refresh):
            top.addWidget(button)
        bottom = QtWidgets.QHBoxLayout()
        for action in (self.open_action, self.continue_action, self.rename_action,
                       self.delete_action):
            bottom.addWidget(self._button(action))
        bottom.addWidget(self.status, 1, QtCore.Qt.AlignmentFlag.AlignCenter)
        bottom.addWidget(self._button(self.compare_action))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problems)
        layout.addLayout(bottom)
        self._update_actions()

    def _make_table(self) -> QtWidgets.QTableView:
        table = QtWidgets.QTableView()
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(STARTED, QtCore.Qt.SortOrder.DescendingOrder)
        table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        # Fitted when rows come and go, widened when a row's new text does not fit (_widen):
        # fitting to contents on every change would ask every row each epoch.
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(NAME, QtWidgets.QHeaderView.ResizeMode.Stretch)
        table.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        return table

    def _widen(self, top_left: QtCore.QModelIndex, bottom_right: QtCore.QModelIndex) -> None:
        """Grow the columns whose changed cells no longer fit (never shrink them)."""
        header = self.table.horizontalHeader()
        for row in range(top_left.row(), bottom_right.row() + 1):
            for column in range(top_left.column(), bottom_right.column() + 1):
                if column == NAME:
                    continue
                index = self.proxy.mapFromSource(self.model.index(row, column))
                width = self.table.sizeHintForIndex(index).width()
                if width > header.sectionSize(column):
                    header.resizeSection(column, width)

    def _action(self, text: str, slot, shortcut, tip: str) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        action.setIconText(text)  # a tool button would drop the "…" that says a dialog follows
        action.setToolTip(tip)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.table.addAction(action)
        return action

    def _button(self, action: QtGui.QAction) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    # --- what the owner tells the view -----------------------------------------------------
    def set_folder(self, folder: str | Path) -> None:
        """List the runs of `folder` (in the background)."""
        folder = _normal(folder)
        if folder != self.folder:
            self.folder = folder
            self.folder_label.set_folder(folder)
            self.model.set_runs([])
            self._show_problems(())
        self.refresh()

    def refresh(self) -> None:
        """Read the folder again."""
        if self.folder is not None:
            self.status.setText("Reading the runs…")
            self.worker.submit(list_task, self.folder)

    def run_changed(self, path: str | Path) -> None:
        """The run file at `path` was written (a new run, an epoch kept): read its row again,
        or add it if it is in the folder shown."""
        self.worker.submit(read_task, _normal(path))

    def set_current(self, path: str | Path | None) -> None:
        """Mark the run open in the window (None: none)."""
        self.model.mark("current", _normal(path))

    def set_busy_path(self, path: str | Path | None) -> None:
        """Mark the run that is training (None: none): it is not renamed or deleted."""
        self.model.mark("busy", _normal(path))

    def shutdown(self) -> None:
        """Stop the background reader; call before the view is destroyed."""
        self.worker.shutdown()

    # --- actions ------------------------------------------------------------------------------
    def selected(self) -> list[RunSummary]:
        """The selected runs, in the order shown."""
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda i: i.row())
        return [self.model.runs[self.proxy.mapToSource(i).row()] for i in rows]

    def _one(self) -> RunSummary | None:
        chosen = self.selected()
        return chosen[0] if len(chosen) == 1 else None

    def open_selected(self) -> None:
        run = self._one()
        if run is not None:
            self.open_requested.emit(run.path)

    def continue_selected(self) -> None:
        run = self._one()
        if run is not None:
            self.continue_requested.emit(run.path)

    def compare_selected(self) -> None:
        chosen = self.selected()
        if len(chosen) >= 2:
            self.compare_requested.emit(chosen)

    def rename_selected(self) -> None:
        run = self._one()
        if run is None or self._refused(run, "renaming"):
            return
        name = dialogs.ask_run_name(self, run.name)
        if name is not None and name.strip() != run.name:
            self.worker.submit(rename_task, run.path, name)

    def delete_selected(self) -> None:
        run = self._one()
        if run is None or self._refused(run, "deleting"):
            return
        if dialogs.ask_delete_run(self, run.name, run.path.name):
            self.worker.submit(delete_task, run.path)

    def choose_folder(self) -> None:
        folder = dialogs.ask_runs_folder(self, str(self.folder or ""))
        if folder:
            self.set_folder(folder)

    def open_file(self) -> None:
        path = dialogs.ask_run_file(self, str(self.folder or ""))
        if path:
            self.open_requested.emit(_normal(path))

    def _refused(self, run: RunSummary, doing: str) -> bool:
        if run.path != self.model.busy:
            return False
        self.message.emit(f"'{run.name}' is training and its file is rewritten every epoch; "
                          f"stop it before {doing} it.")
        return True

    def _update_actions(self, *_) -> None:
        count = len(self.table.selectionModel().selectedRows())
        for action in (self.open_action, self.continue_action, self.rename_action,
                       self.delete_action):
            action.setEnabled(count == 1)
        self.compare_action.setEnabled(count >= 2)

    def _context_menu(self, position: QtCore.QPoint) -> None:
        if not self.table.indexAt(position).isValid():
            return
        menu = QtWidgets.QMenu(self)
        menu.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addActions([self.open_action, self.continue_action, self.rename_action,
                         self.delete_action])
        menu.addSeparator()
        menu.addAction(self.compare_action)
        menu.popup(self.table.viewport().mapToGlobal(position))

    # --- what the background tasks return ----------------------------------------------------
    @QtCore.Slot(object)
    def _received(self, result: object) -> None:
        match result:
            case RunListing():
                self._show_listing(result)
            case RunRead() | RunRenamed():
                if result.summary.path.parent == self.folder or self.model.row_of(
                        result.summary.path) is not None:
                    self.model.put(result.summary)
                if isinstance(result, RunRenamed):
                    self.renamed.emit(result.summary)
                    self.message.emit(f"Renamed the run of {result.summary.path.name} to "
                                      f"'{result.summary.name}'.")
            case RunDeleted():
                row = self.model.row_of(result.path)
                name = self.model.runs[row].name if row is not None else result.path.stem
                self.model.remove(result.path)
                self.deleted.emit(result.path)
                self.message.emit(f"Deleted the run '{name}' ({result.path.name}).")

    @QtCore.Slot(str)
    def _failed(self, sentence: str) -> None:
        self.status.setText("")
        self.message.emit(sentence)

    def _show_listing(self, listing: RunListing) -> None:
        if listing.folder != self.folder:
            return  # a folder shown before this one
        kept = {run.path for run in self.selected()}
        self.model.set_runs(listing.runs)
        selection = QtCore.QItemSelection()
        for row, run in enumerate(self.model.runs):
            if run.path in kept:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                selection.select(index, index)
        self.table.selectionModel().select(
            selection, QtCore.QItemSelectionModel.SelectionFlag.Select
            | QtCore.QItemSelectionModel.SelectionFlag.Rows)
        self._show_problems(listing.problems)

    def _show_count(self, *_) -> None:
        n = len(self.model.runs)
        self.status.setText({0: "No runs in this folder yet.",
                             1: "1 run"}.get(n, f"{n} runs"))

    def _show_problems(self, problems) -> None:
        shown = list(problems[:MAX_PROBLEMS_SHOWN])
        if len(problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more files that are "
                         "not runs (see the tooltip).")
        self.problems.setText("\n".join(shown))
        self.problems.setToolTip("\n".join(problems))
        self.problems.setVisible(bool(problems))
