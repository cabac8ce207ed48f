"""The learning-rate finder's tab: the loss against the rate of a sweep (log x), the
suggested rate marked, and "Use this rate", which puts it in the settings. The sweep runs
on the workspace's worker (`Session.find_lr`); its `button` sits by the settings."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from designer.training.plots import make_plot
from engine.insight.lr_finder import BELOW_MINIMUM, LrSweep


NO_SWEEP = ("Press Find… beside the learning rate in the settings to sweep the rate on a "
            "copy of the network.")


class LrFinderView(QtWidgets.QWidget):
    find = QtCore.Signal()          # the user asked for a sweep
    use_rate = QtCore.Signal(float)  # the user took the suggested rate

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sweep: LrSweep | None = None
        self.finding = False
        self.button = QtWidgets.QToolButton()
        self.button.setText("Find…")
        self.button.setToolTip("Find a learning rate: train a copy of the network for about "
                               "100 steps while the rate grows from 1e-6 to 1, and suggest one.")
        self.button.clicked.connect(self.find)
        self.plot = make_plot("Loss against learning rate", "loss", "learning rate")
        self.plot.setLogMode(x=True)
        self.raw_curve = self.plot.plot(pen=pg.mkPen((120, 170, 255, 90)), name="loss")
        self.smooth_curve = self.plot.plot(pen=pg.mkPen((110, 170, 255), width=2),
                                           name="smoothed")
        self.marker = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen((90, 200, 120), width=2),
                                      label="suggested", labelOpts={
                                          "position": 0.9, "color": (90, 200, 120),
                                          "fill": (0, 0, 0, 160)})
        self.marker.hide()
        self.plot.addItem(self.marker)
        self.summary = QtWidgets.QLabel(NO_SWEEP)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.use = QtWidgets.QPushButton("Use this rate")
        self.use.setToolTip("Put the suggested rate into the settings' learning rate.")
        self.use.setEnabled(False)
        self.use.clicked.connect(lambda: self.use_rate.emit(self.sweep.suggestion))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.use)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)

    def set_finding(self, finding: bool) -> None:
        self.finding = finding
        self.button.setEnabled(not finding)
        if finding:
            self.use.setEnabled(False)
            self.summary.setText("Sweeping the learning rate on a copy of the network…")

    def clear(self) -> None:
        """Show no sweep (the network it was of is no longer on the canvas)."""
        self.sweep = None
        for curve in (self.raw_curve, self.smooth_curve):
            curve.setData([], [])
        self.marker.hide()
        self.set_finding(False)
        self.use.setEnabled(False)
        self.summary.setText(NO_SWEEP)

    def fail(self, sentence: str) -> None:
        """The sweep under way could not finish: say why where its result would be."""
        if self.finding:
            self.set_finding(False)
            self.summary.setText(sentence)

    def show_sweep(self, sweep: LrSweep, done: bool) -> None:
        self.sweep = sweep
        self.raw_curve.setData(sweep.rates, sweep.losses)
        self.smooth_curve.setData(sweep.rates, sweep.smoothed)
        # visible first: a hidden line's label does not follow its format
        self.marker.setVisible(done and sweep.suggestion is not None)
        if sweep.suggestion is not None:
            self.marker.label.setFormat(f"suggested {sweep.suggestion:.2g}")
            self.marker.setValue(math.log10(sweep.suggestion))
        if not done:
            return
        self.set_finding(False)
        self.use.setEnabled(sweep.suggestion is not None)
        if sweep.suggestion is None:
            self.summary.setText(f"The loss diverged after {len(sweep.rates)} steps, too soon "
                                 "to suggest a rate.")
            return
        ended = (f"diverged at {sweep.rates[-1]:.2g}" if sweep.diverged
                 else f"went on to {sweep.rates[-1]:.2g}")
        self.summary.setText(
            f"Suggested learning rate {sweep.suggestion:.2g}: where the smoothed loss "
            f"falls fastest, at most the rate of its minimum ({sweep.minimum:.2g}) / "
            f"{BELOW_MINIMUM}. The sweep {ended} in {len(sweep.rates)} steps.")
