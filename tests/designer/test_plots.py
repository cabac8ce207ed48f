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
