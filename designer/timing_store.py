"""Measured time per layer for the inspector: measured in the background (`Worker`), found
beside the network's runs after `main.py bench`, and matched to the network on the canvas.

Timings belong to the structure they were measured on. After an edit, the last timings
stay shown for the layers that are still there, greyed as stale; undoing back to a measured
structure shows them as current again. Another network opened shows none of them, not even
those of a run of the one before that ends after it was opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6 import QtCore

from designer.background import Worker
from engine.bench import LayerTiming
from engine.layer_timings import MeasuredTimings, load_timings, measure, structure_key
from engine.runs import runs_folder
from engine.spec import NetworkSpec
from engine.task import TaskState


def _timed_ids(spec: NetworkSpec) -> tuple[str, ...]:
    """The ids of the layers `engine.bench` times: all but the input and the loss."""
    return tuple(layer.id for layer in spec.layers[1:-1])


@dataclass(frozen=True)
class _Timed:
    """What a task returns: timings (None: none saved) and the ids of the layers timed."""

    layer_ids: tuple[str, ...]
    timings: MeasuredTimings | None
    problem: str | None = None


def _measure(state: TaskState, spec: NetworkSpec, batch_size: int, device: str,
             folder: Path) -> _Timed:
    measured = measure(state, spec, batch_size, device, folder)
    return _Timed(_timed_ids(spec), measured.timings, measured.problem)


def _look_up(state: TaskState, spec: NetworkSpec, folder: Path) -> _Timed:
    return _Timed(_timed_ids(spec), load_timings(spec, folder))


@dataclass(frozen=True)
class ShownTimings:
    """The timings to show for one network: per layer id, and whether they are stale."""

    layers: dict[str, LayerTiming] = field(default_factory=dict)
    timings: MeasuredTimings | None = None
    stale: bool = False


class TimingStore(QtCore.QObject):
    """One per document; emits `changed` when timings arrive or measuring starts or ends."""

    changed = QtCore.Signal()

    def __init__(self, document: QtCore.QObject):
        super().__init__(document)
        self.setObjectName("timing_store")
        self.document = document
        self.worker = Worker(self)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.measuring = False
        self.status = ""  # a sentence about the last look-up or measurement that went wrong
        self._known: dict[str, MeasuredTimings] = {}  # by structure_key
        self._latest: tuple[tuple[str, ...], MeasuredTimings] | None = None
        self._key_of: tuple[NetworkSpec | None, str] = (None, "")
        # the structures shown since another network was opened: the earlier versions whose
        # timings may be shown, stale, on the network as it is now
        self._versions = {self._key(document.spec)}
        # the task under way measures a run of a network opened before this one: neither its
        # timings nor its problems are this network's
        self._foreign = False
        document.spec_changed.connect(lambda: self._versions.add(self._key(document.spec)))
        document.replaced.connect(self._forget_other_network)
        document.path_changed.connect(self.look_up)
        self.look_up()

    def _forget_other_network(self) -> None:
        """Another network is shown: a measurement of the one before is not its, nor are
        that one's timings, stale, of its layers that share their ids."""
        self.worker.forget()
        self.measuring, self.status, self._latest = False, "", None
        self._versions = {self._key(self.document.spec)}
        self.changed.emit()

    def look_up(self) -> None:
        """Look for timings saved for the document's network beside its runs."""
        if not self.measuring:
            spec = self.document.spec
            self._foreign = False
            self.worker.submit(_look_up, spec, runs_folder(self.document.path))

    def measure(self, spec: NetworkSpec, batch_size: int, device: str = "cpu",
                network_file: Path | None = None) -> None:
        """Time every layer of `spec` in the background and keep the timings beside the
        runs of `network_file`; a measurement under way is cancelled."""
        self.worker.forget()
        self.measuring, self.status = True, ""
        self._foreign = self._key(spec) not in self._versions
        self.worker.submit(_measure, spec, batch_size, device, runs_folder(network_file))
        self.changed.emit()

    def cancel(self) -> None:
        """Stop measuring, if under way."""
        if self.measuring:
            self.worker.forget()
            self.measuring = False
            self.changed.emit()

    def shutdown(self) -> None:
        self.worker.shutdown()
        self.measuring = False

    def shown(self, spec: NetworkSpec) -> ShownTimings:
        """The timings for `spec`: current if measured on its structure, else the latest
        ones for the layers still there, stale."""
        known = self._known.get(self._key(spec))
        if known is not None:
            return ShownTimings(dict(zip(_timed_ids(spec), known.layers)), known)
        if self._latest is None:
            return ShownTimings()
        ids, timings = self._latest
        present = {layer.id for layer in spec.layers}
        return ShownTimings({i: t for i, t in zip(ids, timings.layers) if i in present},
                            timings, stale=True)

    def _key(self, spec: NetworkSpec) -> str:
        if self._key_of[0] is not spec:  # a refresh asks once per edit, the views many times
            self._key_of = (spec, structure_key(spec))
        return self._key_of[1]

    def _on_finished(self, timed: _Timed | None) -> None:
        if timed is None:  # cancelled
            return
        self.measuring = False
        self.status = "" if self._foreign else timed.problem or ""
        if timed.timings is not None:
            self._known[timed.timings.structure] = timed.timings
            if not self._foreign:
                self._latest = (timed.layer_ids, timed.timings)
        self.changed.emit()

    def _on_failed(self, sentence: str) -> None:
        self.measuring, self.status = False, "" if self._foreign else sentence
        self.changed.emit()


def timing_store(document: QtCore.QObject) -> TimingStore:
    """The store of `document`, created on first use."""
    found = document.findChild(TimingStore, "timing_store")
    return found if found is not None else TimingStore(document)
