"""Files through the window: save/open round trip, prompts, bad files, recent files,
templates, file drops, window layout, and recovery after a crash."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

import designer.app
import main
from designer import dialogs
from designer.files import AUTOSAVE_DELAY_MS, orphaned_recoveries, recent_files, recovery_folder
from designer.main_window import MainWindow
from engine.errors import NetworkFileError
from engine.netfile import load_network, save_network
from engine.resources import network_template
from engine.spec import network, make_layer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def answers(monkeypatch):
    """Records every dialog the window opens and answers it from a dict."""
    given = {"save_changes": "cancel", "open": None, "save": None, "recover": True}
    asked = []

    def reply(kind):
        def ask(parent, *args):
            asked.append((kind, *args))
            return given[kind]
        return ask
    monkeypatch.setattr(dialogs, "ask_save_changes", reply("save_changes"))
    monkeypatch.setattr(dialogs, "ask_open_path", reply("open"))
    monkeypatch.setattr(dialogs, "ask_save_path", reply("save"))
    monkeypatch.setattr(dialogs, "ask_recover", reply("recover"))
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text: asked.append(("error", text)))
    return given, asked


def modify(window):
    window.document.add_layer("dropout")


def test_title_names_the_file_and_marks_changes(window, answers, tmp_path):
    given, _ = answers
    assert window.windowTitle().startswith("Default (digits 8×8)[*]")
    assert not window.isWindowModified()
    modify(window)
    assert window.isWindowModified() and "[*]" in window.windowTitle()
    given["save"] = str(tmp_path / "digits.json")
    assert window.save()
    assert window.windowTitle().startswith("digits.json[*]") and not window.isWindowModified()
    window.document.undo_stack.undo()  # back past the save point is a change too
    assert window.isWindowModified()


def test_save_then_reopen_round_trips_through_the_gui(window, answers, tmp_path):
    given, asked = answers
    modify(window)
    window.document.rename_layer(window.document.spec.layers[1].id, "features")
    saved = window.document.spec
    given["save"] = str(tmp_path / "mine.json")
    window.file_actions["new"].trigger()  # unsaved changes: the answer saves them first
    assert asked[0] == ("save_changes", "Default (digits 8×8)")
    given["save_changes"] = "save"
    window.file_actions["new"].trigger()
    assert load_network(tmp_path / "mine.json") == saved
    assert window.document.spec.name == "Untitled" and window.document.path is None
    given["open"] = str(tmp_path / "mine.json")
    window.file_actions["open"].trigger()
    assert window.document.spec == saved and window.document.path == tmp_path / "mine.json"
    assert not window.document.dirty and window.document.undo_stack.count() == 0
    assert recent_files()[0] == (tmp_path / "mine.json").resolve()


def test_save_as_adds_the_suffix_and_save_reuses_the_path(window, tmp_path, monkeypatch):
    calls = []

    def file_dialog(*args):
        calls.append(args)
        return str(tmp_path / "plain"), ""
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", file_dialog)
    modify(window)
    assert window.save_as()
    assert (tmp_path / "plain.json").exists() and window.document.path == tmp_path / "plain.json"
    modify(window)
    assert window.save() and len(calls) == 1


def test_unsaved_changes_prompt_on_close(window, answers):
    given, asked = answers
    modify(window)
    assert not window.close()  # Cancel keeps the window and the changes
    assert window.isVisible() and window.document.dirty
    given["save_changes"] = "discard"
    assert window.close()
    assert not window.isVisible() and [a[0] for a in asked] == ["save_changes", "save_changes"]


def test_cancelled_save_keeps_the_window_open(window, answers):
    given, _ = answers
    modify(window)
    given["save_changes"], given["save"] = "save", None  # Save, then cancel the file dialog
    assert not window.close() and window.isVisible()


def test_malformed_file_opens_nothing_and_shows_the_loaders_sentence(window, answers, tmp_path):
    given, asked = answers
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "convnet-designer", "version": 1, "layers": [')
    with pytest.raises(NetworkFileError) as expected:
        load_network(bad)
    before = window.document.spec
    given["open"] = str(bad)
    window.open_dialog()
    assert asked == [("open", asked[0][1]), ("error", str(expected.value))]
    assert window.document.spec == before and window.document.path is None


def test_a_file_with_duplicate_names_opens_as_written_and_the_inspector_offers_a_rename(
        window, answers, tmp_path, qtbot):
    path = tmp_path / "twins.json"
    save_network(network("twins", (8, 8, 1), make_layer("conv", "conv"), make_layer("conv", "conv"),
                         make_layer("fc", "fc"), make_layer("softmax", "softmax")), path)
    assert window.load(path)
    document = window.document
    assert [l.name for l in document.spec.layers] == ["input", "conv", "conv", "fc", "softmax"]
    assert not document.dirty
    assert window.inspector.problem.text() == ("⚠ conv: 'conv' is already the name of a layer "
                                               "above; layer names must be unique; rename "
                                               "'conv' to 'conv1'")
    qtbot.mouseClick(window.inspector.fix_buttons[0], QtCore.Qt.MouseButton.LeftButton)
    assert document.spec.layers[2].name == "conv1" and document.analysis.valid


def test_save_error_is_shown_and_the_document_stays_modified(window, answers, tmp_path):
    given, asked = answers
    modify(window)
    given["save"] = str(tmp_path / "no such folder" / "x.json")
    assert not window.save()
    assert asked[-1][0] == "error" and "Could not save" in asked[-1][1]
    assert window.document.dirty and window.document.path is None


def test_templates_open_untitled_and_recent_files_reopen(window, answers, tmp_path):
    vgg = next(a for a in window.menuBar().findChildren(QtWidgets.QMenu)
               if a.title() == "Open &Template").actions()
    next(a for a in vgg if a.text() == "VGG-16").trigger()
    assert window.document.spec.name == "VGG-16" and window.document.path is None
    assert recent_files() == []
    path = tmp_path / "small.json"
    save_network(network("small", (4, 4, 1), make_layer("fc", units=2), make_layer("softmax")), path)
    assert window.open_path(path)
    window.document.reset(network("other", (2, 2, 1)), None)
    window._fill_recent_menu()
    action = window.recent_menu.actions()[0]
    assert "small.json" in action.text()
    action.trigger()
    assert window.document.path == path


def test_dropping_a_network_file_on_the_window_opens_it(window, answers, tmp_path, send_drag, qtbot):
    path = tmp_path / "dropped.json"
    save_network(network("dropped", (4, 4, 1), make_layer("fc", units=2)), path)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    assert send_drag(window.canvas, mime, QtCore.QPoint(50, 50))  # the canvas passes it up
    qtbot.waitUntil(lambda: window.document.path == path)
    assert window.document.spec.name == "dropped"


def test_window_layout_is_remembered(window, qtbot):
    window.memory_dock.hide()
    window.history_dock.show()
    window.close()
    assert QtCore.QSettings().value("window/geometry")
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.memory_dock.isHidden() and not again.history_dock.isHidden()
    assert not again.inspector_dock.isHidden()
    again.autosaver.close()


def test_an_edit_is_in_the_recovery_copy_a_second_later(qtbot, window):
    copy = window.autosaver.file
    modify(window)
    assert not copy.exists()        # a burst of edits makes one write, not one each
    started = time.monotonic()
    qtbot.waitUntil(copy.exists, timeout=5 * AUTOSAVE_DELAY_MS)
    assert time.monotonic() - started < 3 * AUTOSAVE_DELAY_MS / 1000
    assert json.loads(copy.read_text())["network"]["layers"][-2]["type"] == "dropout"
    window.document.undo_stack.undo()        # back to the file as saved: no copy to keep
    assert not copy.exists()


def test_autosave_writes_only_while_modified_and_clean_exit_leaves_nothing(window, answers, tmp_path):
    given, _ = answers
    window.autosaver.save_now()
    assert not window.autosaver.file.exists()
    modify(window)
    window.autosaver.save_now()
    assert window.autosaver.file.exists()
    given["save"] = str(tmp_path / "kept.json")
    window.save()
    assert not window.autosaver.file.exists()
    modify(window)
    window.autosaver.save_now()
    given["save_changes"] = "discard"
    window.close()
    assert list(recovery_folder().glob("*")) == []


CRASH = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from PySide6 import QtCore, QtWidgets
QtCore.QStandardPaths.setTestModeEnabled(True)
app = QtWidgets.QApplication([])
app.setOrganizationName(sys.argv[2]); app.setApplicationName(sys.argv[3])
from designer.main_window import MainWindow
window = MainWindow()
window.load(sys.argv[4])
window.document.add_layer("dropout")
window.document.rename_layer(window.document.spec.layers[1].id, "crashed")
while not window.autosaver.file.exists():  # written by itself a second after the edits
    app.processEvents()
    time.sleep(0.02)
print(window.document.spec.layers[-2].id, flush=True)
os._exit(1)
"""


def crash_a_window(qapp, path):
    """Run a real window in another process that edits `path` and dies without closing."""
    result = subprocess.run(
        [sys.executable, "-c", CRASH, str(ROOT), qapp.organizationName(), qapp.applicationName(),
         str(path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1, result.stderr
    return result.stdout.split()[0]


def test_recovery_copy_is_offered_after_a_crash(qapp, qtbot, answers, tmp_path):
    given, asked = answers
    path = tmp_path / "work.json"
    save_network(load_network(network_template("cifar10")), path)
    dropout_id = crash_a_window(qapp, path)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.offer_recovery()
    assert asked[0][0] == "recover" and "work.json" in asked[0][1]
    spec = window.document.spec
    assert spec.layers[1].name == "crashed" and spec.layers[-2].id == dropout_id
    assert window.document.path == path and window.isWindowModified()
    assert orphaned_recoveries() == []  # taken over by the new window's own copy
    window.document.mark_saved()
    window.autosaver.close()


def test_a_declined_recovery_copy_is_removed(qapp, qtbot, answers, tmp_path):
    given, asked = answers
    path = tmp_path / "work.json"
    save_network(load_network(network_template("default")), path)
    crash_a_window(qapp, path)
    given["recover"] = False
    window = MainWindow()
    qtbot.addWidget(window)
    assert not window.offer_recovery()
    assert window.document.path is None and not window.document.dirty
    assert orphaned_recoveries() == []
    window.autosaver.close()


def test_a_running_windows_copy_is_not_offered(window):
    modify(window)
    window.autosaver.save_now()
    assert orphaned_recoveries() == []


def test_main_opens_a_network_file_given_on_the_command_line(monkeypatch, tmp_path):
    opened = []
    monkeypatch.setattr(designer.app, "run_app", lambda argv=None: opened.append(argv) or 0)
    path = tmp_path / "net.json"
    path.write_text("{}")
    assert main.main([str(path)]) == 0
    assert opened == [[str(path)]]


def test_a_recent_file_that_vanished_is_reported_and_dropped(window, answers, tmp_path):
    given, asked = answers
    path = tmp_path / "gone.json"
    save_network(network("gone", (4, 4, 1), make_layer("fc", units=2)), path)
    assert window.open_path(path) and recent_files() == [path.resolve()]
    path.unlink()
    assert not window.open_path(path)
    assert asked[-1][0] == "error" and "does not exist" in asked[-1][1]
    assert recent_files() == []


def test_no_display_is_one_sentence_not_a_crash(monkeypatch, capsys):
    from designer import app

    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(app.sys, "platform", "linux")
    assert app.run_app([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: there is no display") and err.count("\n") == 1


def test_ctrl_c_in_the_terminal_closes_the_window_as_quit_does(window, qtbot, monkeypatch):
    import signal as signals

    from designer.app import quit_on_interrupt
    previous = signals.getsignal(signals.SIGINT)
    asked = []
    try:
        quit_on_interrupt(window)
        window.document.rename_layer(window.document.spec.layers[1].id, "edited")
        monkeypatch.setattr(dialogs, "ask_save_changes",
                            lambda parent, name: asked.append(name) or "cancel")
        os.kill(os.getpid(), signals.SIGINT)
        qtbot.waitUntil(lambda: len(asked) == 1, timeout=5000)
        assert window.isVisible()                       # Cancel keeps it open, as for Quit
        monkeypatch.setattr(dialogs, "ask_save_changes",
                            lambda parent, name: asked.append(name) or "discard")
        os.kill(os.getpid(), signals.SIGINT)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
        assert len(asked) == 2
    finally:
        signals.signal(signals.SIGINT, previous)
        signals.set_wakeup_fd(-1)


def test_ctrl_c_ends_the_app_without_a_traceback(tmp_path):
    import signal as signals
    import time

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    app = subprocess.Popen([sys.executable, str(ROOT / "main.py")], env=env, cwd=tmp_path,
                           stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)  # the window is up
        app.send_signal(signals.SIGINT)
        _, err = app.communicate(timeout=30)
    finally:
        app.kill()
    assert app.returncode == 0 and "Traceback" not in err and "KeyboardInterrupt" not in err


SIGTERM_WINDOW = """
import sys
from designer.app import create_application, quit_on_interrupt
from designer.training.session import StepBatch
app = create_application(sys.argv[:1])
from designer.main_window import MainWindow
window = MainWindow()
window.show()
quit_on_interrupt(window)
window.document.rename_layer(window.document.spec.layers[1].id, "unsaved")
ws = window.workspace
ws.settings.widgets["batch_size"].setValue(1)   # a first epoch of 1,617 steps
ws.settings.widgets["epochs"].setValue(100)
ws.worker.reported.connect(lambda r: isinstance(r, StepBatch) and print("training", flush=True))
ws.train()
sys.exit(app.exec())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_ends_the_app_without_asking_and_keeps_the_network_and_the_run(tmp_path):
    """A logout or `kill` sends SIGTERM, with nobody to answer a question: the unsaved
    network is left as a recovery copy for the next start, the run is stopped and kept."""
    import json
    import signal as signals

    from engine.checkpoint import load_run

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "CONVNET_DESIGNER_HOME": str(tmp_path / "runs-home"), "PYTHONPATH": str(ROOT)}
    app = subprocess.Popen([sys.executable, "-c", SIGTERM_WINDOW], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert app.stdout.readline() == "training\n"
        app.send_signal(signals.SIGTERM)
        _, err = app.communicate(timeout=30)
    finally:
        app.kill()
    assert app.returncode == 0 and "Traceback" not in err
    (copy,) = (tmp_path / "data").rglob("recovery-*.json")
    assert json.loads(copy.read_text())["network"]["layers"][1]["name"] == "unsaved"
    (kept,) = (tmp_path / "runs-home" / "runs").glob("*.ckpt")
    run = load_run(kept)
    assert run.epoch == 0 and run.step > 0   # stopped within its first epoch, and saved


@pytest.mark.parametrize("key, value", [
    ("window/geometry", "garbage"), ("window/state", 42), ("recent_files", 7),
    ("train_workspace/splitters", [1, 2, 3]), ("memory/batch_size", "abc"),
    ("memory/custom_gib", "nan"),
])
def test_a_damaged_settings_file_opens_the_window_with_the_defaults(qtbot, key, value):
    """A settings file edited by hand (or by another version) holds a value of another type:
    the window still opens, with that setting's default, rather than fail at every start."""
    QtCore.QSettings().setValue(key, value)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    settings = window.inspector.settings
    assert (settings.batch_size, settings.custom_gib) == (32, 8.0) and recent_files() == []
    window.autosaver.close()
