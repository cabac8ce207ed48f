"""Before pressing Train: whether the network fits the data, how much memory a step needs
against the budget and the free memory, and how long an epoch will take."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from designer.background import Worker
from designer.memory_settings import MemorySettings
from designer.training.settings import DataInfo
from engine.backend import free_memory, get_backend
from engine.bench import benchmark
from engine.data.load import VAL_FRACTION
from engine.errors import ConvNetError
from engine.shapes import Fix, MemoryEstimate, format_bytes
from engine.spec import NetworkSpec
from engine.task import TaskState

# Multiply-adds of one step (forward and backward, about three times the forward's) below
# which the time per epoch is measured by itself: a few such steps take well under a second.
AUTO_MEASURE_MACS = 3e9
PROBE_STEPS = 3
WARNING = "color: #d03030"
MEASURE_TIP = "Time a few training steps of this network here."


@dataclass(frozen=True)
class StepTime:
    spec: NetworkSpec
    batch_size: int
    device: str
    seconds: float


def measure_step(state: TaskState, spec: NetworkSpec, batch_size: int, device: str) -> StepTime:
    """The median time of a few training steps on random images."""
    result = benchmark(spec, batch_size, get_backend(device), repeats=PROBE_STEPS)
    return StepTime(spec, batch_size, device, result.step_s)


class ReadinessView(QtWidgets.QWidget):
    """Lines that say what training the canvas network will take, with buttons for the
    fixes; refreshed whenever the network, the data set or a setting changes. `blocking`
    is the line that says why training cannot start now (None if it can), announced by
    `changed`."""

    changed = QtCore.Signal()

    def __init__(self, document, memory: MemorySettings, picker, device_of, parent=None):
        super().__init__(parent)
        self.document, self.memory, self.picker = document, memory, picker
        self._device_of = device_of  # () -> "cpu" | "gpu" | "auto", the form's device
        self.step_time: StepTime | None = None
        self.probe = Worker(self)
        self.probe.finished.connect(self._on_measured)
        self.probe.failed.connect(self._on_probe_failed)
        self.fit = QtWidgets.QLabel()
        self.fix_button = QtWidgets.QPushButton()
        self.fix_button.clicked.connect(self._apply_fix)
        self.memory_label = QtWidgets.QLabel()
        self.time_label = QtWidgets.QLabel()
        self.measure_button = QtWidgets.QPushButton("Measure")
        self.measure_button.setToolTip(MEASURE_TIP)
        self.measure_button.clicked.connect(self.measure)
        for label in (self.fit, self.memory_label, self.time_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        time_row = QtWidgets.QHBoxLayout()
        time_row.addWidget(self.time_label, 1)
        time_row.addWidget(self.measure_button, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.fit)
        layout.addWidget(self.fix_button, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.memory_label)
        layout.addLayout(time_row)
        self._fix = None
        self._measure_soon = QtCore.QTimer(self, singleShot=True, interval=600)
        self._measure_soon.timeout.connect(self._auto_measure)
        self.enabled = True  # False while a run trains: a measurement would only slow it
        self.blocking: str | None = None
        self.over_budget: str | None = None  # why Measure is refused: the step needs too much
        document.spec_changed.connect(self.refresh)
        memory.changed.connect(self.refresh)
        picker.changed.connect(self.refresh)
        self.refresh()

    # --- the lines -----------------------------------------------------------------------
    def refresh(self) -> None:
        analysis = self.document.analysis
        self._fix, self.blocking, self.over_budget = None, None, None
        if not analysis.valid:
            first = analysis.network_error or analysis.errors[0].error
            self.blocking = f"The network has an error; fix it first: {first}"
            self._say(self.fit, self.blocking, warn=True)
            self.memory_label.setText("")
            self._say(self.time_label, "")
            self.measure_button.hide()
            self.fix_button.hide()
        else:
            memory = analysis.memory(self.memory.batch_size, self.memory.optimizer)
            self._show_fit(analysis, self.picker.info())
            self._show_memory(analysis, memory)
            self.over_budget = self._over_budget(analysis, memory)
            self._show_time(analysis)
        self.changed.emit()

    def _show_fit(self, analysis, info: DataInfo | None) -> None:
        """Whether the images fit the input and the classes the scores, with the fix for the
        first that does not (the classes first: they cost no memory to fix)."""
        spec, fixes = self.document.spec, []
        if info is None:
            self._say(self.fit, "The data set is not read yet (see above).")
            self.fix_button.hide()
            return
        lines, warn = [], False
        v = spec.input_volume
        if info.volume != v:
            padded = (info.volume.width <= v.width and info.volume.height <= v.height
                      and {info.volume.depth, v.depth} <= {1, 3})
            if padded:
                size = format_bytes(info.train_count * v.size / (1 - VAL_FRACTION))
                lines.append(f"The {info.title} images are {info.volume}: they will be "
                             f"converted and padded to the input's {v} ({size} in memory).")
            else:
                warn = True
                lines.append(f"The {info.title} images are {info.volume} but the network's "
                             f"input is {v}.")
                fixes.append(_set_params(f"set the input to {info.volume}", spec.layers[0].id,
                                         width=info.volume.width, height=info.volume.height,
                                         depth=info.volume.depth))
        if analysis.output.depth != info.class_count:
            warn = True
            lines.append(f"The network gives {analysis.output.depth:,} class scores but "
                         f"{info.title} has {info.class_count} classes.")
            last_fc = next((l for l in reversed(spec.layers) if l.type == "fc"), None)
            if last_fc is not None:
                fixes.insert(0, _set_params(f"set {last_fc.name}'s Outputs to {info.class_count}",
                                            last_fc.id, units=info.class_count))
        if not lines:
            lines.append(f"{info.title}: {info.class_count} classes, {info.volume} images, "
                         f"{info.train_count:,} for training.")
        self._say(self.fit, " ".join(lines), warn=warn)
        self.blocking = " ".join(lines) if warn else None
        self._fix = fixes[0] if fixes else None
        if self._fix:
            self.fix_button.setText(self._fix.text[0].upper() + self._fix.text[1:])
        self.fix_button.setVisible(self._fix is not None)

    def _show_memory(self, analysis, m: MemoryEstimate) -> None:
        budget = self.memory.budget_bytes
        try:
            free = free_memory(get_backend(self._device_of()))
        except ConvNetError:
            free = None
        text = (f"A step at batch size {self.memory.batch_size:,} needs "
                f"{format_bytes(m.total)} ({self.memory.optimizer}).")
        problems = []
        if budget is not None and m.total > budget:
            problems.append(f"more than the budget of {format_bytes(budget)}")
        if free is not None and m.total > free:
            problems.append(f"more than the {format_bytes(free)} free now")
        if problems:
            fits = analysis.largest_batch(min(b for b in (budget, free) if b is not None),
                                          self.memory.optimizer)
            text += (f" That is {' and '.join(problems)}; "
                     + (f"batch size {fits:,} fits." if fits else "no batch size fits."))
        self._say(self.memory_label, text, warn=bool(problems))

    def _over_budget(self, analysis, m: MemoryEstimate) -> str | None:
        """Why a step must not be measured: it needs more than the budget the user set."""
        budget, batch = self.memory.budget_bytes, self.memory.batch_size
        if budget is None or m.total <= budget:
            return None
        fits = analysis.largest_batch(budget, self.memory.optimizer)
        remedy = (f"choose a batch size of {fits:,} or less, or raise the budget" if fits
                  else "raise the budget, or make the network smaller")
        return (f"Not measured: at batch size {batch:,} a step needs {format_bytes(m.total)}, "
                f"above the budget of {format_bytes(budget)}; {remedy} in the Memory panel.")

    def _show_time(self, analysis) -> None:
        info, batch = self.picker.info(), self.memory.batch_size
        measured = self.step_time
        known = measured is not None and (measured.spec, measured.batch_size,
                                          measured.device) == self._current_key()
        self.measure_button.setVisible(not known)
        self.measure_button.setEnabled(self.enabled and not self.probe.busy
                                       and self.over_budget is None)
        self.measure_button.setToolTip(self.over_budget or MEASURE_TIP)
        if known and info is None:
            text = f"A step takes {1e3 * measured.seconds:.0f} ms here."
        elif known:
            steps = math.ceil(info.train_count / batch)
            text = (f"An epoch of {steps:,} steps takes about "
                    f"{_duration(steps * measured.seconds)} here "
                    f"({1e3 * measured.seconds:.0f} ms a step, measured).")
        elif self.over_budget:
            text = self.over_budget
        elif self.probe.busy:
            text = "Measuring the time per step…"
        elif analysis.total_macs * batch * 3 < AUTO_MEASURE_MACS and self.enabled:
            text = "The time per epoch is measured in a moment."
            self._measure_soon.start()
        else:
            text = "Measure a few steps to know how long an epoch takes."
        self._say(self.time_label, text, warn=not known and self.over_budget is not None)

    # --- actions -------------------------------------------------------------------------
    def measure(self) -> None:
        if self.document.analysis.valid and self.enabled and self.over_budget is None:
            self.probe.forget()
            spec, batch, device = self._current_key()
            self.probe.submit(measure_step, spec, batch, device)
            self.refresh()

    def set_enabled(self, enabled: bool) -> None:
        """Measuring competes with a run for the processor: only between runs."""
        self.enabled = enabled
        if not enabled:
            self.probe.forget()
        self.refresh()

    def _auto_measure(self) -> None:
        if self.isVisible():
            self.measure()

    def _apply_fix(self) -> None:
        if self._fix:
            self.document.apply_fix(self._fix)

    def _on_measured(self, measured: StepTime | None) -> None:
        if measured is not None:
            self.step_time = measured
        self.refresh()

    def _on_probe_failed(self, sentence: str) -> None:
        self.time_label.setText(f"The steps could not be timed: {sentence}")

    def _current_key(self) -> tuple:
        return self.document.spec, self.memory.batch_size, self._device_of()

    @staticmethod
    def _say(label: QtWidgets.QLabel, text: str, warn: bool = False) -> None:
        label.setText(text)
        label.setStyleSheet(WARNING if warn else "")


def _set_params(text: str, layer_id: str, **params) -> Fix:
    """A fix that sets hyperparameters of one layer, applied as one undo step."""
    return Fix(text, lambda spec: spec.replaced(spec.layer(layer_id).with_params(**params)))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
