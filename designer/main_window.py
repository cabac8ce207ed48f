"""The main window: two modes — Design (palette, canvas, properties, inspector and memory
docks) and Train (the training workspace) — menus, files, and the order of closing."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from designer import dialogs
from designer.canvas.icons import app_icon
from designer.canvas.mime import network_file_from_mime
from designer.canvas.palette import LayerPalette
from designer.canvas.view import CanvasView, set_shortcut
from designer.document import NetworkDocument
from designer.export_actions import ExportActions
from designer.files import (
    Autosaver, add_recent_file, orphaned_recoveries, recent_files, remove_recent_file,
)
from designer.inspector import InspectorPanel
from designer.memory_panel import MemoryPanel
from designer.properties import PropertiesPanel
from designer.training.workspace import TrainWorkspace
from engine.errors import NetworkFileError
from engine.netfile import load_network, save_network
from engine.resources import network_template
from engine.shapes import BYTES_PER_FLOAT, format_bytes
from engine.spec import NetworkSpec, network

Area = QtCore.Qt.DockWidgetArea
Keys = QtGui.QKeySequence.StandardKey
TEMPLATES = (("LeNet-5", "lenet5"), ("AlexNet", "alexnet"), ("ZF Net", "zfnet"),
             ("VGG-16", "vgg16"), ("CIFAR-10 example", "cifar10"),
             ("Default (digits 8×8)", "default"))
DEFAULT_NETWORK = "default"
APP_TITLE = "ConvNet Designer"
STATUS_MS = 5000
STATUS_MARGIN = 4  # px Qt leaves around a status bar's message and widgets
MODES = ("design", "train")
REDO_KEYS = ("Ctrl+Shift+Z", "Ctrl+Y")  # Cmd on macOS


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class StatusBar(QtWidgets.QStatusBar):
    """The status bar: passing messages on the left, the network's `summary` always on the
    right. A message ends in "…" where it meets the summary, whole in the tooltip: Qt cuts
    it off mid-word there, so that "… went on to 100 steps." read as "… went on to 1"
    beside "9 layers"."""

    def __init__(self):
        super().__init__()
        self.summary = QtWidgets.QLabel()
        self.addPermanentWidget(self.summary)

    def showMessage(self, text: str, timeout: int = 0) -> None:
        if not self.isVisible():  # not laid out yet: no room to measure
            super().showMessage(text, timeout)
            return
        room = self.summary.geometry().left() - 3 * STATUS_MARGIN
        shown = self.fontMetrics().elidedText(text, QtCore.Qt.TextElideMode.ElideRight,
                                              max(room, 0))
        self.setToolTip(text if shown != text else "")
        super().showMessage(shown, timeout)


class MainWindow(QtWidgets.QMainWindow):
    """One window edits one `NetworkDocument`; opening a file resets that document.

    The window owns opening networks and closing: the training workspace asks it
    (`maybe_save`, `show_run_network`, `show_status`) and never reaches into it. Closing asks
    about the network, then about the run in progress, then stops training; Cancel at
    either question cancels all of it. `about_to_close` is emitted once a close has been
    accepted, before the window goes away.
    """

    about_to_close = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setWindowIcon(app_icon())
        self.setMinimumSize(900, 560)
        self.setAcceptDrops(True)
        self.document = NetworkDocument(load_network(network_template(DEFAULT_NETWORK)))
        self.canvas = CanvasView(self.document)
        self.palette_view = LayerPalette()
        self.palette_view.type_activated.connect(self.document.add_layer)
        self.properties = PropertiesPanel(self.document)
        self.inspector = InspectorPanel(self.document)
        self.memory = MemoryPanel(self.document)
        self.workspace = TrainWorkspace(self.document, self)
        self.modes = QtWidgets.QStackedWidget()
        self.modes.addWidget(self.canvas)
        self.modes.addWidget(self.workspace)
        self.setCentralWidget(self.modes)
        self.mode = "design"
        self._show_page(self.canvas)
        self._design_layout: QtCore.QByteArray | None = None  # the docks, as design mode left them
        self.history = QtWidgets.QUndoView(self.document.undo_stack)
        self.history.setEmptyLabel("<opened>")
        self.docks: list[QtWidgets.QDockWidget] = []
        self._build_docks()
        self._build_menus()
        self._build_mode_bar()
        self.setStatusBar(StatusBar())
        self.summary = self.statusBar().summary
        self.autosaver = Autosaver(self.document, self)
        self._ended = False  # the workers are stopped: the window is going
        self.document.spec_changed.connect(self._show_summary)
        self.document.path_changed.connect(self._update_title)
        self.document.spec_changed.connect(self._update_title)
        self.document.dirty_changed.connect(self.setWindowModified)
        self.document.edit_refused.connect(
            lambda sentence: self.statusBar().showMessage(sentence, STATUS_MS))
        self._show_summary()
        self._update_title()
        self._restore_layout()
        self.canvas.setFocus()

    # --- layout -------------------------------------------------------------------------
    def add_dock_panel(self, widget: QtWidgets.QWidget, title: str,
                       area: Area = Area.RightDockWidgetArea,
                       tabify_with: QtWidgets.QDockWidget | None = None,
                       scrollable: bool = False) -> QtWidgets.QDockWidget:
        """Put `widget` in a dock listed in View; its place is remembered between runs.

        `scrollable` wraps a large panel in a scroll area, so its minimum size does not
        squeeze the canvas: the dock can be made smaller than the panel, or floated.
        """
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "") + "Dock")
        if scrollable:
            scroll = QtWidgets.QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
            scroll.setWidget(widget)
            widget = scroll
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if tabify_with is not None:
            self.tabifyDockWidget(tabify_with, dock)
        self.restoreDockWidget(dock)
        self.docks.append(dock)
        if hasattr(self, "view_menu"):
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _build_docks(self) -> None:
        self.palette_dock = self.add_dock_panel(self.palette_view, "Layers", Area.LeftDockWidgetArea)
        self.properties_dock = self.add_dock_panel(self.properties, "Properties", scrollable=True)
        # below the canvas and the properties, as wide as the window allows: its table's
        # columns are more than a right-hand column holds even at 1920×1080
        self.inspector_dock = self.add_dock_panel(self.inspector, "Inspector",
                                                  Area.BottomDockWidgetArea)
        self.memory_dock = self.add_dock_panel(self.memory, "Memory", tabify_with=self.inspector_dock,
                                               scrollable=True)
        self.history_dock = self.add_dock_panel(self.history, "History", tabify_with=self.memory_dock)
        self.history_dock.hide()
        self.inspector_dock.raise_()
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.file_actions = {
            "new": self._action(file_menu, "&New", self.new_network, Keys.New),
            "open": self._action(file_menu, "&Open…", self.open_dialog, Keys.Open),
        }
        templates = file_menu.addMenu("Open &Template")
        for title, name in TEMPLATES:
            self._action(templates, title,
                         lambda _=False, n=name: self.open_template(network_template(n)))
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self._action(file_menu, "&Save", self.save, Keys.Save)
        self._action(file_menu, "Save &As…", self.save_as, Keys.SaveAs)
        file_menu.addSeparator()
        file_menu.addActions([self.workspace.open_action, self.workspace.save_action])
        file_menu.addSeparator()
        self.export_actions = ExportActions(self)
        self.export_actions.add_to(file_menu)
        file_menu.addSeparator()
        quit_action = self._action(file_menu, "&Quit", self.close, QtGui.QKeySequence("Ctrl+Q"))
        quit_action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
        self.file_actions.update(templates=templates.menuAction(), recent=self.recent_menu.menuAction())

        edit_menu = bar.addMenu("&Edit")
        stack = self.document.undo_stack
        self.undo_action = stack.createUndoAction(self, "&Undo")
        set_shortcut(self.undo_action, Keys.Undo)
        self.redo_action = stack.createRedoAction(self, "&Redo")
        # Both usual bindings everywhere: the platform's standard Redo lacks Ctrl+Y on Linux.
        redo = QtGui.QKeySequence.keyBindings(Keys.Redo)
        redo += [k for k in map(QtGui.QKeySequence, REDO_KEYS) if k not in redo]
        self.redo_action.setShortcuts(redo)
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        for name in ("cut", "copy", "paste", "duplicate", "delete"):
            edit_menu.addAction(self.canvas.actions[name])
        edit_menu.addSeparator()
        for name in ("rename", "select_all"):
            edit_menu.addAction(self.canvas.actions[name])
        edit_menu.addSeparator()
        self._action(edit_menu, "&History…", self.show_history)

        self.view_menu = bar.addMenu("&View")
        for dock in self.docks:
            self.view_menu.addAction(dock.toggleViewAction())

    def _action(self, menu: QtWidgets.QMenu, text: str, slot, shortcut=None) -> QtGui.QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        if shortcut is not None:
            set_shortcut(action, shortcut)
        return action

    def show_history(self) -> None:
        self.history_dock.show()
        self.history_dock.raise_()

    def _build_mode_bar(self) -> None:
        """Two modes, one click (or Ctrl+1 / Ctrl+2) apart: designing and training."""
        bar = QtWidgets.QToolBar("Mode")
        bar.setObjectName("ModeBar")
        bar.setMovable(False)
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        group = QtGui.QActionGroup(self)
        self.mode_actions = {}
        for key, (text, tip) in zip(MODES, (
                ("Design", "Edit the network: layers, volumes, memory (Ctrl+1)"),
                ("Train", "Train it and watch it learn; runs and their results (Ctrl+2)"))):
            action = QtGui.QAction(text, self, checkable=True, toolTip=tip)
            action.setShortcut(QtGui.QKeySequence(f"Ctrl+{MODES.index(key) + 1}"))
            action.triggered.connect(lambda _=False, k=key: self.set_mode(k))
            group.addAction(action)
            bar.addAction(action)
            self.view_menu.addAction(action)
            self.mode_actions[key] = action
        self.mode_actions["design"].setChecked(True)
        font = bar.font()
        font.setBold(True)
        bar.setFont(font)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, bar)
        self.mode_bar = bar

    def set_mode(self, mode: str) -> None:
        """Show the canvas with its docks, or the training workspace across the window."""
        if mode == self.mode:
            return
        if mode == "train":
            # their sizes too: docks hidden and shown again get sizes Qt chooses
            self._design_layout = self.saveState()
            for dock in self.docks:
                dock.hide()
        self.mode = mode
        self._show_page(self.workspace if mode == "train" else self.canvas)
        if mode == "design" and self._design_layout is not None:  # once the canvas is back
            self.restoreState(self._design_layout)
        self.mode_actions[mode].setChecked(True)

    def _show_page(self, shown: QtWidgets.QWidget) -> None:
        """Show one mode's page; the hidden one must not set the window's minimum size."""
        policy = QtWidgets.QSizePolicy.Policy
        for page in (self.canvas, self.workspace):
            kind = policy.Preferred if page is shown else policy.Ignored
            page.setSizePolicy(kind, kind)
        self.modes.setCurrentWidget(shown)

    def _restore_layout(self) -> None:
        settings = QtCore.QSettings()
        geometry = settings.value("window/geometry")
        # a settings file edited by hand may hold anything: only saved layouts are restored
        if not isinstance(geometry, QtCore.QByteArray) or not self.restoreGeometry(geometry):
            screen = self.screen().availableGeometry()
            self.resize(max(1024, int(screen.width() * 0.95)), max(700, int(screen.height() * 0.95)))
            self.move(screen.center() - self.rect().center())
        state = settings.value("window/state")
        self._needs_default_sizes = (not isinstance(state, QtCore.QByteArray)
                                     or not self.restoreState(state))
        if settings.value("window/mode") in MODES:
            self.set_mode(settings.value("window/mode"))

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if self._needs_default_sizes:  # dock sizes only take once the window is laid out
            self._needs_default_sizes = False
            QtCore.QTimer.singleShot(0, self._default_dock_sizes)

    def _default_dock_sizes(self) -> None:
        """The first start: the canvas in the middle with the properties beside it, and
        the inspector below both, tall enough for a dozen layers' rows."""
        horizontal, vertical = QtCore.Qt.Orientation.Horizontal, QtCore.Qt.Orientation.Vertical
        width, height = self.width(), self.height()
        self.resizeDocks([self.properties_dock], [max(360, int(width * 0.27))], horizontal)
        self.resizeDocks([self.inspector_dock], [int(height * 0.42)], vertical)

    def _save_layout(self) -> None:
        """Remember the window, the design mode's docks and the mode it was in."""
        settings = QtCore.QSettings()
        mode = self.mode
        self.set_mode("design")
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/mode", mode)

    # --- what the training workspace asks ------------------------------------------------
    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_run_network(self, spec: NetworkSpec, path: Path | None) -> bool:
        """Put a run's network on the canvas (after asking about unsaved changes), with its
        file when that file still holds exactly this network; False if the user said no."""
        if self.document.spec.layers == spec.layers:
            return True
        if not self.maybe_save():
            return False
        try:
            same_file = path is not None and load_network(path).layers == spec.layers
        except NetworkFileError:
            same_file = False
        self.document.reset(spec, path if same_file else None)
        self.statusBar().showMessage(f"The canvas shows the network of the run: {spec.name}.",
                                     STATUS_MS)
        return True

    # --- title and status ---------------------------------------------------------------
    def display_name(self) -> str:
        path = self.document.path
        return path.name if path else self.document.spec.name

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.display_name()}[*] — {APP_TITLE}")
        self.setWindowModified(self.document.dirty)

    def _show_summary(self) -> None:
        """The network in one line, or what keeps it from training: the layers with errors
        and a problem of the whole network (no loss layer yet), which no card shows."""
        analysis = self.document.analysis
        parts = []
        if analysis.errors:
            parts.append(f"{_count(len(analysis.errors), 'layer')} with errors (red cards)")
        if analysis.network_error:
            parts.append(f"⚠ {analysis.network_error}")
        if not parts:
            memory = format_bytes(analysis.total_activations * BYTES_PER_FLOAT)
            parts.append(f"{_count(len(analysis.layers), 'layer')} · "
                         f"{analysis.total_params:,} parameters · {memory} activations per image"
                         f" · output {analysis.output}")
        self.summary.setText(" · ".join(parts))

    # --- files --------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """True when the current network may be replaced: saved, discarded or unchanged."""
        if not self.document.dirty:
            return True
        answer = dialogs.ask_save_changes(self, self.display_name())
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_network(self) -> None:
        if self.maybe_save():
            self.document.reset(network("Untitled", (32, 32, 3)), None)
            self.statusBar().showMessage("New network: drag layers from the palette.", STATUS_MS)

    def open_dialog(self) -> None:
        if self.maybe_save():
            path = dialogs.ask_open_path(self, self._folder())
            if path:
                self.load(Path(path))

    def open_path(self, path: Path) -> bool:
        """Open a network file after asking about unsaved changes (recent files, drops)."""
        return self.maybe_save() and self.load(Path(path))

    def open_template(self, path: Path) -> bool:
        """A template opens untitled, so saving it asks for a new file."""
        spec = self.maybe_save() and self._read(path)
        if spec:
            self.document.reset(spec, None)
            self.statusBar().showMessage(f"Opened the template {spec.name}", STATUS_MS)
        return bool(spec)

    def load(self, path: Path) -> bool:
        """Replace the network with the file's; a bad file changes nothing and says why."""
        spec = self._read(path)
        if spec:
            self.document.reset(spec, path)
            add_recent_file(path)
            self.statusBar().showMessage(f"Opened {path}", STATUS_MS)
        return bool(spec)

    def _read(self, path: Path) -> NetworkSpec | None:
        try:
            return load_network(path)
        except NetworkFileError as e:
            dialogs.show_error(self, "Cannot open network", str(e))
            if not path.exists():
                remove_recent_file(path)
            return None

    def save(self) -> bool:
        return self._write(self.document.path) if self.document.path else self.save_as()

    def save_as(self) -> bool:
        name = self.document.path.name if self.document.path else self.document.spec.name
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem) or "network"
        path = dialogs.ask_save_path(self, str(Path(self._folder()) / f"{stem}.json"))
        return self._write(Path(path)) if path else False

    def _write(self, path: Path) -> bool:
        try:
            save_network(self.document.spec, path)
        except NetworkFileError as e:
            dialogs.show_error(self, "Cannot save network", str(e))
            return False
        self.document.set_path(path)
        self.document.mark_saved()
        add_recent_file(path)
        self.statusBar().showMessage(f"Saved {path}", STATUS_MS)
        return True

    def _folder(self) -> str:
        if self.document.path:
            return str(self.document.path.parent)
        recent = recent_files()
        return str(recent[0].parent) if recent else str(Path.home())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = recent_files()
        for i, path in enumerate(files, start=1):
            action = self.recent_menu.addAction(f"&{i} {path.name}  —  {path.parent}")
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def offer_recovery(self) -> bool:
        """After a crash, offer the recovery copies it left; True if one was opened."""
        for recovery in orphaned_recoveries():
            if dialogs.ask_recover(self, recovery.describe()):
                self.document.reset(recovery.spec, recovery.source, dirty=True)
                recovery.discard()
                self.autosaver.save_now()
                self.statusBar().showMessage("Recovered unsaved work; save it to keep it.", STATUS_MS)
                return True
            recovery.discard()
        return False

    # --- window events ------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if network_file_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        path = network_file_from_mime(event.mimeData())
        if path:
            event.acceptProposedAction()
            # Open after the drop returns so a dialog does not run inside the drag.
            QtCore.QTimer.singleShot(0, lambda: self.open_path(path))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self._ended:  # by end_without_asking: nothing more to ask or to stop
            event.accept()
            return
        if not self.maybe_save() or not self.workspace.may_close():
            event.ignore()
            return
        self._end()
        self.autosaver.close()
        event.accept()

    def end_without_asking(self) -> None:
        """The system asks the designer to end (SIGTERM: a logout, `kill`, a shutdown), when
        nobody may be there to answer: nothing is asked and nothing lost. Unsaved changes
        stay in the recovery copy, offered at the next start; a run in training is stopped
        and kept, as closing keeps it."""
        self.autosaver.save_now()
        self.autosaver.timer.stop()
        self._end()
        QtWidgets.QApplication.exit(0)

    def _end(self) -> None:
        """Stop training (the run is kept) and the workers, and remember the layout."""
        self._ended = True
        if self.workspace.training:  # a large network's step can take a while
            self.statusBar().showMessage("Saving the run after its current step…")
            self.statusBar().repaint()
        self.workspace.shutdown()
        self._save_layout()
        self.about_to_close.emit()
