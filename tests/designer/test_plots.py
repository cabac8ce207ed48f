"""The live training plots: what a new point costs the GUI thread."""

from types import SimpleNamespace

import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from designer.training.plots import AccuracyPlot, LossPlot


def steps(first, count):
    return [SimpleNamespace(step=s, loss=2.0 / s, lr=0.01) for s in range(first, first + count)]


def count_paints(monkeypatch, item_type) -> list:
    """The items of `item_type` painted from now on (patched before any is made: PySide
    looks an item's paint up once)."""
    painted = []
    original = item_type.paint
    monkeypatch.setattr(item_type, "paint",
                        lambda item, *args: (painted.append(item), original(item, *args)))
    return painted


def settle(qtbot, painted: list, quiet_ms: int = 200, timeout_ms: int = 5000) -> None:
    """Wait until `quiet_ms` pass with nothing more painted: a slow machine lays the plot
    out and paints it in more than one pass after it is shown."""
    waited = 0
    while waited < timeout_ms:
        before = len(painted)
        qtbot.wait(quiet_ms)
        waited += quiet_ms
        if len(painted) == before:
            return
    raise AssertionError(f"the plot was still painting after {timeout_ms} ms")


def test_new_points_within_the_range_repaint_no_axis(qtbot, monkeypatch):
    axes, curves = count_paints(monkeypatch, pg.AxisItem), count_paints(monkeypatch, pg.PlotCurveItem)
    plots = LossPlot()
    widget = plots.loss_plot
    qtbot.addWidget(widget)
    widget.resize(600, 300)
    widget.show()
    qtbot.waitExposed(widget)
    plots.add_steps(steps(1, 20))
    settle(qtbot, axes)
    assert axes and curves
    axes.clear(), curves.clear()
    plots.add_steps(steps(21, 20))   # within the first 100 steps and the loss's top
    qtbot.waitUntil(lambda: bool(curves), timeout=5000)   # the new points were drawn
    settle(qtbot, curves)
    assert axes == []


def epoch(n, train, val):
    return SimpleNamespace(epoch=n, train_acc=train, val_acc=val)


def show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(600, 300)
    widget.show()
    qtbot.waitExposed(widget)


def test_an_epoch_within_the_range_repaints_no_axis(qtbot, monkeypatch):
    axes, curves = count_paints(monkeypatch, pg.AxisItem), count_paints(monkeypatch, pg.PlotCurveItem)
    plot = AccuracyPlot()
    show(qtbot, plot)
    plot.plan(8)
    plot.add_epoch(epoch(1, 0.52, 0.48))
    settle(qtbot, axes)
    axes.clear(), curves.clear()
    plot.add_epoch(epoch(2, 0.57, 0.55))   # within the planned epochs and the same tens
    qtbot.waitUntil(lambda: bool(curves), timeout=5000)
    settle(qtbot, curves)
    assert axes == []


def x_span(plot, padding=0.03):
    """The epochs the x axis was set to span, without the plot's padding."""
    left, right = plot.viewRange()[0]
    middle, half = (left + right) / 2, (right - left) / (2 * (1 + 2 * padding))
    return pytest.approx((middle - half, middle + half))


def test_the_accuracy_axes_span_the_planned_epochs_and_the_tens_around_the_accuracies(qtbot):
    plot = AccuracyPlot()
    show(qtbot, plot)
    plot.plan(5)
    assert x_span(plot) == (0.5, 5.5)
    plot.add_epoch(epoch(1, 0.634, float("nan")))       # no validation split
    bottom, top = plot.viewRange()[1]
    assert 58 < bottom < 60 and 70 < top < 72           # 60 … 70, padded
    plot.add_epoch(epoch(2, 0.991, 0.48))
    bottom, top = plot.viewRange()[1]
    assert 38 < bottom < 40 and 100 < top < 102


def wheel(widget):
    """Turn the mouse wheel one notch forward over the middle of `widget`."""
    middle = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    event = QtGui.QWheelEvent(middle, widget.mapToGlobal(middle), QtCore.QPoint(),
                              QtCore.QPoint(0, 120), QtCore.Qt.NoButton, QtCore.Qt.NoModifier,
                              QtCore.Qt.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(widget.viewport(), event)


def test_a_long_run_doubles_its_epoch_span(qtbot):
    plot = AccuracyPlot()
    show(qtbot, plot)
    plot.plan(1000)
    assert x_span(plot) == (0.5, 10.5)
    for n in range(1, 12):
        plot.add_epoch(epoch(n, 0.5, 0.5))
    assert x_span(plot) == (0.5, 20.5)
    wheel(plot)                                         # the user zooms: it stays
    zoomed = plot.viewRange()
    assert zoomed[0][1] - zoomed[0][0] < 19
    plot.add_epoch(epoch(12, 0.5, 0.5))
    assert plot.viewRange() == zoomed
    plot.set_history([1, 2], [0.5, 0.6], [0.5, 0.6])    # another run: it follows again
    assert x_span(plot) == (0.5, 10.5)
