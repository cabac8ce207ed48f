"""The Health tab and the learning-rate finder on real tiny runs of the embedded digits."""

import math

import pytest

from designer.training import session as session_module
from designer.training.session import LrSweepFound
from tests.designer.test_training import RUN, is_a, train

TRAINED = ("conv1", "conv2", "fc")   # the default network's layers with weights


def test_the_health_plot_has_a_ratio_curve_per_trained_layer_and_the_guide_line(qtbot, ws):
    train(qtbot, ws)   # with another tab shown: the plot is drawn when its tab is shown
    view = ws.health_view
    assert view.trained == TRAINED and not view.curves   # nothing drawn while hidden
    ws.pictures.setCurrentWidget(view)
    assert tuple(view.curves) == TRAINED
    steps = len(ws.losses.steps)
    for curve in view.curves.values():
        x, y = curve.xData, curve.yData   # what was given; getData() is clipped to the view
        assert len(x) == steps and x[-1] == steps
        assert all(1e-5 < v < 1e-1 for v in y)  # a healthy run: around the 1e-3 guide
    # the loss plot's steps, whatever the two plots' widths on the screen
    assert view.plot.viewRange()[0] == pytest.approx(ws.losses.loss_plot.viewRange()[0])
    assert ws.losses.loss_plot.viewRange()[0] == pytest.approx([0, steps])  # ended: no gap
    assert view.guide in view.plot.getPlotItem().items
    assert view.guide.value() == pytest.approx(math.log10(1e-3))
    table = {view.table.item(r, 0).text(): [view.table.item(r, c).text() for c in (1, 2, 3)]
             for r in range(view.table.rowCount())}
    assert list(table) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc"]
    assert all("±" in table[name][0] and "±" in table[name][1] for name in table)
    assert table["relu1"][2].endswith("%") and table["relu2"][2].endswith("%")
    assert table["conv1"][2] == ""
    assert view.problem == ""


def test_a_dead_layer_is_named_in_the_status(qtbot, ws, monkeypatch):
    start = session_module.Run.start

    def dead_conv1(*args, **kwargs):  # a bias no input overcomes: relu1 never fires
        run = start(*args, **kwargs)
        run.model.layers[0].params["b"][...] = -1e3
        return run

    monkeypatch.setattr(session_module.Run, "start", dead_conv1)
    train(qtbot, ws)
    assert "'relu1'" in ws.health_view.problem and "dead" in ws.health_view.problem
    assert ws.health_view.problem in ws.status.text()
    assert ws.health_view.problem in ws.host.statuses
    relu1 = next(r for r in range(ws.health_view.table.rowCount())
                 if ws.health_view.table.item(r, 0).text() == "relu1")
    assert ws.health_view.table.item(relu1, 3).text() == "100%"


def test_the_finder_plots_the_sweep_suggests_and_applies_the_rate(qtbot, ws):
    finder = ws.lr_finder
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(LrSweepFound)):
        finder.button.click()
    assert ws.pictures.currentWidget() is finder
    assert finder.button.isEnabled() and finder.use.isEnabled()
    rates, losses = finder.raw_curve.getData()
    found = finder.sweep
    assert len(rates) == len(found.rates) >= 50 and len(losses) == len(rates)
    assert finder.marker.isVisible()
    assert finder.marker.value() == pytest.approx(math.log10(found.suggestion))
    assert found.rates[0] <= found.suggestion <= found.rates[-1]
    assert ws.shown is None  # nothing was kept: the sweep trained a copy
    finder.use.click()
    assert ws.settings.config().lr == pytest.approx(found.suggestion, rel=1e-3)


def test_the_finder_on_a_network_that_cannot_train_says_why_in_one_sentence(qtbot, ws, errors):
    conv = ws.document.spec.layers[1]
    ws.document.set_params(conv.id, stride=3)   # the output size is not a whole number
    with qtbot.waitSignal(ws.worker.failed, timeout=RUN):
        ws.lr_finder.button.click()
    assert len(errors) == 1 and f"'{conv.name}'" in errors[0] and "\n" not in errors[0]
    assert ws.status.text() == errors[0] == ws.lr_finder.summary.text()
    assert ws.lr_finder.button.isEnabled() and not ws.lr_finder.use.isEnabled()


def test_another_network_opened_takes_away_the_rate_found_for_the_one_before(
        qtbot, ws, open_document):
    """The rate suggested is the network's on the canvas: when another network is opened,
    a sweep shown is taken away, and one under way is stopped and never shown."""
    finder = ws.lr_finder
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(LrSweepFound)):
        finder.button.click()
    ws.document.reset(open_document("lenet5").spec, None)
    assert finder.sweep is None and not finder.use.isEnabled()
    assert len(finder.raw_curve.getData()[0] or ()) == 0 and not finder.marker.isVisible()
    finder.button.click()
    ws.document.reset(open_document("default").spec, None)
    qtbot.waitUntil(lambda: not ws.worker.busy, timeout=RUN)
    qtbot.wait(50)  # whatever the stopped sweep still reported is delivered, and dropped
    assert finder.sweep is None and not finder.use.isEnabled() and finder.button.isEnabled()
