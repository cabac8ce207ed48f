"""Comparing runs: the curves hold exactly each run's history, one colour per run, legend
entries that name what tells the runs apart, and the loss axis in images where batch
sizes differ."""

from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from designer.training.compare_view import EMPTY, IMAGES_AXIS, STEPS_AXIS, CompareView
from designer.training.plots import smoothed
from designer.training.run_text import epochs_text, legend_entries, local_time
from engine.checkpoint import read_run_summary
from tests.designer.run_helpers import save_runs

WAIT = 30_000  # ms


@pytest.fixture
def summaries(tmp_path):
    """alpha (adam, batch 16), beta (momentum, batch 16), gamma (sgd, batch 32), as read."""
    return [read_run_summary(path) for path in save_runs(tmp_path / "runs")]


@pytest.fixture
def view(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(1000, 500)
    v.show()
    yield v
    v.shutdown()


def compare(qtbot, view, runs):
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT):
        view.set_runs(runs)


def used(view):
    return [items for items in view.items if items.text.isVisible()]


def test_fewer_than_two_runs_show_how_to_choose_them(qtbot, view, summaries):
    for runs in ([], summaries[:1]):
        view.set_runs(runs)
        assert view.pages.currentWidget() is view.empty and view.empty.text() == EMPTY
    compare(qtbot, view, summaries[:2])
    assert view.pages.currentWidget() is not view.empty


def test_the_curves_hold_exactly_each_runs_history(qtbot, view, summaries):
    alpha, beta = summaries[:2]  # one batch size: the loss is drawn per step
    compare(qtbot, view, [alpha, beta])
    assert view.loss_plot.getAxis("bottom").labelText == STEPS_AXIS
    for items, run in zip(used(view), (alpha, beta)):
        h = run.history
        # xData/yData: everything set (getData is clipped to the view and downsampled).
        assert list(items.raw.xData) == h["step"] and list(items.raw.yData) == h["loss"]
        assert list(items.smooth.xData) == h["step"]
        assert np.array_equal(items.smooth.yData, smoothed(np.asarray(h["loss"]), None))
        epochs, val = items.val.getData()
        assert list(epochs) == h["epoch"] and np.allclose(val, 100 * np.asarray(h["val_acc"]))
        epochs, train = items.train.getData()
        assert list(epochs) == h["epoch"] and np.allclose(train,
                                                          100 * np.asarray(h["train_acc"]))


def test_runs_of_different_batch_sizes_are_drawn_against_images_seen(qtbot, view, summaries):
    compare(qtbot, view, summaries)
    assert view.loss_plot.getAxis("bottom").labelText == IMAGES_AXIS
    for items, run in zip(used(view), summaries):
        assert list(items.smooth.xData) == [s * run.config.batch_size for s in run.history["step"]]
    assert view.caption.text() == ("3 runs of small on quadrants. Their batch sizes differ, so "
                                   "steps are not comparable: the loss is drawn against "
                                   "training images seen.")


def test_each_run_has_its_own_colour_in_all_its_curves_and_its_legend_row(qtbot, view,
                                                                          summaries):
    compare(qtbot, view, summaries)
    colours = []
    for items in used(view):
        colour = items.smooth.opts["pen"].color()
        assert items.val.opts["pen"].color() == colour == items.train.opts["pen"].color()
        assert items.raw.opts["pen"].color().rgb() == colour.rgb()  # the same, fainter
        assert items.train.opts["pen"].style() == QtCore.Qt.PenStyle.DashLine
        assert items.val.opts["pen"].style() == QtCore.Qt.PenStyle.SolidLine
        assert colour.name() in items.swatch.styleSheet()
        colours.append(colour.name())
    assert len(set(colours)) == 3


def test_legend_entries_name_the_key_settings_and_whatever_differs(qtbot, view, summaries):
    compare(qtbot, view, summaries)
    assert [items.text.text() for items in used(view)] == [
        "alpha — adam, lr 0.01, batch 16, 2 epochs",
        "beta — momentum, lr 0.05, momentum 0.9, batch 16, 3 epochs",
        "gamma — sgd, lr 0.1, batch 32, 4 epochs",
    ]
    alpha = summaries[0]
    other = replace(alpha, name="delta", data_name="digits",
                    config=replace(alpha.config, flip=True, seed=7, momentum=0.5))
    assert legend_entries([alpha, other]) == [  # momentum: adam does not use it
        "alpha — on quadrants, adam, lr 0.01, batch 16, no flips, seed 0",
        "delta — on digits, adam, lr 0.01, batch 16, flips, seed 7",
    ]


def test_raw_loss_is_drawn_only_when_asked(qtbot, view, summaries):
    compare(qtbot, view, summaries[:2])
    assert not any(items.raw.isVisible() for items in used(view))
    view.raw.setChecked(True)
    assert all(items.raw.isVisible() and items.smooth.isVisible() for items in used(view))


def test_fewer_runs_than_before_hide_the_rest_and_no_old_curve_stays(qtbot, view, summaries):
    compare(qtbot, view, summaries)
    view.set_runs(summaries[1:])
    assert all(items.smooth.xData is None or len(items.smooth.xData) == 0
               for items in view.items)  # until the new ones are drawn
    assert not view.items[2].text.isVisible() and not view.items[2].smooth.isVisible()
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT):
        pass
    assert [items.text.text().split(" — ")[0] for items in used(view)] == ["beta", "gamma"]
    assert list(view.items[0].raw.yData) == summaries[1].history["loss"]


def test_dates_and_epochs_read_as_people_write_them(summaries):
    assert local_time("2026-11-29T20:45:10") == "2026-11-29 20:45"
    aware = QtCore.QDateTime.fromString("2026-11-29T20:45:00Z", QtCore.Qt.DateFormat.ISODate)
    assert local_time("2026-11-29T20:45:00+00:00") == aware.toLocalTime().toString(
        "yyyy-MM-dd HH:mm")
    assert [epochs_text(run) for run in summaries] == ["2", "3", "1 of 4"]


def test_the_palette_is_readable_on_light_and_dark_backgrounds():
    from designer.training.compare_view import PALETTE

    def luminance(colour):
        channels = [c / 255 for c in QtGui.QColor(colour).getRgb()[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    def contrast(a, b):
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    assert len(set(PALETTE)) == 8
    assert all(contrast(c, "#ffffff") >= 3 and contrast(c, "#232323") >= 3 for c in PALETTE)
