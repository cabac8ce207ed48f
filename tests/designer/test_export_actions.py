"""File ▸ Export ▸ ONNX… / PyTorch Project… and File ▸ Import Trained Weights…: the work runs
on a worker, an imported run opens in the Train workspace, a missing package disables its
action with the reason."""

from pathlib import Path

import pytest

from designer import dialogs, export_actions
from designer.export_actions import ExportActions, export_task
from engine.export.project import write_project
from engine.export.source import Source
from engine.task import TaskState

pytest.importorskip("onnx")
pytest.importorskip("torch")


def menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions()]


def test_the_file_menu_offers_export_and_import(window):
    file_menu = window.menuBar().actions()[0].menu()
    assert "&Export" in menu_texts(file_menu) and "Import Trained &Weights…" in menu_texts(file_menu)
    actions = window.export_actions
    assert menu_texts(actions.export_menu) == ["&ONNX…", "&PyTorch Project…"]
    assert all(a.isEnabled() for a in (actions.onnx_action, actions.pytorch_action,
                                        actions.import_action))


def test_without_the_package_an_action_is_disabled_and_says_why(window, monkeypatch):
    monkeypatch.setattr(export_actions, "missing_package",
                        lambda need: "No torch here." if need != "onnx" else None)
    actions = ExportActions(window)
    assert actions.onnx_action.isEnabled()
    for action in (actions.pytorch_action, actions.import_action):
        assert not action.isEnabled()
        assert action.toolTip() == action.statusTip() == "No torch here."


def test_the_canvas_network_exports_to_onnx_in_the_background(window, qtbot, tmp_path,
                                                              monkeypatch):
    target = tmp_path / "net.onnx"
    monkeypatch.setattr(dialogs, "ask_onnx_path", lambda parent, suggested: str(target))
    with qtbot.waitSignal(window.export_actions.worker.finished, timeout=30_000):
        window.export_actions.onnx_action.trigger()
    assert target.is_file()
    assert window.statusBar().currentMessage() == (
        f"Exported '{window.document.spec.name}' (fresh weights) to {target}.")


def test_a_run_exports_its_own_weights(tmp_path):
    from main import main

    assert main(["train", "default", "--epochs", "1", "--save", str(tmp_path / "small.ckpt")]) == 0
    done = export_task(TaskState(), "pytorch", tmp_path / "small.ckpt", None,
                       str(tmp_path / "project"))
    assert done.sentence.startswith("Exported the run 'small' as a PyTorch project in ")
    assert '"fit_normalization": false' in (tmp_path / "project" / "settings.json").read_text()


def test_imported_weights_open_in_the_train_workspace(window, qtbot, tmp_path, monkeypatch):
    project = write_project(Source.of_network(window.document.spec), tmp_path / "project")
    monkeypatch.setattr(dialogs, "ask_weights_file",
                        lambda parent, folder: str(project / "weights.pt"))
    with qtbot.waitSignal(window.export_actions.worker.finished, timeout=30_000):
        window.export_actions.import_action.trigger()
    assert window.mode == "train"
    qtbot.waitUntil(lambda: window.workspace.shown is not None, timeout=30_000)
    assert Path(window.workspace.shown.path).parent == project / "runs"


def test_weights_that_do_not_fit_are_one_sentence_in_a_dialog(window, qtbot, tmp_path,
                                                             monkeypatch):
    (tmp_path / "w.pt").write_bytes(b"junk")
    monkeypatch.setattr(dialogs, "ask_weights_file", lambda parent, folder: str(tmp_path / "w.pt"))
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text: shown.append(text))
    with qtbot.waitSignal(window.export_actions.worker.failed, timeout=30_000):
        window.export_actions.import_action.trigger()
    assert shown == ["'w.pt' cannot be read as PyTorch weights; give the "
                     "checkpoint.pt or weights.pt of an exported project."]


def test_closing_the_window_waits_for_an_export_under_way(window, qtbot, tmp_path, monkeypatch):
    """Quit right after Export: the project is written whole before the window goes, not cut
    off half-written in a hidden folder."""
    import time

    import engine.export.project as project_module

    write_files = project_module._write_files

    def slow(*args):  # a large network's weights take a while to write
        time.sleep(3)
        write_files(*args)

    monkeypatch.setattr(project_module, "_write_files", slow)
    target = tmp_path / "exports" / "project"
    monkeypatch.setattr(dialogs, "ask_project_folder", lambda parent, suggested: str(target))
    window.export_actions.pytorch_action.trigger()
    assert window.close()
    assert (target / "weights.pt").is_file() and (target / "README.md").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["project"]  # and nothing half-written
