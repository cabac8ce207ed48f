"""Background training: `engine.trainer` runs on one pool thread and reports to the GUI.

The trainer is not thread-safe, so every call on it (building, training, activations,
weights, predictions, checkpoints) happens on a single pool thread that never expires.
The GUI thread only sets requests and receives NumPy arrays through queued signals:
step metrics are batched and sent at most every `STEP_INTERVAL`, and pictures for the
live views are computed only while a view asks for them, at most every `LIVE_INTERVAL`.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from designer.training.images import Mosaic, activation_mosaic, as_display, filter_mosaic
from engine.checkpoint import load_run, save_run
from engine.config import TrainConfig
from engine.data import DataSet, load_data
from engine.errors import ConvNetError
from engine.run import Run
from engine.spec import NetworkSpec
from engine.trainer import EpochEvent, StepEvent, TrainControl, Trainer

STEP_INTERVAL = 0.05   # s: at most 20 metric updates a second reach the GUI
LIVE_INTERVAL = 0.4    # s: how often live activation maps and filters are recomputed


@dataclass(frozen=True)
class Session:
    """A trainer now exists on the worker thread: what the views need to know about it."""

    spec: NetworkSpec
    config: TrainConfig
    history: dict[str, list]
    data: DataSet
    resumed: bool          # built from a checkpoint rather than for a new run


@dataclass(frozen=True)
class ActivationPicture:
    layer_id: str
    sample: int
    image: np.ndarray      # the input image, (H, W) grey or (H, W, 3)
    mosaic: Mosaic         # one tile per depth slice
    volume: tuple[int, int, int]   # W×H×D of the layer's output


@dataclass(frozen=True)
class FilterPicture:
    layer_id: str
    layer_name: str
    mosaic: Mosaic         # one tile per filter
    shape: tuple[int, ...]  # (F, F, D1, K)


@dataclass(frozen=True)
class Confusion:
    matrix: np.ndarray     # (C, C), rows = true class
    class_names: list[str]


@dataclass(frozen=True)
class Prediction:
    image: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]


def failure_sentence(error: BaseException) -> str:
    """The one sentence the user sees for a failure on the worker thread."""
    if isinstance(error, ConvNetError):
        return str(error)
    if isinstance(error, MemoryError):
        return ("Training ran out of memory; try a smaller batch size, a smaller network "
                "or a smaller data set.")
    traceback.print_exception(error)
    return f"Training stopped because of an internal error ({type(error).__name__}: {error})."


class _Requests:
    """What the views asked for; written on the GUI thread, taken on the worker thread.

    A watched request is recomputed as training goes; every request, watched or not, is
    also computed once at the next chance.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._watched: dict[str, tuple] = {}
        self._once: dict[str, tuple] = {}

    def watch(self, kind: str, args: tuple | None) -> None:
        with self._lock:
            if args is None:
                self._watched.pop(kind, None)
                return
            self._watched[kind] = args
            self._once[kind] = args

    def ask(self, kind: str, args: tuple = ()) -> None:
        with self._lock:
            self._once[kind] = args

    def take(self, watched: bool) -> dict[str, tuple]:
        with self._lock:
            todo = dict(self._watched) if watched else {}
            todo.update(self._once)
            self._once.clear()
            return todo

    def drop(self, kind: str) -> None:
        with self._lock:
            self._watched.pop(kind, None)
            self._once.pop(kind, None)


class TrainingWorker(QtCore.QObject):
    """Runs one trainer at a time off the GUI thread; its signals always arrive on the GUI thread.

    Results of an earlier session (a finished run, a replaced checkpoint) that are still
    in flight when a new one starts are dropped, so no stale picture reaches a view.
    """

    status = QtCore.Signal(str)
    data_ready = QtCore.Signal(object)        # (source, DataSet) just loaded
    session_ready = QtCore.Signal(object)     # Session
    steps = QtCore.Signal(object)             # list[StepEvent], at most every STEP_INTERVAL
    epoch = QtCore.Signal(object)             # EpochEvent
    activations = QtCore.Signal(object)       # ActivationPicture
    filters = QtCore.Signal(object)           # FilterPicture
    confusion = QtCore.Signal(object)         # Confusion
    prediction = QtCore.Signal(object)        # Prediction
    saved = QtCore.Signal(str)                # checkpoint path
    failed = QtCore.Signal(str)               # one plain sentence
    finished = QtCore.Signal(str)             # "completed", "stopped" or "failed"
    _posted = QtCore.Signal(int, str, object)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._pool = QtCore.QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)     # one thread for the trainer's whole life
        self._generation = 0
        self._busy = False
        self._closed = False
        self._control: TrainControl | None = None
        self._requests = _Requests()
        # Pausing happens here, between the trainer's events, rather than inside the trainer
        # (TrainControl.pause), so that requests from the views are still served while paused.
        self._pause = threading.Event()
        self._wake = threading.Event()
        # Touched only on the pool thread:
        self._trainer: Trainer | None = None
        self._posted.connect(self._deliver, QtCore.Qt.QueuedConnection)

    # --- GUI thread ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from `train`/`open_checkpoint` until `finished` arrives."""
        return self._busy

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def train(self, spec: NetworkSpec, config: TrainConfig, source: str | None,
              data: DataSet | None) -> bool:
        """Start a run on `data`, loaded from `source` first when None; False while busy.

        `source` is what `load_data` takes (None: the embedded digits)."""
        if self._busy or self._closed:
            return False
        control = self._begin()
        self._submit(self._train, spec, config, source, data, control)
        return True

    def open_checkpoint(self, path: str | Path) -> bool:
        """Load a checkpoint and the data it was trained on, to inspect it; False while busy."""
        if self._busy or self._closed:
            return False
        self._begin()
        self._submit(self._open, Path(path))
        return True

    def pause(self) -> None:
        if self._busy:
            self._pause.set()

    def resume(self) -> None:
        self._pause.clear()
        self._wake.set()

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()
        self.resume()

    def watch_activations(self, layer_id: str | None, sample: int = 0) -> None:
        """Keep the maps of `layer_id` for validation image `sample` fresh (None: stop)."""
        self._requests.watch("activations", None if layer_id is None else (layer_id, sample))
        self._serve_if_idle()

    def watch_filters(self, on: bool) -> None:
        self._requests.watch("filters", () if on else None)
        self._serve_if_idle()

    def request_confusion(self) -> None:
        self._requests.ask("confusion")
        self._serve_if_idle()

    def classify(self, image: np.ndarray) -> None:
        """Class probabilities for one uint8 (H, W, C) image, sized for the network."""
        self._requests.ask("prediction", (image,))
        self._serve_if_idle()

    def save_checkpoint(self, path: str | Path) -> None:
        self._requests.ask("saved", (str(path),))
        self._serve_if_idle()

    def wait(self, timeout_ms: int = 1000) -> bool:
        """Wait for the thread to go idle (after `stop`); False if it took longer."""
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Stop any run and wait for the thread to go idle; False if it took longer.

        Nothing new starts afterwards (views hidden by the closing window still ask)."""
        self._closed = True
        self.stop()
        self._generation += 1          # whatever is still in flight is stale now
        self._busy = False
        return self.wait(timeout_ms)

    def _begin(self) -> TrainControl:
        self._generation += 1
        self._busy = True
        self._pause.clear()
        self._control = TrainControl()
        return self._control

    def _submit(self, job, *args) -> None:
        generation = self._generation
        self._pool.start(lambda: job(generation, *args))

    def _serve_if_idle(self) -> None:
        self._wake.set()
        if not self._busy and not self._closed:
            self._submit(self._serve_idle)

    @QtCore.Slot(int, str, object)
    def _deliver(self, generation: int, kind: str, payload) -> None:
        if generation != self._generation:
            return
        if kind == "finished":
            self._busy = False
        getattr(self, kind).emit(payload)

    # --- pool thread ---------------------------------------------------------------------
    def _post(self, generation: int, kind: str, payload) -> None:
        self._posted.emit(generation, kind, payload)

    def _adopt(self, generation: int, trainer: Trainer, resumed: bool):
        self._trainer = trainer
        run = trainer.run
        self._post(generation, "session_ready", Session(
            run.spec, run.config, {k: list(v) for k, v in run.history.items()},
            trainer.data, resumed))

    def _train(self, generation: int, spec, config, source, data, control: TrainControl):
        outcome = "failed"
        try:
            if data is None:
                self._post(generation, "status", "Loading the data set…")
                data = load_data(source, spec.input_volume)
                self._post(generation, "data_ready", (source, data))
            if control.stopped:
                outcome = "stopped"
                return
            trainer = Trainer(Run.start(spec, data, config, source), data, control)
            self._adopt(generation, trainer, resumed=False)
            self._post(generation, "status", "Training…")
            outcome = self._run(generation, trainer, control)
        except Exception as error:  # every failure must reach the GUI, or it waits forever
            self._post(generation, "failed", failure_sentence(error))
        finally:
            self._post(generation, "finished", outcome)

    def _run(self, generation: int, trainer: Trainer, control: TrainControl) -> str:
        pending: list[StepEvent] = []
        last_steps = last_live = 0.0
        try:
            for event in trainer.train():
                now = time.monotonic()
                if isinstance(event, StepEvent):
                    pending.append(event)
                if pending and (isinstance(event, EpochEvent) or self._pause.is_set()
                                or now - last_steps >= STEP_INTERVAL):
                    self._post(generation, "steps", pending)
                    pending, last_steps = [], now
                if isinstance(event, EpochEvent):
                    self._post(generation, "epoch", event)
                live = now - last_live >= LIVE_INTERVAL
                if live:
                    last_live = now
                self._serve(generation, live)
                while self._pause.is_set() and not control.stopped:
                    self._wake.wait(LIVE_INTERVAL)
                    self._wake.clear()
                    self._serve(generation, watched=False)
        finally:   # also when the trainer fails: every step it reported reaches the plots
            if pending:
                self._post(generation, "steps", pending)
        self._requests.ask("confusion")
        self._serve(generation, watched=True)
        return "stopped" if control.stopped else "completed"

    def _open(self, generation: int, path: Path):
        try:
            run = load_run(path)
            data = load_data(run.data_source, run.spec.input_volume)
            trainer = Trainer(run, data)
            self._post(generation, "data_ready", (run.data_source, data))
            self._adopt(generation, trainer, resumed=True)
            self._requests.ask("confusion")
            self._serve(generation, watched=True)
        except Exception as error:
            self._post(generation, "failed", failure_sentence(error))
        finally:
            self._post(generation, "finished", "opened")

    def _serve_idle(self, generation: int) -> None:
        if self._trainer is not None:
            self._serve(generation, watched=True)

    def _serve(self, generation: int, watched: bool) -> None:
        """Compute what the views asked for; a failing request is dropped and reported."""
        for kind, args in self._requests.take(watched).items():
            try:
                self._post(generation, kind, getattr(self, f"_compute_{kind}")(*args))
            except Exception as error:
                self._requests.drop(kind)
                self._post(generation, "failed", failure_sentence(error))

    def _compute_activations(self, layer_id: str, sample: int) -> ActivationPicture:
        image = self._trainer.data.val_x[sample]
        maps = self._trainer.run.activations(layer_id, image[None])[0]
        h, w, d = maps.shape
        return ActivationPicture(layer_id, sample, as_display(image), activation_mosaic(maps),
                                 (w, h, d))

    def _compute_filters(self) -> FilterPicture | None:
        conv = next((l for l in self._trainer.run.spec.layers if l.type == "conv"), None)
        if conv is None:
            return None
        weights = self._trainer.run.weights(conv.id)["W"]
        return FilterPicture(conv.id, conv.name, filter_mosaic(weights), weights.shape)

    def _compute_confusion(self) -> Confusion:
        return Confusion(self._trainer.confusion_matrix("val"), list(self._trainer.run.class_names))

    def _compute_prediction(self, image: np.ndarray) -> Prediction:
        probabilities = self._trainer.run.predict(image[None])[0]
        return Prediction(image, probabilities, list(self._trainer.run.class_names))

    def _compute_saved(self, path: str) -> str:
        save_run(self._trainer.run, path)
        return path
