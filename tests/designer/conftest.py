import os
from pathlib import Path

import pytest

from PySide6 import QtCore

from designer import dialogs
from designer.document import NetworkDocument
from designer.training.workspace import TrainWorkspace
from engine.netfile import load_network
from engine.resources import network_template


@pytest.fixture(autouse=True)
def isolated_settings(qapp):
    """QSettings and QStandardPaths in Qt's test folder, under a name of this test run
    only, emptied before every test so no test sees another's (or the user's) settings."""
    QtCore.QStandardPaths.setTestModeEnabled(True)
    qapp.setOrganizationName(f"convnet-designer-tests-{os.getpid()}")
    qapp.setApplicationName("convnet-designer")
    settings = QtCore.QSettings()
    settings.clear()
    yield
    settings.clear()
    settings.sync()
    Path(settings.fileName()).unlink(missing_ok=True)


@pytest.fixture
def open_document():
    """`open_document("vgg16")`: a document of one of the templates."""
    return lambda name: NetworkDocument(load_network(network_template(name)))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """A temporary home: QStandardPaths (recovery copies) and file dialogs' default
    folder point into it, so tests never touch the user's files."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


def _send_drag(widget, mime, pos, drop=True):
    """Deliver a drag's enter → move (→ drop) events, as QDrag.exec would, to `widget`
    (its viewport for a scroll area); returns whether the last event was accepted."""
    from PySide6 import QtGui, QtWidgets
    target = widget.viewport() if isinstance(widget, QtWidgets.QAbstractScrollArea) else widget
    actions = QtCore.Qt.DropAction.CopyAction | QtCore.Qt.DropAction.MoveAction
    rest = (actions, mime, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)

    def make(kind):  # PySide6 6.12 wants a QPointF where 6.11 wants a QPoint
        try:
            return kind(QtCore.QPointF(pos), *rest)
        except TypeError:
            return kind(QtCore.QPoint(pos), *rest)
    kinds = (QtGui.QDragEnterEvent, QtGui.QDragMoveEvent) + ((QtGui.QDropEvent,) if drop else ())
    events = [make(kind) for kind in kinds]
    for event in events:
        QtWidgets.QApplication.sendEvent(target, event)
    return events[-1].isAccepted()


@pytest.fixture
def window(qtbot):
    """The real main window with the default network, shown offscreen."""
    from PySide6 import QtWidgets

    from designer.main_window import MainWindow
    w = MainWindow()
    w.resize(1300, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    # Not qtbot.addWidget: it closes before fixtures end, and a modified window would ask.
    w.document.mark_saved()
    w.close()
    # Offscreen Qt crashes at exit if the clipboard still holds Python-made QMimeData.
    QtWidgets.QApplication.clipboard().clear()
    w.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)


@pytest.fixture
def send_drag():
    """`send_drag(widget, mime, pos, drop=True)`: a simulated drag and drop."""
    return _send_drag


class FakeHost:
    """The window's side, as the Train workspace sees it."""

    def __init__(self, document):
        self.document = document
        self.statuses: list[str] = []
        self.shown_networks = []

    def maybe_save(self) -> bool:
        return True

    def show_run_network(self, spec, path) -> bool:
        self.shown_networks.append(spec)
        self.document.reset(spec, path)
        return True

    def show_status(self, text: str) -> None:
        self.statuses.append(text)


@pytest.fixture
def errors(monkeypatch):
    """Sentences that would have been shown in an error dialog."""
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text: shown.append(text))
    return shown


def make_workspace(qtbot, document):
    """A Train workspace on its own, shown, set for tiny runs of one epoch."""
    ws = TrainWorkspace(document, FakeHost(document))
    qtbot.addWidget(ws)
    ws.resize(1400, 800)
    ws.show()
    qtbot.waitExposed(ws)
    ws.settings.widgets["batch_size"].setValue(64)
    ws.settings.widgets["epochs"].setValue(1)
    return ws


@pytest.fixture
def ws(qtbot, open_document, errors):
    """A Train workspace on the default network, shut down after the test."""
    w = make_workspace(qtbot, open_document("default"))
    yield w
    w.shutdown()
