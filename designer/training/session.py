"""The training workspace's work, as Qt-free tasks for its one worker thread: open a run,
start one, train it, and answer what the views ask of it.

A `Session` lives on that thread and holds the run shown (its `Run`, data and trainer); no
other thread touches it. Tasks report typed results (`RunShown`, `StepBatch`, pictures…),
each carrying the key of the run it belongs to, so nothing reaches a view that belongs to
another run. The GUI thread only writes `Requests` and `PauseSwitch`, which are thread-safe.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from designer.training import insight
from designer.training.insight import MisclassifiedRequest, SaliencyRequest, UnitFieldRequest
from designer.training.network_pictures import (
    LayerPicture, NetworkPicture, NetworkRequest, filter_pictures, network_picture,
)
from engine.checkpoint import load_run, save_run
from engine.config import TrainConfig
from engine.data import DataError, DataSet, load_data
from engine.run import Run, check_trainable
from engine.run_lock import refuse_if_training_elsewhere
from engine.runs import keep_new_run, runs_folder
from engine.spec import NetworkSpec
from engine.errors import ConvNetError
from engine.insight.lr_finder import LrSweep, sweep
from engine.task import Cancelled, TaskState, failure_sentence
from engine.trainer import EpochEvent, StepEvent, TrainControl, Trainer

NOT_STARTED = "not started"
STEP_INTERVAL = 0.2    # s: at most 5 metric updates a second reach the GUI
LIVE_INTERVAL = 0.4    # s: how often the pictures a view watches are recomputed


# --- what the views ask for -----------------------------------------------------------------
@dataclass(frozen=True)
class ConfusionRequest:
    pass


@dataclass(frozen=True)
class PredictionRequest:
    image: np.ndarray = field(compare=False)


@dataclass(frozen=True)
class SaveRequest:
    path: Path


class Requests:
    """What the views asked for; written on the GUI thread, taken on the worker thread.

    A watched request (a picture a visible view shows) is recomputed as training goes; every
    request, watched or not, is also answered once at the next chance. One request of each
    type is kept: a newer one replaces an older one not yet answered."""

    def __init__(self):
        self._lock = threading.Lock()
        self._watched: dict[type, Any] = {}
        self._once: dict[type, Any] = {}

    def watch(self, kind: type, request: Any | None) -> None:
        with self._lock:
            if request is None:
                self._watched.pop(kind, None)
                return
            self._watched[kind] = self._once[kind] = request

    def ask(self, request: Any) -> None:
        with self._lock:
            self._once[type(request)] = request

    @property
    def pending(self) -> bool:
        """Whether a request waits for its first answer."""
        with self._lock:
            return bool(self._once)

    def take(self, watched: bool) -> list[Any]:
        with self._lock:
            todo = dict(self._watched) if watched else {}
            todo.update(self._once)
            self._once.clear()
            return list(todo.values())

    def drop(self, kind: type) -> None:
        with self._lock:
            self._watched.pop(kind, None)
            self._once.pop(kind, None)


class PauseSwitch:
    """Pausing happens between the trainer's events, not inside it, so that the views'
    requests are still answered while a run is paused."""

    def __init__(self):
        self._paused = threading.Event()
        self._wake = threading.Event()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self._wake.set()

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def poke(self) -> None:
        self._wake.set()


# --- what the worker reports -----------------------------------------------------------------
@dataclass(frozen=True)
class RunShown:
    """A run is now the one the workspace shows (opened, or just started)."""

    key: str
    path: Path | None  # where it is kept
    name: str
    created: str
    spec: NetworkSpec
    config: TrainConfig
    class_names: list[str]
    history: dict[str, list]
    epoch: int
    step: int
    data: DataSet | None  # None when the run's data set cannot be loaded any more
    data_source: str | None
    network_file: Path | None  # the network file the run was started from, if any


@dataclass(frozen=True)
class DataLoaded:
    source: str | None
    data: DataSet


@dataclass(frozen=True)
class Status:
    text: str


@dataclass(frozen=True)
class StepBatch:
    key: str
    events: list[StepEvent]


@dataclass(frozen=True)
class EpochDone:
    key: str
    event: EpochEvent


@dataclass(frozen=True)
class FilterPictures:
    key: str
    pictures: tuple[LayerPicture, ...]  # one per convolution layer


@dataclass(frozen=True)
class Confusion:
    key: str
    matrix: np.ndarray     # (C, C), rows = true class
    class_names: list[str]


@dataclass(frozen=True)
class Prediction:
    key: str
    image: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]


@dataclass(frozen=True)
class Saved:
    key: str
    path: Path


@dataclass(frozen=True)
class LrSweepFound:
    """A learning-rate sweep so far (`done`: finished); it belongs to no run."""

    sweep: LrSweep
    done: bool


@dataclass(frozen=True)
class RequestFailed:
    """A view's request could not be answered; training goes on."""

    sentence: str


@dataclass(frozen=True)
class TrainingEnded:
    """What a training task returns: "completed", "stopped", or NOT_STARTED when Stop came
    while the data was read or the normaliser fitted (failures arrive as the worker's
    `failed` sentence). `key` is the run shown, which a run not started leaves as it was."""

    key: str
    outcome: str
    epoch: int
    step: int


# --- the session on the worker thread --------------------------------------------------------
class Session:
    """The run shown, its data and its trainer; touched only by tasks on the worker thread."""

    def __init__(self, requests: Requests, pause: PauseSwitch):
        self.requests = requests
        self.pause = pause
        self.control = TrainControl()
        self.run: Run | None = None
        self.data: DataSet | None = None
        self.keep_at: Path | None = None
        self.key = ""
        self._answers: dict[type, Callable[[Any], Any]] = {
            NetworkRequest: self._network, ConfusionRequest: self._confusion,
            PredictionRequest: self._prediction, SaveRequest: self._save,
            UnitFieldRequest: self._unit_field, SaliencyRequest: self._saliency,
            MisclassifiedRequest: self._misclassified,
        }

    # --- tasks -----------------------------------------------------------------------------
    def open(self, state: TaskState, path: Path) -> RunShown:
        """Show the run saved at `path`, with the data it was trained on."""
        state.report(Status(f"Opening {path.name}…"))
        run = load_run(path)
        state.check()
        try:
            data = load_data(run.data_source, run.spec.input_volume)
            state.report(DataLoaded(run.data_source, data))
        except DataError as e:
            data = None
            state.report(Status(f"{e} Its curves and filters are shown; activation maps, the "
                                "confusion matrix and continuing need its data."))
        return self._show(state, run, data, path)

    def start(self, state: TaskState, spec: NetworkSpec, config: TrainConfig,
              source: str | None, data: DataSet | None, network_file: Path | None,
              control: TrainControl) -> TrainingEnded:
        """Start a new run of `spec` and train it; the run shown until then stays shown if
        the new one cannot start. The run is on disk from its start, so it is listed even
        if the window is killed during its first epoch."""
        def stopped() -> None:
            if control.stopped:
                raise Cancelled

        try:
            data = self._data(state, spec, config, source, data)
            run = Run.start(spec, data, config, source,
                            network_file=str(network_file) if network_file else None,
                            check=stopped)
        except Cancelled:
            if not control.stopped:
                raise  # the task itself was cancelled
            return TrainingEnded(self.key, NOT_STARTED, 0, 0)
        self._show(state, run, data, keep_new_run(run, runs_folder(network_file)))
        return self.train(state, control)

    def find_lr(self, state: TaskState, spec: NetworkSpec, config: TrainConfig,
                source: str | None, data: DataSet | None) -> LrSweepFound:
        """Sweep the learning rate on the run Train would start now (a copy of it: nothing is
        kept); the sweep so far is reported at most 20 times a second."""
        data = self._data(state, spec, config, source, data)
        trial = Run.start(spec, data, config, source)
        last = 0.0

        def progress(found: LrSweep) -> None:
            nonlocal last
            state.check()
            if time.monotonic() - last >= STEP_INTERVAL:
                last = time.monotonic()
                state.report(LrSweepFound(found, done=False))

        return LrSweepFound(sweep(trial, data, progress=progress), done=True)

    def train(self, state: TaskState, control: TrainControl,
              changes: dict[str, Any] | None = None) -> TrainingEnded:
        """Train the run shown from where it is (with `changes` to its settings) to its last
        epoch; it is saved at every epoch's end and when training stops."""
        run = self.run
        if self.data is None:
            raise ConvNetError(f"The data set of '{run.name}' cannot be loaded, so it cannot "
                               "be trained further; start a new run on another data set.")
        if changes:
            run.continued(**changes)
            self._report_shown(state)
        self.control = control
        trainer = Trainer(run, self.data, control, keep_at=self.keep_at)
        state.report(Status("Training…"))
        pending: list[StepEvent] = []
        last_steps = last_live = 0.0
        try:
            for event in trainer.train():
                now = time.monotonic()
                if isinstance(event, StepEvent):
                    pending.append(event)
                if pending and (isinstance(event, EpochEvent) or self.pause.paused
                                or now - last_steps >= STEP_INTERVAL):
                    state.report(StepBatch(self.key, pending))
                    pending, last_steps = [], now
                if isinstance(event, EpochEvent):
                    state.report(EpochDone(self.key, event))
                live = now - last_live >= LIVE_INTERVAL
                if live:
                    last_live = now
                self.serve(state, watched=live)
                while self.pause.paused and not control.stopped:
                    self.pause.wait(LIVE_INTERVAL)
                    self.serve(state, watched=False)
        finally:  # also when training fails: every step it reported reaches the plots
            if pending:
                state.report(StepBatch(self.key, pending))
        self.requests.ask(ConfusionRequest())
        self.serve(state, watched=True)
        return TrainingEnded(self.key, "stopped" if control.stopped else "completed",
                             run.epoch, run.step)

    def serve(self, state: TaskState, watched: bool = True) -> None:
        """Answer what the views asked for; a request that fails is dropped and reported."""
        if self.run is None:
            return
        for request in self.requests.take(watched):
            try:
                state.report(self._answers[type(request)](request))
            except Exception as error:
                self.requests.drop(type(request))
                state.report(RequestFailed(failure_sentence(error)))

    def rename(self, state: TaskState, key: str, name: str) -> None:
        """The file of the run shown was renamed: later saves keep the new name."""
        if key == self.key and self.run is not None:
            self.run.name = name

    def forget_file(self, state: TaskState, key: str) -> None:
        """The file of the run shown was deleted: nothing saves it back."""
        if key == self.key:
            self.keep_at = None

    # --- answers ---------------------------------------------------------------------------
    def _data(self, state: TaskState, spec: NetworkSpec, config: TrainConfig,
              source: str | None, data: DataSet | None) -> DataSet:
        """The data set a new run of `spec` trains on: `data` if loaded, else loaded now."""
        check_trainable(spec, config)  # before a data set is loaded for nothing
        if data is None:
            state.report(Status("Loading the data set…"))
            data = load_data(source, spec.input_volume)
            state.report(DataLoaded(source, data))
        state.check()
        return data

    def _show(self, state: TaskState, run: Run, data: DataSet, keep_at: Path) -> RunShown:
        self.run, self.data, self.keep_at = run, data, keep_at
        self.key = uuid.uuid4().hex
        return self._report_shown(state)

    def _report_shown(self, state: TaskState) -> RunShown:
        run = self.run
        shown = RunShown(self.key, self.keep_at, run.name, run.created, run.spec, run.config,
                         list(run.class_names), {k: list(v) for k, v in run.history.items()},
                         run.epoch, run.step, self.data, run.data_source,
                         Path(run.network_file) if run.network_file else None)
        state.report(shown)
        return shown

    def _validation(self) -> DataSet:
        if self.data is None:
            raise ConvNetError(f"The data set of '{self.run.name}' cannot be loaded, so there "
                               "are no validation images to show.")
        return self.data

    def _network(self, request: NetworkRequest) -> NetworkPicture | FilterPictures:
        if request.filters:
            return FilterPictures(self.key, tuple(filter_pictures(self.run)))
        data = self._validation()
        return network_picture(self.run, data.val_x[request.sample], request.sample,
                               run_key=self.key, label=int(data.val_y[request.sample]))

    def _confusion(self, request: ConfusionRequest) -> Confusion:
        data = self._validation()
        matrix = self.run.confusion_matrix(data.val_x, data.val_y)
        return Confusion(self.key, matrix, list(self.run.class_names))

    def _prediction(self, request: PredictionRequest) -> Prediction:
        probabilities = self.run.predict(request.image[None])[0]
        return Prediction(self.key, request.image, probabilities, list(self.run.class_names))

    def _save(self, request: SaveRequest) -> Saved:
        refuse_if_training_elsewhere(request.path, "saved over")
        save_run(self.run, request.path)
        return Saved(self.key, request.path)

    def _unit_field(self, request: UnitFieldRequest) -> insight.UnitFieldAnswer:
        return insight.unit_field(self.run, self._validation(), request, self.key)

    def _saliency(self, request: SaliencyRequest) -> insight.SaliencyAnswer:
        return insight.saliency(self.run, request, self.key)

    def _misclassified(self, request: MisclassifiedRequest) -> insight.MisclassifiedImages:
        return insight.mistakes(self.run, self._validation(), self.key)
