"""Every question the designer asks the user, as small functions tests can replace."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from engine.checkpoint import EXTENSION
from engine.checkpoint import FILE_FILTER as RUN_FILTER

NETWORK_FILTER = "Network files (*.json);;All files (*)"
_Box = QtWidgets.QMessageBox


def ask_save_changes(parent, name: str) -> str:
    """'save', 'discard' or 'cancel' for a network with unsaved changes."""
    box = _Box(_Box.Icon.Warning, "Unsaved changes",
               f"'{name}' has unsaved changes. Save them before closing it?",
               _Box.StandardButton.Save | _Box.StandardButton.Discard | _Box.StandardButton.Cancel,
               parent)
    box.setDefaultButton(_Box.StandardButton.Save)
    answer = box.exec()
    return {_Box.StandardButton.Save: "save",
            _Box.StandardButton.Discard: "discard"}.get(_Box.StandardButton(answer), "cancel")


def ask_open_path(parent, folder: str) -> str | None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open network", folder, NETWORK_FILTER)
    return path or None


def ask_save_path(parent, suggested: str) -> str | None:
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Save network as", suggested,
                                                    NETWORK_FILTER)
    if path and "." not in path.rsplit("/", 1)[-1]:
        path += ".json"
    return path or None


def show_error(parent, title: str, message: str) -> None:
    """A failure the user should read: `message` is the error's one plain sentence."""
    _Box.warning(parent, title, message)


def ask_recover(parent, description: str) -> bool:
    """True to reopen a recovery copy left by a crash, False to throw it away."""
    answer = _Box.question(
        parent, "Recover unsaved work?",
        f"ConvNet Designer did not close normally. A recovery copy of {description} "
        "was found. Open it? (No discards it.)",
        _Box.StandardButton.Yes | _Box.StandardButton.No, _Box.StandardButton.Yes)
    return answer == _Box.StandardButton.Yes


def ask_run_name(parent, current: str) -> str | None:
    """A new name for the run called `current`; None if the user cancels."""
    name, ok = QtWidgets.QInputDialog.getText(parent, "Rename run", "New name of the run:",
                                              QtWidgets.QLineEdit.EchoMode.Normal, current)
    return name if ok else None


def ask_delete_run(parent, name: str, file_name: str) -> bool:
    """True to delete the run file for good."""
    answer = _Box.question(
        parent, "Delete run?",
        f"Delete the run '{name}'? Its file {file_name} is removed from the disk, with its "
        "weights and curves; this cannot be undone.",
        _Box.StandardButton.Yes | _Box.StandardButton.Cancel, _Box.StandardButton.Cancel)
    return answer == _Box.StandardButton.Yes


def ask_runs_folder(parent, folder: str) -> str | None:
    """Another folder of runs to list."""
    return QtWidgets.QFileDialog.getExistingDirectory(parent, "Choose a folder of runs",
                                                      folder) or None


def ask_run_file(parent, folder: str) -> str | None:
    """A run file to open, from any folder."""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open run", folder, RUN_FILTER)
    return path or None


def ask_run_save_path(parent, suggested: str) -> str | None:
    """Where to save a copy of the run shown."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Save run as", suggested, RUN_FILTER)
    if path and not path.lower().endswith(EXTENSION):
        path += EXTENSION
    return path or None


def ask_stop_training(parent, kept_in: Path | None) -> bool:
    """True when the user agrees to stop the run in progress (to close the window)."""
    kept = f" The run so far is kept in {kept_in.name} and can be continued." if kept_in else ""
    answer = _Box.question(parent, "Training in progress",
                           f"A network is training. Stop the training and close?{kept}",
                           _Box.StandardButton.Yes | _Box.StandardButton.No,
                           _Box.StandardButton.No)
    return answer == _Box.StandardButton.Yes


def ask_onnx_path(parent, suggested: str) -> str | None:
    """Where to write an ONNX model."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Export to ONNX", suggested,
                                                    "ONNX models (*.onnx);;All files (*)")
    if path and not path.lower().endswith(".onnx"):
        path += ".onnx"
    return path or None


def ask_project_folder(parent, suggested: str) -> str | None:
    """A new (or empty) folder for an exported PyTorch project."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(
        parent, "Export PyTorch project into a new folder", suggested, "Folders (*)")
    return path or None


def ask_weights_file(parent, folder: str) -> str | None:
    """A .pt file trained by an exported project."""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(
        parent, "Import trained weights", folder, "PyTorch weights (*.pt *.pth);;All files (*)")
    return path or None
