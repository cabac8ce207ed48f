"""Runs side by side: the loss and accuracy curves of two or more runs overlaid, one colour
per run, with each run's settings in the legend.

The loss is drawn per step while the runs share a batch size. Runs of different batch sizes
take different numbers of steps per epoch, so their steps are not comparable; then the loss
is drawn against training images seen (step × batch size), which is proportional to epochs
for runs on the same data and exact for every run trained with one batch size. (A run file
records neither where each epoch ended in steps nor how many training images it had, so
an axis in epochs could only be estimated.)

Smoothing a long run costs a Python pass over every step, so the curves are prepared on a
background `Worker`; plot items are made once per colour and reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from designer.background import Worker
from designer.training.plots import make_plot, smoothed, tick_whole_epochs
from designer.training.run_text import legend_entries
from engine.checkpoint import RunSummary
from engine.task import TaskState

# Hues far apart, each of a middle lightness: a contrast of 3 or more against white and
# against a dark theme's background. A ninth run takes the first colour again.
PALETTE = ("#3b82f6", "#e8710a", "#2a9d3f", "#dc3545", "#9b59d0", "#0f9b9b", "#a0704a",
           "#d6409f")
RAW_ALPHA = 70
EMPTY = ("Select two or more runs in the list of runs and press Compare Selected to overlay "
         "their curves.")
STEPS_AXIS, IMAGES_AXIS = "iteration (steps)", "training images seen"


@dataclass(frozen=True)
class RunCurves:
    """One run's curves as drawn: loss against `x` (steps or images), accuracy in percent."""

    x: np.ndarray
    loss: np.ndarray
    smooth: np.ndarray
    epochs: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray


@dataclass(frozen=True)
class ComparedCurves:
    curves: tuple[RunCurves, ...]  # in the order of the runs


def per_image(runs: list[RunSummary]) -> bool:
    """Whether the loss is drawn against images seen: the runs' batch sizes differ."""
    return len({run.config.batch_size for run in runs}) > 1


def curves_task(state: TaskState, runs: list[RunSummary], images: bool) -> ComparedCurves:
    curves = []
    for run in runs:
        state.check()
        h = run.history
        loss = np.asarray(h["loss"], np.float64)
        steps = np.asarray(h["step"], np.float64)
        curves.append(RunCurves(steps * run.config.batch_size if images else steps, loss,
                                smoothed(loss, None) if len(loss) else loss,
                                np.asarray(h["epoch"], np.float64),
                                100 * np.asarray(h["train_acc"], np.float64),
                                100 * np.asarray(h["val_acc"], np.float64)))
    return ComparedCurves(tuple(curves))


def caption(runs: list[RunSummary]) -> str:
    """How many runs of which network(s) on which data, and what the loss is drawn against."""
    networks = _listed(sorted({run.spec.name for run in runs}))
    data = _listed(sorted({run.data_name for run in runs}))
    text = f"{len(runs)} runs of {networks} on {data}."
    if per_image(runs):
        text += (" Their batch sizes differ, so steps are not comparable: the loss is drawn "
                 "against training images seen.")
    return text


def _listed(names: list[str]) -> str:
    """a; a and b; a, b and c."""
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1])))


class RunItems:
    """The curves and legend row of the i-th compared run, made once and reused."""

    def __init__(self, view: "CompareView", i: int):
        colour = QtGui.QColor(PALETTE[i % len(PALETTE)])
        faint = QtGui.QColor(colour)
        faint.setAlpha(RAW_ALPHA)
        self.raw = view.loss_plot.plot(pen=pg.mkPen(faint))
        self.raw.setZValue(-1)  # under every run's smoothed curve, not only its own
        self.smooth = view.loss_plot.plot(pen=pg.mkPen(colour, width=2))
        self.val = view.accuracy_plot.plot(pen=pg.mkPen(colour, width=2), symbol="o",
                                           symbolSize=6, symbolPen=colour, symbolBrush=colour)
        self.train = view.accuracy_plot.plot(
            pen=pg.mkPen(colour, width=1.5, style=QtCore.Qt.PenStyle.DashLine), symbol="o",
            symbolSize=5, symbolPen=colour, symbolBrush=view.accuracy_plot.backgroundBrush())
        for curve in (self.raw, self.smooth):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="mean")
        self.swatch = QtWidgets.QLabel("━━")
        self.swatch.setStyleSheet(f"color: {colour.name()}; font-weight: bold;")
        self.text = QtWidgets.QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row, column = divmod(i, 2)
        view.legend.addWidget(self.swatch, row, 2 * column, QtCore.Qt.AlignmentFlag.AlignTop)
        view.legend.addWidget(self.text, row, 2 * column + 1)

    @property
    def curves(self) -> tuple[pg.PlotDataItem, ...]:
        return self.raw, self.smooth, self.val, self.train

    def show(self, entry: str | None, raw: bool) -> None:
        """Show this row with the legend `entry`, or hide it and its curves (None)."""
        used = entry is not None
        self.text.setText(entry or "")
        self.text.setToolTip(entry or "")
        for widget in (self.swatch, self.text):
            widget.setVisible(used)
        for curve in self.curves:
            curve.setVisible(used and (raw or curve is not self.raw))

    def clear(self) -> None:
        for curve in self.curves:
            curve.setData([], [])

    def set_curves(self, c: RunCurves) -> None:
        self.raw.setData(c.x, c.loss, skipFiniteCheck=True)
        self.smooth.setData(c.x, c.smooth, skipFiniteCheck=True)
        # NaN where a run had no validation images: gaps, not lines to zero.
        self.val.setData(c.epochs, c.val_acc, connect="finite")
        self.train.setData(c.epochs, c.train_acc, connect="finite")


class CompareView(QtWidgets.QWidget):
    """Overlaid loss and accuracy curves of the runs given to `set_runs`."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.runs: list[RunSummary] = []
        self.worker = Worker(self)
        self.worker.finished.connect(self._draw)
        self.caption = QtWidgets.QLabel()
        self.worker.failed.connect(self.caption.setText)
        self.caption.setWordWrap(True)
        self.loss_plot = make_plot("Loss (smoothed)", "loss", STEPS_AXIS)
        self.accuracy_plot = make_plot("Accuracy (solid: validation, dashed: training)",
                                   "accuracy (%)", "epoch")
        self.raw = QtWidgets.QCheckBox("Raw loss")
        self.raw.setToolTip("Also draw every step's loss, faintly, under the smoothed curves.")
        self.raw.toggled.connect(self._show_rows)
        self.legend = QtWidgets.QGridLayout()
        self.legend.setColumnStretch(1, 1)
        self.legend.setColumnStretch(3, 1)
        self.items: list[RunItems] = []

        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.raw)
        plots = QtWidgets.QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        content = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addLayout(plots, 1)
        layout.addLayout(self.legend)
        self.empty = QtWidgets.QLabel(EMPTY)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.pages = QtWidgets.QStackedLayout(self)
        self.pages.addWidget(self.empty)
        self.pages.addWidget(content)

    def set_runs(self, runs: list[RunSummary]) -> None:
        """Compare `runs` (fewer than two: say how to choose them)."""
        self.runs = list(runs)
        self.worker.forget()
        comparing = len(self.runs) >= 2
        self.pages.setCurrentIndex(int(comparing))
        while len(self.items) < len(self.runs):
            self.items.append(RunItems(self, len(self.items)))
        for items in self.items:  # no curve of the runs before stays under the new legend
            items.clear()
        self._show_rows()
        if not comparing:
            return
        images = per_image(self.runs)
        self.caption.setText(caption(self.runs))
        self.loss_plot.setLabel("bottom", IMAGES_AXIS if images else STEPS_AXIS)
        self.worker.submit(curves_task, self.runs, images)

    def shutdown(self) -> None:
        """Stop the background work; call before the view is destroyed."""
        self.worker.shutdown()

    def _show_rows(self, *_) -> None:
        entries = legend_entries(self.runs) if len(self.runs) >= 2 else []
        for i, items in enumerate(self.items):
            items.show(entries[i] if i < len(entries) else None, self.raw.isChecked())

    @QtCore.Slot(object)
    def _draw(self, result: object) -> None:
        match result:
            case ComparedCurves():
                for items, curves in zip(self.items, result.curves):
                    items.set_curves(curves)
                tick_whole_epochs(self.accuracy_plot,
                                  max((len(c.epochs) for c in result.curves), default=0))
                for plot in (self.loss_plot, self.accuracy_plot):
                    plot.enableAutoRange()
