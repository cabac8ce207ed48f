"""The live training plots: what a new point costs the GUI thread."""

from types import SimpleNamespace

import pyqtgraph as pg

from designer.training.plots import LossPlot


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


def test_new_points_within_the_range_repaint_no_axis(qtbot, monkeypatch):
    axes, curves = count_paints(monkeypatch, pg.AxisItem), count_paints(monkeypatch, pg.PlotCurveItem)
    plots = LossPlot()
    widget = plots.loss_plot
    qtbot.addWidget(widget)
    widget.resize(600, 300)
    widget.show()
    qtbot.waitExposed(widget)
    plots.add_steps(steps(1, 20))
    qtbot.wait(100)
    assert axes and curves
    axes.clear(), curves.clear()
    plots.add_steps(steps(21, 20))   # within the first 100 steps and the loss's top
    qtbot.wait(100)
    assert curves, "the new points were not drawn"
    assert axes == []
