"""The Health tab: each trained layer's update ratio ‖Δw‖/‖w‖ over the steps on a log axis
with the notes' 1e-3 guide line, and a table of every layer's activation and gradient mean
± standard deviation and, for ReLU layers, the share of dead units.

The plot's items are made once per run and its ranges are fixed (x shows the loss plot's
steps, which the workspace hands it): an update only hands pyqtgraph new arrays, at most four
times a second and only while the tab is shown. The table's cells are made once per run and then only get new text.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from designer.training.plots import Series, make_plot
from engine.insight.health import RATIO_GUIDE, RATIO_HIGH, RATIO_LOW, HealthReport

RATIO_RANGE = (1e-7, 10.0)   # the y axis: wide enough for both bounds of a healthy ratio
REDRAW_MS = 250
LEGEND_COLUMNS = 4
COLOURS = [(110, 170, 255), (255, 170, 60), (90, 200, 120), (230, 90, 90), (180, 120, 230),
           (90, 200, 210), (220, 200, 80), (230, 130, 190)]
COLUMNS = ("Layer", "Output mean ± std", "Gradient mean ± std", "Dead")


def plus_minus(mean: float, std: float) -> str:
    return "—" if math.isnan(mean) else f"{mean:.2g} ± {std:.2g}"


class HealthView(QtWidgets.QWidget):
    """Shows the health the trainer reports; `problem` is the first sentence naming a layer
    that is clearly wrong ("" when none is)."""

    problem_changed = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = make_plot("Update ratio ‖Δw‖/‖w‖ per step", "ratio", "iteration (steps)")
        self.plot.setLogMode(y=True)
        # no grid: a log axis's minor grid lines cost 6 ms of every paint; the guide and the
        # two bounds are the lines that matter
        self.plot.showGrid(x=False, y=False)
        self.plot.enableAutoRange(y=False)
        self.plot.setYRange(*np.log10(RATIO_RANGE), padding=0)
        guide_pen = pg.mkPen(pg.getConfigOption("foreground"), width=2,  # the theme's text
                             style=QtCore.Qt.PenStyle.DashLine)
        self.guide = pg.InfiniteLine(math.log10(RATIO_GUIDE), angle=0, movable=False,
                                     pen=guide_pen)
        self.plot.addItem(self.guide)
        # named in the legend, where a label on the line would sit under the curves; the
        # legend in rows across the top, above the upper bound, where healthy ratios never go
        legend = self.plot.getPlotItem().legend
        legend.setColumnCount(LEGEND_COLUMNS)
        legend.setOffset((10, 2))
        legend.addItem(pg.PlotDataItem(pen=guide_pen), f"{RATIO_GUIDE:g} guide")
        for bound in (RATIO_LOW, RATIO_HIGH):
            self.plot.addItem(pg.InfiniteLine(
                math.log10(bound), angle=0, movable=False,
                pen=pg.mkPen((230, 100, 100, 160), width=1, style=QtCore.Qt.PenStyle.DotLine)))
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(COLUMNS) - 1, QtWidgets.QHeaderView.ResizeMode.Fixed)
        header.resizeSection(len(COLUMNS) - 1, 48)
        self.table.setToolTip("Output: each layer's activations on a training batch; gradient: "
                              "the loss gradient on that output; both sampled on a few steps. "
                              "Dead ReLUs: units never active on any batch of the last epoch.")
        # fixed text: a wrapped label whose text changes lays out the whole tab again
        self.caption = QtWidgets.QLabel("Measured while a run trains: the update ratio at every "
                                        "step; each layer's output and its gradient sampled on a "
                                        "few steps; dead ReLUs over the last epoch (the one in "
                                        "progress until one is done).")
        self.caption.setWordWrap(True)
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.caption)
        side_layout.addWidget(self.table, 1)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([500, 500])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)
        self.steps = Series()
        self.ratios: list[Series] = []
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.rows: dict[str, int] = {}
        self.problem = ""
        # Ratios need no 20 frames a second: the curves are redrawn at most this often, which
        # keeps painting thousands of points off the event loop's back.
        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self.reset()

    def reset(self) -> None:
        """A new run: nothing measured yet (health is not kept in a run's file)."""
        self.steps.clear()
        self.ratios = []
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves = {}
        self.trained: tuple[str, ...] = ()   # the layers whose update ratios are plotted
        self.rows = {}
        self.table.setRowCount(0)
        self._set_problem("")

    def add_steps(self, events) -> None:
        """A batch of StepEvents: their ratios, and the latest health report among them."""
        ratios = [e.update_ratios for e in events if e.update_ratios]
        if ratios:
            self.steps.extend([e.step for e in events if e.update_ratios])
            columns = np.asarray(ratios, np.float64).T
            while len(self.ratios) < len(columns):
                self.ratios.append(Series())
            for series, column in zip(self.ratios, columns):
                series.extend(column)
        report = next((e.health for e in reversed(events) if e.health is not None), None)
        if report is not None:
            self.show_report(report)
        if self.isVisible() and not self._redraw_timer.isActive():
            self._redraw_timer.start()   # a hidden tab catches up when it is shown

    def showEvent(self, event) -> None:
        self._redraw()
        super().showEvent(event)

    def show_report(self, report: HealthReport) -> None:
        self.trained = report.trained
        if self.table.rowCount() != len(report.stats):
            self._make_rows([s.layer for s in report.stats])
        dead = dict(report.dead)
        for stats in report.stats:
            row = self.rows.get(stats.layer)
            if row is None:
                continue
            fraction = dead.get(stats.layer)
            for column, text in enumerate((
                    plus_minus(stats.activation_mean, stats.activation_std),
                    plus_minus(stats.gradient_mean, stats.gradient_std),
                    "" if fraction is None else f"{fraction:.0%}"), start=1):
                self.table.item(row, column).setText(text)
        self.table.horizontalHeaderItem(0).setText(f"Layer (step {report.sampled_step:,})")
        self._set_problem(report.problems[0] if report.problems else "")

    def _make_rows(self, names: list[str]) -> None:
        self.table.setRowCount(len(names))
        self.rows = {name: i for i, name in enumerate(names)}
        for i, name in enumerate(names):
            for column in range(len(COLUMNS)):
                self.table.setItem(i, column, QtWidgets.QTableWidgetItem(name if column == 0
                                                                         else ""))

    def _redraw(self) -> None:
        # The curves are made here, in the redraw's own turn of the event loop, rather than
        # with the first report, which arrives with the run's first steps and pictures.
        for name in self.trained:
            if name not in self.curves:
                colour = COLOURS[len(self.curves) % len(COLOURS)]
                self.curves[name] = self.plot.plot(pen=pg.mkPen(colour, width=1), name=name,
                                                   antialias=False)
                self.curves[name].setClipToView(True)
                self.curves[name].setDownsampling(auto=True, method="mean")
        x = self.steps.values
        for series, curve in zip(self.ratios, self.curves.values()):
            curve.setData(x, series.values)  # checked: log10 of a ratio of 0 is not finite

    def _set_problem(self, sentence: str) -> None:
        if sentence != self.problem:
            self.problem = sentence
            self.problem_changed.emit(sentence)
