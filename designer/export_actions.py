"""File ▸ Export ▸ ONNX… / PyTorch Project… and File ▸ Import Trained Weights…

Export takes the run shown in the Train workspace while that workspace is in front, else the
network on the canvas (with fresh weights). The work — loading a run, writing files, reading
and checking weights — runs on a worker thread; the window only asks where and says how it
went. Without the package a format needs, its action is disabled and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from designer import dialogs
from designer.background import Worker
from engine.checkpoint import load_run
from engine.export.errors import missing_package
from engine.export.source import Source
from engine.runs import keep_new_run, runs_folder
from engine.spec import NetworkSpec
from engine.task import TaskState


@dataclass(frozen=True)
class Exported:
    sentence: str


@dataclass(frozen=True)
class Imported:
    path: Path


def export_task(state: TaskState, fmt: str, run_path: Path | None, spec: NetworkSpec,
                target: str) -> Exported:
    """Write the run saved at `run_path` (or `spec`, with fresh weights) as `fmt` to `target`."""
    source = Source.of_run(load_run(run_path, "cpu")) if run_path else Source.of_network(spec)
    state.check()
    what = f"the run '{run_path.stem}'" if run_path else f"'{spec.name}' (fresh weights)"
    if fmt == "onnx":
        from engine.export.onnx_model import save_onnx

        save_onnx(source, target, probabilities=True)
        return Exported(f"Exported {what} to {target}.")
    from engine.export.project import write_project

    write_project(source, target)
    return Exported(f"Exported {what} as a PyTorch project in {target}; its README says "
                    "how to train it with torchrun.")


def import_task(state: TaskState, weights: Path, spec: NetworkSpec,
                network_file: Path | None) -> Imported:
    """A run of the weights, kept in the runs folder of the network they fit: the
    network.json beside them if there is one, else the canvas network."""
    from engine.export.weights_import import (
        import_weights, network_beside, read_weights, run_from_weights,
    )

    beside = network_beside(weights)
    if beside is not None:
        run, network_file = import_weights(weights, beside), beside
    else:
        arrays, meta = read_weights(weights)
        run = run_from_weights(spec, arrays, meta, weights.name,
                               network_file=str(network_file) if network_file else None)
    state.check()
    return Imported(keep_new_run(run, runs_folder(network_file)))


class ExportActions(QtCore.QObject):
    """The three actions, for a window with `document`, `workspace`, `mode` and
    `show_status`."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.worker = Worker(self)
        window.about_to_close.connect(self._finish)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(lambda sentence: dialogs.show_error(
            self.window, "Export or import failed", sentence))
        self.onnx_action = self._action("&ONNX…", "onnx", lambda: self.export("onnx"),
                                        "An ONNX model taking raw pixel values")
        self.pytorch_action = self._action(
            "&PyTorch Project…", "pytorch", lambda: self.export("pytorch"),
            "model.py, weights and a torchrun-ready train.py, to train on many GPUs")
        self.import_action = self._action(
            "Import Trained &Weights…", "import", self.import_weights,
            "Open weights trained by an exported PyTorch project as a run")

    def _action(self, text: str, need: str, slot, tip: str) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        reason = missing_package(need)
        action.setEnabled(reason is None)
        action.setToolTip(reason or tip)
        action.setStatusTip(reason or tip)
        action.triggered.connect(lambda _=False: slot())
        return action

    def add_to(self, file_menu: QtWidgets.QMenu) -> None:
        self.export_menu = file_menu.addMenu("&Export")
        self.export_menu.setToolTipsVisible(True)
        self.export_menu.addActions([self.onnx_action, self.pytorch_action])
        file_menu.addAction(self.import_action)
        file_menu.setToolTipsVisible(True)

    def _shown_run(self) -> Path | None:
        shown = self.window.workspace.shown
        if self.window.mode == "train" and shown is not None and shown.path is not None:
            return shown.path
        return None

    def export(self, fmt: str) -> None:
        run_path, spec = self._shown_run(), self.window.document.spec
        name = run_path.stem if run_path else spec.name
        folder = Path(self.window.document.path or Path.home()).expanduser()
        folder = folder.parent if folder.suffix else folder
        if fmt == "onnx":
            target = dialogs.ask_onnx_path(self.window, str(folder / f"{name}.onnx"))
        else:
            target = dialogs.ask_project_folder(self.window, str(folder / f"{name} pytorch"))
        if target:
            self.window.show_status(f"Exporting {name}…")
            self.worker.submit(export_task, fmt, run_path, spec, target)

    def import_weights(self) -> None:
        path = dialogs.ask_weights_file(self.window, str(Path.home()))
        if path:
            self.window.show_status(f"Importing {Path(path).name}…")
            self.worker.submit(import_task, Path(path), self.window.document.spec,
                               self.window.document.path)

    def _finish(self) -> None:
        """The window closes: an export or import under way is first written whole (cut
        off, it would leave nothing but a hidden half-written folder or file behind)."""
        self.worker.wait(None)
        self.worker.shutdown()

    def _done(self, result) -> None:
        if isinstance(result, Exported):
            self.window.show_status(result.sentence)
        elif isinstance(result, Imported):
            self.window.set_mode("train")
            if not self.window.workspace.open_run(result.path):
                self.window.show_status(f"Saved the imported run as {result.path}; open it "
                                        "when training stops.")
