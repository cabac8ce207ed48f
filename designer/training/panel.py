"""The Train panel: settings, Train/Pause/Resume/Stop, progress, and the live views.

The panel owns one `TrainingWorker`; it only draws what the worker sends. While a run
is in progress the network is locked (`locked` signal, wired to the window's lock).
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from designer import dialogs
from designer.training.activation_view import ActivationView
from designer.training.classify_view import ClassifyView
from designer.training.confusion_view import ConfusionView
from designer.training.filters_view import FiltersView
from designer.training.plots import AccuracyPlot, LossPlot
from designer.training.settings import DataPicker, TrainSettings
from designer.training.worker import TrainingWorker
from engine.checkpoint import EXTENSION, FILE_FILTER




def ask_stop_training(parent) -> bool:
    """True when the user agrees to stop the run in progress (to close the window)."""
    box = QtWidgets.QMessageBox
    answer = box.question(parent, "Training in progress",
                          "A network is training. Stop the training and close?",
                          box.StandardButton.Yes | box.StandardButton.No, box.StandardButton.No)
    return answer == box.StandardButton.Yes


def ask_checkpoint_path(parent, save: bool) -> str | None:
    if save:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Save Checkpoint",
                                                        f"run{EXTENSION}", FILE_FILTER)
        if path and not path.lower().endswith(EXTENSION):
            path += EXTENSION
    else:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open Checkpoint", "",
                                                        FILE_FILTER)
    return path or None


def duration(seconds: float) -> str:
    """Seconds as h:mm:ss or m:ss."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _boxed(title: str, widget: QtWidgets.QWidget) -> QtWidgets.QGroupBox:
    box = QtWidgets.QGroupBox(title)
    layout = QtWidgets.QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addWidget(widget)
    return box


class TrainPanel(QtWidgets.QWidget):
    """Train the document's network on a background thread and watch it learn."""

    locked = QtCore.Signal(bool)     # True while the network must not change
    message = QtCore.Signal(str)     # a line for the status bar

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.session = None          # worker.Session of the trainer the views show
        self._training = False       # a run (not a checkpoint being opened) is in progress
        self._total_steps = 1
        self._may_replace_network = lambda: True
        self.worker = TrainingWorker(self)
        self.picker = DataPicker()
        self.settings = TrainSettings()
        self.loss_plot = LossPlot()
        self.accuracy_plot = AccuracyPlot()
        self.activation_view = ActivationView()
        self.filters_view = FiltersView()
        self.confusion_view = ConfusionView()
        self.classify_view = ClassifyView()
        self.buttons = {name: QtWidgets.QPushButton(name)
                        for name in ("Train", "Pause", "Resume", "Stop")}
        self.open_button = QtWidgets.QPushButton("Open Checkpoint…")
        self.save_button = QtWidgets.QPushButton("Save Checkpoint…")
        # The same two commands for the window's File menu.
        self.open_action = QtGui.QAction("Open Checkpoint…", self)
        self.save_action = QtGui.QAction("Save Checkpoint…", self)
        self.progress = QtWidgets.QProgressBar()   # its text: epoch, iteration, speed, ETA
        self.progress.setFormat("")
        self.status = QtWidgets.QLabel("Press Train to train the network on the data set.")
        self.status.setWordWrap(True)
        self._layout()
        self._connect()
        self.picker.set_volume(document.spec.input_volume)
        self._update_buttons()

    # --- building ------------------------------------------------------------------------
    def _layout(self) -> None:
        form = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(form)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(_boxed("Data set", self.picker))
        column.addWidget(_boxed("Settings", self.settings))
        column.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        scroll.setMinimumWidth(form.sizeHint().width() + 20)
        grid = QtWidgets.QGridLayout()     # above the scrolling form: in view in a short dock
        for i, button in enumerate(self.buttons.values()):
            grid.addWidget(button, 0, i)
        grid.addWidget(self.open_button, 1, 0, 1, 2)
        grid.addWidget(self.save_button, 1, 2, 1, 2)
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(2, 2, 2, 2)
        side_layout.addLayout(grid)
        side_layout.addWidget(self.progress)
        side_layout.addWidget(self.status)
        side_layout.addWidget(scroll, 1)
        rows = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        for views, stretches in (
                ((self.loss_plot, self.accuracy_plot,
                  _boxed("Confusion matrix", self.confusion_view)), (2, 2, 3)),
                ((_boxed("Activation maps", self.activation_view),
                  _boxed("Filters", self.filters_view),
                  _boxed("Classify", self.classify_view)), (4, 2, 3))):
            row = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
            for view, stretch in zip(views, stretches):
                row.addWidget(view)
                row.setStretchFactor(row.count() - 1, stretch)
            rows.addWidget(row)
        rows.setStretchFactor(0, 2)
        rows.setStretchFactor(1, 3)  # the pictures need the room more than the curves
        outer = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        outer.addWidget(side)
        outer.addWidget(rows)
        outer.setStretchFactor(1, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(outer)

    def _connect(self) -> None:
        w = self.worker
        self.buttons["Train"].clicked.connect(self.train)
        self.buttons["Pause"].clicked.connect(self.pause)
        self.buttons["Resume"].clicked.connect(self.resume)
        self.buttons["Stop"].clicked.connect(self.stop)
        for control in (self.open_button.clicked, self.open_action.triggered):
            control.connect(self.open_checkpoint_dialog)
        for control in (self.save_button.clicked, self.save_action.triggered):
            control.connect(self.save_checkpoint_dialog)
        self.activation_view.wanted.connect(w.watch_activations)
        self.filters_view.wanted.connect(w.watch_filters)
        self.confusion_view.requested.connect(w.request_confusion)
        self.classify_view.classify.connect(w.classify)
        self.classify_view.error.connect(self._on_failed)
        w.status.connect(self._say)
        w.data_ready.connect(lambda loaded: self.picker.select(*loaded))
        w.session_ready.connect(self._on_session)
        w.steps.connect(self._on_steps)
        w.epoch.connect(self.accuracy_plot.add_epoch)
        w.activations.connect(self.activation_view.show_picture)
        w.filters.connect(self.filters_view.show_picture)
        w.confusion.connect(self.confusion_view.show_confusion)
        w.prediction.connect(self.classify_view.show_prediction)
        w.saved.connect(lambda path: self._say(f"Saved the checkpoint {path}."))
        w.failed.connect(self._on_failed)
        w.finished.connect(self._on_finished)
        self.document.spec_changed.connect(
            lambda: self.picker.set_volume(self.document.spec.input_volume))
        self.document.selection_changed.connect(self._follow_selection)

    def attach(self, window) -> None:
        """Wire the panel to the main window: lock, status bar, and closing during a run."""
        self.locked.connect(window.set_editing_locked)
        self.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self._may_replace_network = window.maybe_save
        window.installEventFilter(self)
        window.about_to_close.connect(self.shutdown)

    # --- actions -------------------------------------------------------------------------
    def train(self) -> bool:
        """Start training the network as it is now; False when a run is already going."""
        spec = self.document.spec
        config = self.settings.config()
        if not self.worker.train(spec, config, self.picker.source,
                                 self.picker.data_for(spec.input_volume)):
            return False
        self.session = None
        for view in (self.loss_plot, self.accuracy_plot, self.activation_view.grid,
                     self.filters_view, self.confusion_view):
            view.reset()
        self._training = True
        self.locked.emit(True)
        self.progress.setRange(0, 0)
        self._say("Starting…")
        self._update_buttons()
        return True

    def pause(self) -> None:
        self.worker.pause()
        self._say("Paused; the views can still be explored.")
        self._update_buttons()

    def resume(self) -> None:
        self.worker.resume()
        self._say("Training…")
        self._update_buttons()

    def stop(self) -> None:
        self.worker.stop()
        self._say("Stopping…")

    def open_checkpoint_dialog(self, *_) -> None:
        if not self.worker.busy and self._may_replace_network():
            path = ask_checkpoint_path(self, save=False)
            if path:
                self.open_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> bool:
        if not self.worker.open_checkpoint(path):
            return False
        self._training = False
        self.progress.setRange(0, 0)
        self._say(f"Opening {Path(path).name}…")
        self._update_buttons()
        return True

    def save_checkpoint_dialog(self, *_) -> None:
        path = ask_checkpoint_path(self, save=True)
        if path:
            self.worker.save_checkpoint(path)

    def shutdown(self) -> None:
        """Stop the worker and wait for its thread (the window is closing)."""
        self.worker.shutdown()

    # --- worker results ------------------------------------------------------------------
    def _on_session(self, session) -> None:
        self.session = session
        spec, data = session.spec, session.data
        self._total_steps = max(1, session.config.epochs * -(-len(data.train_x)
                                                             // session.config.batch_size))
        self.activation_view.set_network(spec, len(data.val_x))
        self.classify_view.set_samples(spec.input_volume, data.val_x)
        self.confusion_view.set_available(True)
        if session.resumed:
            h = session.history
            self.loss_plot.set_history(h["step"], h["loss"], h["lr"])
            self.accuracy_plot.set_history(h["epoch"], h["train_acc"], h["val_acc"])
            self.settings.set_config(session.config)
            self.document.reset(spec, None)
        self.progress.setRange(0, self._total_steps)
        self._update_buttons()

    def _on_steps(self, events) -> None:
        self.loss_plot.add_steps(events)
        e = events[-1]
        self.progress.setValue(min(e.step, self._total_steps))
        self.progress.setFormat(f"epoch {e.epoch}/{self.session.config.epochs} · iteration "
                                f"{e.step}/{self._total_steps} · {e.images_per_s:,.0f} "
                                f"images/s · ETA {duration(e.eta_s)}")

    def _on_failed(self, sentence: str) -> None:
        self._say(sentence)
        dialogs.show_error(self, "Training", sentence)

    def _on_finished(self, outcome: str) -> None:
        if self._training:
            self._training = False
            self.locked.emit(False)
        h = self.session.history if self.session else None
        steps = len(self.loss_plot.steps)
        if self.session is None:
            self.progress.setRange(0, 1)
        elif outcome == "completed":
            self._say(f"Finished after {steps} iterations; "
                      f"validation accuracy {self._last_val_accuracy()}.")
        elif outcome == "stopped":
            self._say(f"Stopped after {steps} iterations.")
        elif outcome == "opened" and h is not None:
            self._say(f"Checkpoint opened: {len(h['epoch'])} epochs, {len(h['step'])} "
                      f"iterations; validation accuracy {self._last_val_accuracy()}.")
        if self.session is not None and outcome != "failed":
            self.classify_view.submit(self.session.data.val_x[self.classify_view.sample.value()])
        self._update_buttons()

    def _last_val_accuracy(self) -> str:
        values = self.accuracy_plot.val_acc
        return f"{values.last:.1f} %" if len(values) else "not measured yet"

    # --- helpers -------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.message.emit(text)

    def _follow_selection(self) -> None:
        ids = self.document.selected_ids
        if len(ids) == 1:
            self.activation_view.follow(ids[0])

    def _update_buttons(self) -> None:
        busy, paused = self.worker.busy, self.worker.paused
        training = busy and self._training
        self.buttons["Train"].setEnabled(not busy)
        self.buttons["Pause"].setEnabled(training and not paused)
        self.buttons["Resume"].setEnabled(training and paused)
        self.buttons["Stop"].setEnabled(training)
        for control in (self.open_button, self.open_action):
            control.setEnabled(not busy)
        for control in (self.save_button, self.save_action):
            control.setEnabled(not busy and self.session is not None)
        self.settings.setEnabled(not busy)
        self.picker.setEnabled(not busy)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QtCore.QEvent.Close and self.worker.busy:
            if not ask_stop_training(self):
                event.ignore()
                return True
            # Stopped here, but closed only on about_to_close: the window may still
            # refuse to close (unsaved changes, Cancel), and then the panel goes on working.
            self.worker.stop()
            self.worker.wait()
        return super().eventFilter(watched, event)
