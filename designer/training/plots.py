"""Live training curves: loss and learning rate per iteration, accuracy per epoch.

Plot items are made once and updated with `setData`; points accumulate in growing
NumPy buffers so an update costs one array slice, not a Python list copy. Every plot
has pyqtgraph's context menu, whose Export… saves it as PNG.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

SMOOTHING = 0.95   # weight of the past in the smoothed loss (an exponential moving average)
PLOT_MARGINS = (2, 2, 14, 2)  # px: room on the right for the last tick's label
WHOLE_EPOCH_TICKS = 12  # up to this many epochs, one tick per epoch; beyond, pyqtgraph's own
FIRST_SPAN = 100   # iterations: the x axis starts this long and doubles when the run outgrows it
FIRST_EPOCH_SPAN = 10   # epochs: the same for the accuracy plot of a run planned longer


class Series:
    """A growing float array: append blocks of values, read the filled part as a view."""

    def __init__(self):
        self._buffer = np.empty(1024, np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, values) -> None:
        values = np.asarray(values, np.float64)
        need = self._size + len(values)
        if need > len(self._buffer):
            grown = np.empty(max(need, 2 * len(self._buffer)), np.float64)
            grown[:self._size] = self._buffer[:self._size]
            self._buffer = grown
        self._buffer[self._size:need] = values
        self._size = need

    def clear(self) -> None:
        self._size = 0

    @property
    def values(self) -> np.ndarray:
        return self._buffer[:self._size]

    @property
    def last(self) -> float:
        return float(self._buffer[self._size - 1])


def smoothed(values: np.ndarray, start: float | None) -> np.ndarray:
    """Exponential moving average of `values`, continuing from `start` (None: the first value)."""
    out = np.empty(len(values))
    acc = values[0] if start is None else start
    for i, v in enumerate(values):
        acc = SMOOTHING * acc + (1 - SMOOTHING) * v
        out[i] = acc
    return out


def round_up(value: float) -> float:
    """`value` rounded up to a half step of its decade (2.31 → 2.5, 0.43 → 0.45)."""
    if value <= 0:
        return 1.0
    decade = 10 ** np.floor(np.log10(value))
    return float(decade * np.ceil(2 * value / decade) / 2)


def make_plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    style_plot(plot, left, bottom, legend_offset=(-10, 10))
    return plot


def style_plot(plot: pg.PlotWidget, left: str, bottom: str,
               legend_offset: tuple[int, int]) -> None:
    """Margins, axis labels, lines across for reading values, and a legend."""
    item = plot.getPlotItem()
    item.setContentsMargins(*PLOT_MARGINS)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    plot.showGrid(x=False, y=True, alpha=0.2)
    plot.addLegend(offset=legend_offset)
    # An axis with grid lines spans the plot, so every new point repainted it, text and all
    # (most of the GUI thread's painting while a run trains); cached as a picture, an axis
    # is drawn again only when its range or size changes. Offscreen, gui_latency.py's
    # painting went from 3.1 to 1.7-1.9 s in 20 s, axes from 340 paints to 44.
    for name in ("left", "bottom", "right", "top"):
        item.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)


class LossPlot(QtCore.QObject):
    """Loss per iteration (raw, faint, and smoothed) and the learning rate, on two plots with
    linked x axes (`loss_plot`, `lr_plot`, placed by the workspace) and a `log_scale` box.

    The axes grow in steps (x doubles, y jumps to a round top) instead of following every
    new point: a range change re-ticks both plots' axes, which costs several times more
    than drawing the curves and would stall the window 20 times a second. Zooming or
    panning by hand stops this until the next run.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.steps, self.loss, self.smooth, self.lr = Series(), Series(), Series(), Series()
        self.loss_plot = make_plot("Loss", "loss", "iteration (steps)")
        self.raw_curve = self.loss_plot.plot(pen=pg.mkPen((120, 170, 255, 70)), name="loss")
        # A pen one pixel wide: Qt strokes a wider one point by point, and at width 2 the
        # smoothed curve took most of the GUI thread's painting while a run trains (the loss
        # plot's paint, offscreen in gui_latency.py: median 10 ms, 2.5 ms at width 1)
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen((110, 170, 255)), name="smoothed")
        self.lr_plot = make_plot("Learning rate", "lr", "iteration (steps)")
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen((255, 170, 60), width=2))
        self.lr_plot.setXLink(self.loss_plot)
        self.lr_plot.getAxis("left").enableAutoSIPrefix(False)
        for curve in (self.raw_curve, self.smooth_curve, self.lr_curve):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="mean")
        self.log_scale = QtWidgets.QCheckBox("Log scale")
        self.log_scale.setToolTip("Show loss and learning rate on a logarithmic axis.")
        self.log_scale.toggled.connect(self._set_log)
        self.reset()
        self.loss_plot.getViewBox().sigRangeChangedManually.connect(self._stop_following)
        self.lr_plot.getViewBox().sigRangeChangedManually.connect(self._stop_following)

    def add_steps(self, events) -> None:
        """Append a batch of StepEvents and redraw once."""
        if not events:
            return
        loss = np.array([e.loss for e in events])
        self.smooth.extend(smoothed(loss, self.smooth.last if len(self.smooth) else None))
        self.steps.extend([e.step for e in events])
        self.loss.extend(loss)
        self.lr.extend([e.lr for e in events])
        self._redraw()

    def set_history(self, steps, loss, lr) -> None:
        self.reset()
        if len(steps):
            self.steps.extend(steps)
            self.loss.extend(loss)
            self.smooth.extend(smoothed(np.asarray(loss, np.float64), None))
            self.lr.extend(lr)
        self._redraw()

    def reset(self) -> None:
        for series in (self.steps, self.loss, self.smooth, self.lr):
            series.clear()
        self._following, self._right, self._tops = True, FIRST_SPAN, {}
        self.loss_plot.setXRange(0, FIRST_SPAN, padding=0)  # before the first steps arrive
        self._redraw()

    def _redraw(self) -> None:
        x = self.steps.values
        self.raw_curve.setData(x, self.loss.values, skipFiniteCheck=True)
        self.smooth_curve.setData(x, self.smooth.values, skipFiniteCheck=True)
        self.lr_curve.setData(x, self.lr.values, skipFiniteCheck=True)
        if self._following and len(x):
            self._grow_axes()

    def _grow_axes(self) -> None:
        right = self._right
        while right < self.steps.last:
            right *= 2
        if right != self._right:
            self._right = right
            self.loss_plot.setXRange(0, right, padding=0)
        if self.log_scale.isChecked():
            return
        # From 0, so a constant learning rate reads as a flat line at its value, not as noise.
        for plot, series in ((self.loss_plot, self.loss), (self.lr_plot, self.lr)):
            top = round_up(1.05 * float(series.values.max()))
            if top != self._tops.get(plot):
                self._tops[plot] = top
                plot.setYRange(0, top, padding=0)

    def fit_steps(self) -> None:
        """A run that has stopped: the x axis ends at its last step, not at the next
        doubling (which left up to half the plot empty)."""
        if self._following and len(self.steps):
            self._right = max(self.steps.last, 1.0)
            self.loss_plot.setXRange(0, self._right, padding=0)

    def _stop_following(self, *_) -> None:
        self._following = False

    def _set_log(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self.lr_plot.setLogMode(y=on)
        for plot in (self.loss_plot, self.lr_plot):
            plot.enableAutoRange(y=on)
        self._tops = {}
        self._redraw()


class AccuracyPlot(pg.PlotWidget):
    """Train and validation accuracy per epoch, in percent, on one plot.

    Its axes grow in steps too: x spans the epochs the run is to train (`plan`), or on a
    long run a span that doubles from FIRST_EPOCH_SPAN; y runs between the tens around the
    accuracies. Following every epoch re-ticked both axes at each epoch's end, the longest
    stall left in the window while a run trains. Zooming or panning by hand stops this
    until the next run."""

    def __init__(self, parent=None):
        super().__init__(parent, title="Accuracy")
        style_plot(self, "accuracy (%)", "epoch", legend_offset=(-10, -10))
        self.epochs, self.train_acc, self.val_acc = Series(), Series(), Series()
        self.train_curve = self.plot(pen=pg.mkPen((80, 140, 255), width=2), symbol="o",
                                     symbolSize=6, symbolBrush=(80, 140, 255), name="train")
        self.val_curve = self.plot(pen=pg.mkPen((90, 200, 120), width=2), symbol="s",
                                   symbolSize=6, symbolBrush=(90, 200, 120), name="validation")
        self._planned: int | None = None
        self.reset()
        self.getViewBox().sigRangeChangedManually.connect(self._stop_following)

    def plan(self, epochs: int) -> None:
        """The run shown is to train `epochs` epochs in all."""
        if epochs != self._planned:
            self._planned = epochs
            self._grow_axes()

    def add_epoch(self, event) -> None:
        self.epochs.extend([event.epoch])
        self.train_acc.extend([100 * event.train_acc])
        self.val_acc.extend([100 * event.val_acc])
        self._redraw()

    def set_history(self, epochs, train_acc, val_acc) -> None:
        self.reset()
        self.epochs.extend(epochs)
        self.train_acc.extend(100 * np.asarray(train_acc, np.float64))
        self.val_acc.extend(100 * np.asarray(val_acc, np.float64))
        self._redraw()

    def reset(self) -> None:
        for series in (self.epochs, self.train_acc, self.val_acc):
            series.clear()
        self._following, self._range = True, None
        self._redraw()

    def _redraw(self) -> None:
        self.train_curve.setData(self.epochs.values, self.train_acc.values)
        self.val_curve.setData(self.epochs.values, self.val_acc.values)
        self._grow_axes()

    def _grow_axes(self) -> None:
        if not self._following:
            return
        done = int(self.epochs.last) if len(self.epochs) else 0
        span = FIRST_EPOCH_SPAN
        while span < done:
            span *= 2
        right = max(done, min(span, self._planned or span), 1)
        accuracies = np.concatenate([self.train_acc.values, self.val_acc.values])
        accuracies = accuracies[np.isfinite(accuracies)]
        if len(accuracies):  # in percent: the tens around them
            bottom = 10 * np.floor(accuracies.min() / 10)
            top = min(100.0, 10 * np.ceil(accuracies.max() / 10))
            bottom = min(bottom, top - 10)
        else:  # in percent before there is any, not pyqtgraph's empty 0 to 1
            bottom, top = 0.0, 100.0
        if (right, bottom, top) != self._range:
            self._range = (right, bottom, top)
            self.setRange(xRange=(0.5, right + 0.5), yRange=(bottom, top), padding=0.03)
            tick_whole_epochs(self, right)

    def _stop_following(self, *_) -> None:
        self._following = False


def tick_whole_epochs(plot: pg.PlotWidget, epochs: int) -> None:
    """One tick per epoch on a short run: pyqtgraph would tick it at 1.5, 2.5…"""
    plot.getAxis("bottom").setTickSpacing(*((1, 1) if epochs <= WHOLE_EPOCH_TICKS else ()))
