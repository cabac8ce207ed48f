"""The Train workspace: a mode of its own beside the canvas, where a run is started,
watched, continued, saved and compared.

Left: the run's controls (Train, Continue, Pause, Stop) at the top, always in view, then
the data set, the settings, what training will take, and the runs kept. Right: the curves
over the pictures (activation maps, filters, confusion matrix, Classify). Everything shown
belongs to the run named in the header; when the canvas holds another network, a banner
says so.

The workspace owns one `Worker` and the `Session` on its thread; the GUI thread only
draws what the session reports. It asks the window (`TrainingHost`) for anything beyond
itself: whether a network may be replaced, showing a run's network, the status bar.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from designer import dialogs
from designer.background import Worker
from designer.memory_settings import memory_settings
from designer.timing_store import timing_store
from designer.training.classify_view import ClassifyView
from designer.training.compare_view import CompareView
from designer.training.confusion_view import ConfusionView
from designer.training.health_view import HealthView
from designer.training.insight import (
    MisclassifiedImages, MisclassifiedRequest, SaliencyAnswer, SaliencyRequest, UnitFieldAnswer,
    UnitFieldRequest,
)
from designer.training.lr_finder_view import LrFinderView
from designer.training.misclassified_view import MisclassifiedView
from designer.training.plots import AccuracyPlot, LossPlot
from designer.training.network_view import NetworkView
from designer.training.readiness import ReadinessView
from designer.training.runs_view import RunsView
from designer.training.saliency_view import SaliencyView
from designer.training.network_pictures import NetworkPicture, NetworkRequest
from designer.training.session import (
    NOT_STARTED, Confusion, ConfusionRequest, DataLoaded, EpochDone, FilterPictures, LrSweepFound,
    PauseSwitch, Prediction, PredictionRequest, RequestFailed, Requests, RunShown, Saved,
    SaveRequest, Session, Status, StepBatch, TrainingEnded,
)
from designer.training.settings import DataPicker, TrainSettings
from engine.checkpoint import EXTENSION
from engine.config import TrainConfig
from engine.runs import runs_folder
from engine.spec import NetworkSpec
from engine.task import TaskState
from engine.trainer import TrainControl

LEFT_WIDTH = 330
SETTINGS_KEY = "train_workspace/splitters"
TRAIN_TIP = "Start a new run of the network on the canvas."


class TrainingHost(Protocol):
    """What the workspace asks of the window that holds it."""

    def maybe_save(self) -> bool: ...

    def show_run_network(self, spec: NetworkSpec, path: Path | None) -> bool: ...

    def show_status(self, text: str) -> None: ...


def duration(seconds: float) -> str:
    """Seconds as h:mm:ss or m:ss."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _boxed(title: str, widget: QtWidgets.QWidget) -> QtWidgets.QGroupBox:
    box = QtWidgets.QGroupBox(title)
    layout = QtWidgets.QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(widget)
    return box


def _changed_settings(old: TrainConfig, new: TrainConfig) -> dict[str, Any]:
    return {f.name: getattr(new, f.name) for f in fields(TrainConfig)
            if getattr(new, f.name) != getattr(old, f.name)}


class TrainWorkspace(QtWidgets.QWidget):
    """Train, watch, continue and keep runs; shows one run at a time."""

    def __init__(self, document, host: TrainingHost, parent=None):
        super().__init__(parent)
        self.document = document
        self.host = host
        self.shown: RunShown | None = None     # the run every view shows
        self.training = False                  # a train task is in flight
        self.opening = False                   # an open task is in flight
        self.requests = Requests()
        self.pause_switch = PauseSwitch()
        self.control = TrainControl()
        self.worker = Worker(self)
        self.session = Session(self.requests, self.pause_switch)  # used on the worker only
        self.memory = memory_settings(document)
        self.timings = timing_store(document)  # the inspector's time per layer
        self.picker = DataPicker()
        self.settings = TrainSettings(self.memory)
        self.readiness = ReadinessView(document, self.memory, self.picker,
                                       lambda: self.settings.config().device)
        self.losses = LossPlot(self)
        self.accuracy_plot = AccuracyPlot()
        self.network_view = NetworkView()
        self.confusion_view = ConfusionView()
        self.classify_view = ClassifyView()
        self.saliency_view = SaliencyView()
        self.misclassified_view = MisclassifiedView()
        self.runs_view = RunsView()
        self.compare_view = CompareView()
        self.health_view = HealthView()
        self.lr_finder = LrFinderView()
        self._continue_after_open = False
        self._lr_sweep: TaskState | None = None  # the sweep of the canvas network under way
        self._build()
        self._connect()
        self.picker.set_volume(document.spec.input_volume)
        self._show_runs_folder()
        self._show_header()
        self._update_buttons()

    # --- building -------------------------------------------------------------------------
    def _build(self) -> None:
        self.run_label = QtWidgets.QLabel()
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = {name: QtWidgets.QPushButton(name)
                        for name in ("Train", "Continue", "Pause", "Stop")}
        self.buttons["Continue"].setToolTip("Train the run shown further, from where it is, "
                                            "with the settings below (e.g. more epochs).")
        self.buttons["Train"].setDefault(True)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("")
        self.status = QtWidgets.QLabel("Press Train to train the network on the data set.")
        self.status.setWordWrap(True)
        grid = QtWidgets.QGridLayout()
        for i, button in enumerate(self.buttons.values()):
            grid.addWidget(button, 0, i)
        form = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(form)
        column.setContentsMargins(0, 0, 4, 0)
        column.addWidget(_boxed("Data set", self.picker))
        column.addWidget(_boxed("Before training", self.readiness))
        column.addWidget(_boxed("Settings", self.settings))
        self.settings.add_beside("lr", self.lr_finder.button)
        column.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        side = QtWidgets.QWidget()
        side.setMinimumWidth(LEFT_WIDTH - 40)
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        side_layout.addWidget(self.run_label)
        side_layout.addLayout(grid)
        side_layout.addWidget(self.progress)
        side_layout.addWidget(self.status)
        side_layout.addWidget(scroll, 1)

        self.banner = QtWidgets.QLabel()
        self.banner.setWordWrap(True)
        self.banner_button = QtWidgets.QPushButton("Show the run's network")
        self.banner_button.clicked.connect(self.show_run_network)
        banner_box = QtWidgets.QFrame()
        banner_box.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        banner_box.setStyleSheet("QFrame { background: palette(alternate-base); }")
        banner_layout = QtWidgets.QHBoxLayout(banner_box)
        banner_layout.setContentsMargins(8, 4, 8, 4)
        banner_layout.addWidget(self.banner, 1)
        banner_layout.addWidget(self.banner_button)
        self.banner_box = banner_box
        banner_box.hide()

        side_curves = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        side_curves.addWidget(self.accuracy_plot)
        side_curves.addWidget(self.losses.lr_plot)
        side_curves.setStretchFactor(0, 3)
        side_curves.setStretchFactor(1, 2)
        loss = QtWidgets.QWidget()
        loss_layout = QtWidgets.QVBoxLayout(loss)
        loss_layout.setContentsMargins(0, 0, 0, 0)
        loss_layout.setSpacing(0)
        loss_layout.addWidget(self.losses.loss_plot, 1)
        loss_layout.addWidget(self.losses.log_scale)
        self.curves = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.curves.addWidget(loss)
        self.curves.addWidget(side_curves)
        self.curves.setStretchFactor(0, 3)
        self.curves.setStretchFactor(1, 2)
        self.pictures = QtWidgets.QTabWidget()
        self.pictures.addTab(self.network_view, "Whole network")
        self.pictures.addTab(self.confusion_view, "Confusion matrix")
        self.classify_tab = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.classify_tab.addWidget(self.classify_view)
        self.classify_tab.addWidget(self.saliency_view)
        self.pictures.addTab(self.classify_tab, "Classify && saliency")
        self.pictures.addTab(self.misclassified_view, "Misclassified")
        self.pictures.addTab(self.runs_view, "Runs")
        self.pictures.addTab(self.compare_view, "Compare runs")
        self.pictures.addTab(self.health_view, "Health")
        self.pictures.addTab(self.lr_finder, "Learning rate")
        # the same steps as the loss plot, by value: pyqtgraph's x link lines plots of
        # different widths up on the screen, which showed the Health plot other steps
        follow = self.health_view.plot.setXRange
        self.losses.loss_plot.getViewBox().sigXRangeChanged.connect(
            lambda _, steps: follow(*steps, padding=0))
        follow(*self.losses.loss_plot.viewRange()[0], padding=0)
        self.views = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.views.addWidget(self.curves)
        self.views.addWidget(self.pictures)
        self.views.setStretchFactor(0, 4)
        self.views.setStretchFactor(1, 5)
        # the first start: the pictures get the larger share (the plots' size hints gave
        # the curves 376 of 668 px at 1366×768, leaving the activation maps 145 px)
        self.views.setSizes([400, 500])
        right = QtWidgets.QWidget()
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(banner_box)
        right_layout.addWidget(self.views, 1)

        self.outer = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.outer.addWidget(side)
        self.outer.addWidget(right)
        self.outer.setStretchFactor(1, 1)
        self.outer.setSizes([LEFT_WIDTH, 1000])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.outer)
        self.open_action = QtGui.QAction("Open Run…", self)
        self.save_action = QtGui.QAction("Save Run As…", self)
        self._restore_splitters()

    def _connect(self) -> None:
        self.buttons["Train"].clicked.connect(self.train)
        self.readiness.changed.connect(self._update_buttons)
        self.buttons["Continue"].clicked.connect(self.continue_run)
        self.buttons["Pause"].clicked.connect(self.toggle_pause)
        self.buttons["Stop"].clicked.connect(self.stop)
        self.open_action.triggered.connect(self.open_run_dialog)
        self.save_action.triggered.connect(self.save_run_dialog)
        self.network_view.wanted.connect(lambda request: self._watch(NetworkRequest, request))
        self.confusion_view.requested.connect(lambda: self._ask(ConfusionRequest()))
        self.classify_view.classify.connect(lambda image: self._ask(PredictionRequest(image)))
        self.classify_view.error.connect(self._show_failure)
        self.classify_view.classify.connect(self.saliency_view.set_image)
        self.saliency_view.wanted.connect(lambda request: self._watch(SaliencyRequest, request))
        self.saliency_view.file_dropped.connect(self.classify_view.submit_file)
        self.network_view.fields.wanted.connect(
            lambda request: self._watch(UnitFieldRequest, request))
        self.misclassified_view.requested.connect(lambda: self._ask(MisclassifiedRequest()))
        self.misclassified_view.chosen.connect(self.show_in_classify)
        self.worker.reported.connect(self._on_result)
        self.worker.finished.connect(self._on_result)
        # A request made while another task was on its way still needs its own answer.
        self.worker.finished.connect(lambda _: self.requests.pending and self._serve_if_idle())
        self.worker.failed.connect(self._on_failed)
        self.document.spec_changed.connect(self._network_changed)
        self.document.replaced.connect(self._network_replaced)
        self.document.path_changed.connect(self._show_runs_folder)
        self.runs_view.open_requested.connect(self.open_run)
        self.runs_view.continue_requested.connect(self._continue_from_list)
        self.runs_view.compare_requested.connect(self.compare)
        self.runs_view.renamed.connect(self._on_renamed)
        self.runs_view.deleted.connect(self._on_deleted)
        self.runs_view.message.connect(self.host.show_status)
        self.health_view.problem_changed.connect(lambda text: text and self.host.show_status(text))
        self.lr_finder.find.connect(self.find_lr)
        self.lr_finder.use_rate.connect(self.settings.widgets["lr"].setValue)
        self.document.selection_changed.connect(self._follow_selection)
        # Typed dispatch: what the session reports, and who shows it.
        self._handlers: dict[type, Callable[[Any], None]] = {
            RunShown: self._on_run_shown, DataLoaded: self._on_data_loaded,
            Status: lambda s: self._say(s.text), StepBatch: self._on_steps,
            EpochDone: self._on_epoch, NetworkPicture: self.network_view.show_activations,
            FilterPictures: lambda f: self.network_view.show_filters(f.pictures, f.key),
            Confusion: self.confusion_view.show_confusion,
            Prediction: self.classify_view.show_prediction,
            UnitFieldAnswer: self.network_view.fields.show_field,
            SaliencyAnswer: self.saliency_view.show_saliency,
            MisclassifiedImages: self.misclassified_view.show_mistakes,
            Saved: lambda s: self._say(f"Saved the run as {s.path}."),
            RequestFailed: lambda r: self._show_failure(r.sentence),
            TrainingEnded: self._on_training_ended,
            LrSweepFound: self._on_lr_sweep,
        }

    # --- actions --------------------------------------------------------------------------
    def train(self) -> bool:
        """Start a new run of the canvas network; False while a run trains or opens."""
        if self.training or self.opening:
            return False
        doc = self.document
        network_file = doc.path if doc.path is not None and not doc.dirty else None
        self._begin_training()
        self.worker.submit(self.session.start, doc.spec, self.settings.config(),
                           self.picker.source, self.picker.data_for(doc.spec.input_volume),
                           network_file, self.control)
        self._say("Starting…")
        return True

    def find_lr(self) -> None:
        """Sweep the learning rate on a copy of the run Train would start."""
        spec = self.document.spec
        self.lr_finder.set_finding(True)
        self.pictures.setCurrentWidget(self.lr_finder)
        self._lr_sweep = self.worker.submit(self.session.find_lr, spec, self.settings.config(),
                                            self.picker.source,
                                            self.picker.data_for(spec.input_volume))

    def continue_run(self) -> bool:
        """Train the run shown further, with the settings that differ from its own."""
        if self.training or self.opening or self.shown is None:
            return False
        changes = _changed_settings(self.shown.config, self.settings.config())
        self._begin_training()
        self.runs_view.set_busy_path(self.shown.path)
        self.worker.submit(self.session.train, self.control, changes)
        self._say(f"Continuing {self.shown.name}…")
        return True

    def toggle_pause(self) -> None:
        if self.pause_switch.paused:
            self.pause_switch.resume()
            self._say("Training…")
        elif self.training:
            self.pause_switch.pause()
            self._say("Paused; the views can still be explored.")
        self._update_buttons()

    def stop(self) -> None:
        self.control.stop()
        self.pause_switch.resume()
        self._say("Stopping…")

    def open_run_dialog(self) -> None:
        path = dialogs.ask_run_file(self, self._runs_folder())
        if path:
            self.open_run(Path(path))

    def open_run(self, path: Path) -> bool:
        """Show the run saved at `path`; False while a run trains."""
        if self.training:
            return False
        self.worker.forget()
        self.opening = True
        self.worker.submit(self.session.open, Path(path))
        self._update_buttons()
        return True

    def save_run_dialog(self) -> None:
        if self.shown is None:
            return
        suggested = str(Path(self._runs_folder()) / f"{self.shown.name}{EXTENSION}")
        path = dialogs.ask_run_save_path(self, suggested)
        if path:
            self._ask(SaveRequest(Path(path)))

    def show_run_network(self) -> None:
        """Put the shown run's network on the canvas (the window asks about unsaved work)."""
        if self.shown is not None:
            self.host.show_run_network(self.shown.spec, self.shown.network_file)

    def compare(self, runs: list) -> None:
        """Overlay the curves of the chosen runs."""
        self.compare_view.set_runs(runs)
        self.pictures.setCurrentWidget(self.compare_view)

    def show_in_classify(self, index: int) -> None:
        """Classify validation image `index` and explain it (the misclassified list's click)."""
        self.classify_view.sample.setValue(index + 1)
        self.classify_view.submit_sample()
        self.pictures.setCurrentWidget(self.classify_tab)

    def _continue_from_list(self, path: Path) -> None:
        if self.shown is not None and self.shown.path == Path(path):
            self.continue_run()
        elif self.open_run(path):
            self._continue_after_open = True

    def _on_renamed(self, summary) -> None:
        if self.shown is not None and self.shown.path == summary.path:
            self.worker.submit(self.session.rename, self.shown.key, summary.name)
            self.shown = replace(self.shown, name=summary.name)
            self._show_header()

    def _on_deleted(self, path: Path) -> None:
        if self.shown is not None and self.shown.path == Path(path):
            self.worker.submit(self.session.forget_file, self.shown.key)
            self.shown = replace(self.shown, path=None)
            self.runs_view.set_current(None)
            self._show_header()
            self._update_buttons()

    def _show_runs_folder(self) -> None:
        self.runs_view.set_folder(runs_folder(self.document.path))

    def may_close(self) -> bool:
        """Ask before closing while a run trains; True when the window may close."""
        return not self.training or dialogs.ask_stop_training(
            self, self.shown.path if self.shown else None)

    def shutdown(self) -> None:
        """Stop training and wait for the trainer to save the run where it stopped, however
        long the step under way takes (a large network's on the CPU: tens of seconds);
        cut off, the run would lose everything since it was last saved."""
        self.control.stop()
        self.pause_switch.resume()
        if self._lr_sweep is not None:
            self._lr_sweep.cancel()   # nothing of a sweep is kept: no need to wait for it
        self.worker.wait(None)
        self.worker.shutdown()
        self.picker.worker.shutdown()
        self.readiness.probe.shutdown()
        self.runs_view.shutdown()
        self.compare_view.shutdown()
        self.timings.shutdown()
        self._save_splitters()

    # --- results --------------------------------------------------------------------------
    def _on_result(self, result: Any) -> None:
        if result is None:
            return
        key = getattr(result, "key", None)
        # a run shown, or training's end (which may have made none), is always news
        if key is not None and not isinstance(result, (RunShown, TrainingEnded)) and (
                self.shown is None or key != self.shown.key):
            return   # it belongs to a run no longer shown
        self._handlers[type(result)](result)

    def _on_run_shown(self, shown: RunShown) -> None:
        self.opening = False
        new = self.shown is None or shown.key != self.shown.key
        self.shown = shown
        self.accuracy_plot.plan(shown.config.epochs)
        if new:
            h = shown.history
            self.losses.set_history(h["step"], h["loss"], h["lr"])
            self.losses.fit_steps()
            self.accuracy_plot.set_history(h["epoch"], h["train_acc"], h["val_acc"])
            self.confusion_view.reset()
            self.health_view.reset()
            samples = len(shown.data.val_x) if shown.data is not None else 0
            self.network_view.set_run(shown.spec, samples, shown.key)
            self.classify_view.set_samples(shown.spec.input_volume,
                                           *((shown.data.val_x, shown.data.val_y)
                                             if shown.data is not None else (None, None)))
            self.confusion_view.set_available(shown.data is not None)
            self.saliency_view.set_run(shown.spec, shown.class_names, shown.key)
            self.misclassified_view.set_run(
                shown.data.val_x if shown.data is not None else None, shown.key)
            if not self.training:  # opened: its network goes on the canvas if the user agrees
                self.show_run_network()
        self.settings.set_config(shown.config)
        self._show_header()
        self._network_changed()
        self.runs_view.set_current(shown.path)
        if self.training:  # its file is rewritten as it trains
            self.runs_view.set_busy_path(shown.path)
        elif shown.path is not None:
            self.runs_view.run_changed(shown.path)
        self._update_buttons()
        self._serve_if_idle()
        if self._continue_after_open:
            self._continue_after_open = False
            self.continue_run()

    def _on_data_loaded(self, loaded: DataLoaded) -> None:
        self.picker.select(loaded.source, loaded.data)

    def _on_steps(self, batch: StepBatch) -> None:
        self.losses.add_steps(batch.events)
        self.health_view.add_steps(batch.events)
        e = batch.events[-1]
        epochs = self.shown.config.epochs
        total = max(1, epochs * e.batches)
        self.progress.setRange(0, total)
        self.progress.setValue(min((e.epoch - 1) * e.batches + e.batch, total))
        self.progress.setFormat(f"epoch {e.epoch} of {epochs} · ETA {duration(e.eta_s)}")
        if not self.pause_switch.paused:
            self.status.setText(f"Training: step {e.batch:,} of {e.batches:,} in epoch "
                                f"{e.epoch}, {e.images_per_s:,.0f} images/s. "
                                f"{self.health_view.problem}".rstrip())

    def _on_epoch(self, done: EpochDone) -> None:
        self.accuracy_plot.add_epoch(done.event)
        if done.event.health is not None:
            self.health_view.show_report(done.event.health)
        history = self.shown.history
        history["val_acc"].append(done.event.val_acc)
        history["epoch"].append(done.event.epoch)
        self._show_header()
        if self.shown.path is not None:  # saved before the epoch was announced
            self.runs_view.run_changed(self.shown.path)

    def _on_training_ended(self, ended: TrainingEnded) -> None:
        self._end_training()
        if ended.outcome == NOT_STARTED:
            self._say("Stopped before training started; no run was made.")
            return
        self.losses.fit_steps()
        steps = len(self.losses.steps)
        where = f" The run is kept in {self.shown.path}." if self.shown.path else ""
        if ended.outcome == "completed":
            text = (f"Finished after {steps} iterations; validation accuracy "
                    f"{self._last_val_accuracy()}.{where}")
        else:
            text = f"Stopped after {steps} iterations.{where}"
        self._say(f"{text} {self.health_view.problem}".rstrip())
        self.classify_view.submit_sample()
        self.misclassified_view.outdated()
        s = self.shown
        self.timings.measure(s.spec, s.config.batch_size, s.config.device, s.network_file)

    def _on_lr_sweep(self, found: LrSweepFound) -> None:
        if self._lr_sweep is None:
            return  # a sweep of a network no longer on the canvas
        self.lr_finder.show_sweep(found.sweep, found.done)
        if found.done:
            self._lr_sweep = None
            self._say(self.lr_finder.summary.text())

    def _network_replaced(self) -> None:
        """Another network is on the canvas: a learning rate found for the one before is
        not its own, so the sweep is stopped or taken away."""
        if self._lr_sweep is not None:
            self._lr_sweep.cancel()
            self._lr_sweep = None
        self.lr_finder.clear()
        self._update_buttons()

    def _on_failed(self, sentence: str) -> None:
        self.opening = False
        self.lr_finder.fail(sentence)
        self._continue_after_open = False
        if self.training:
            self._end_training()
        self._show_failure(sentence)

    def _show_failure(self, sentence: str) -> None:
        self._say(sentence)
        dialogs.show_error(self, "Training", sentence)

    # --- helpers --------------------------------------------------------------------------
    def _begin_training(self) -> None:
        self.timings.cancel()  # times measured while training would be the two together
        self.control = TrainControl()
        self.pause_switch.resume()
        self.training = True
        self.readiness.set_enabled(False)
        self.progress.setRange(0, 0)
        self._update_buttons()

    def _end_training(self) -> None:
        self.training = False
        self.runs_view.set_busy_path(None)
        if self.shown is not None and self.shown.path is not None:
            self.runs_view.run_changed(self.shown.path)
        self.pause_switch.resume()
        self.readiness.set_enabled(True)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._update_buttons()

    def _watch(self, kind: type, request: Any | None) -> None:
        self.requests.watch(kind, request)
        self._serve_if_idle()

    def _ask(self, request: Any) -> None:
        self.requests.ask(request)
        self._serve_if_idle()

    def _serve_if_idle(self) -> None:
        self.pause_switch.poke()
        if not self.worker.busy and self.shown is not None:
            self.worker.submit(self.session.serve)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.host.show_status(text)

    def _last_val_accuracy(self) -> str:
        values = self.accuracy_plot.val_acc
        return f"{values.last:.1f} %" if len(values) else "not measured yet"

    def _show_header(self) -> None:
        s = self.shown
        if s is None:
            self.run_label.setText("<b>No run yet.</b> Train the network on the canvas, or open "
                                   "a run (File ▸ Open Run…).")
            return
        accuracies = [v for v in s.history["val_acc"] if v == v]
        best = f" · best validation {100 * max(accuracies):.1f} %" if accuracies else ""
        data = s.data.name if s.data is not None else "its data set (not found)"
        self.run_label.setText(f"<b>Run {s.name}</b><br>network {s.spec.name} · {data} · "
                               f"{len(s.history['epoch'])} of {s.config.epochs} epochs{best}")

    def _network_changed(self) -> None:
        """Say plainly when the canvas no longer shows the network of the run shown."""
        self.picker.set_volume(self.document.spec.input_volume)
        s = self.shown
        differs = s is not None and self.document.spec.layers != s.spec.layers
        if differs:
            self.banner.setText(f"These results belong to the run <b>{s.name}</b> of the network "
                                f"<b>{s.spec.name}</b> ({len(s.spec.layers)} layers), not to the "
                                "network on the canvas. Train starts a new run of the canvas "
                                "network; Continue trains the run's own network.")
        self.banner_box.setVisible(differs)

    def _follow_selection(self) -> None:
        ids = self.document.selected_ids
        if len(ids) == 1:
            self.network_view.highlight(ids[0])

    def _update_buttons(self) -> None:
        busy, training = self.training or self.opening, self.training
        blocking = self.readiness.blocking
        self.buttons["Train"].setEnabled(not busy and blocking is None)
        self.buttons["Train"].setToolTip(blocking or TRAIN_TIP)
        self.buttons["Continue"].setEnabled(not busy and self.shown is not None
                                            and self.shown.data is not None
                                            and self.shown.path is not None)
        self.buttons["Pause"].setEnabled(training)
        self.buttons["Pause"].setText("Resume" if self.pause_switch.paused else "Pause")
        self.buttons["Stop"].setEnabled(training)
        self.open_action.setEnabled(not training)
        self.save_action.setEnabled(self.shown is not None)
        self.settings.setEnabled(not training)
        self.lr_finder.button.setEnabled(not training and not self.lr_finder.finding)
        self.picker.setEnabled(not training)

    def _runs_folder(self) -> str:
        return str(runs_folder(self.document.path))

    def _restore_splitters(self) -> None:
        state = QtCore.QSettings().value(SETTINGS_KEY)
        if (isinstance(state, list) and len(state) == 3
                and all(isinstance(saved, QtCore.QByteArray) for saved in state)):
            for splitter, saved in zip((self.outer, self.views, self.curves), state):
                splitter.restoreState(saved)

    def _save_splitters(self) -> None:
        QtCore.QSettings().setValue(SETTINGS_KEY, [s.saveState() for s in
                                                   (self.outer, self.views, self.curves)])
