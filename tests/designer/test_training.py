"""The Train panel and its worker thread, on the embedded digits with tiny runs."""

import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from designer import dialogs
from designer.training import panel as panel_module
from designer.training.classify_view import ImageFileError, read_image
from designer.training.panel import TrainPanel
from designer.training import worker as worker_module
from designer.training.worker import STEP_INTERVAL, TrainingWorker
from engine.spec import Volume
from engine.trainer import EpochEvent, StepEvent, TrainControl

RUN = 30_000   # ms: generous, for a loaded 2-core CI machine; the runs take well under a second


@pytest.fixture
def errors(monkeypatch):
    """Sentences that would have been shown in an error dialog."""
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text: shown.append(text))
    return shown


@pytest.fixture
def panel(qtbot, open_document, errors):
    p = TrainPanel(open_document("default"))
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    qtbot.waitExposed(p)
    p.settings.widgets["batch_size"].setValue(64)
    p.settings.widgets["epochs"].setValue(1)
    yield p
    p.shutdown()


def collect(signal):
    received = []
    signal.connect(received.append)
    return received


def train(qtbot, panel, outcome="completed"):
    with qtbot.waitSignal(panel.worker.finished, timeout=RUN) as blocker:
        assert panel.train()
    assert blocker.args == [outcome]


def wait_for_maps(qtbot, panel):
    """The activation view asks for its maps once it knows the trained network, which on a
    short run can be after the run ended; they arrive right after."""
    qtbot.waitUntil(lambda: panel.activation_view.tile_count > 0, timeout=RUN)


def start_long_run(qtbot, panel):
    """Start a run far longer than any test and return once its first steps arrived."""
    panel.settings.widgets["epochs"].setValue(500)
    with qtbot.waitSignal(panel.worker.steps, timeout=RUN):
        assert panel.train()


def test_a_tiny_run_completes_and_the_plots_hold_every_reported_point(qtbot, panel):
    panel.settings.widgets["epochs"].setValue(2)
    steps, epochs = collect(panel.worker.steps), collect(panel.worker.epoch)
    locks = collect(panel.locked)
    train(qtbot, panel)
    reported = [e for batch in steps for e in batch]
    # xData/yData: everything set on the curves (getData is clipped to the view).
    x, loss = panel.loss_plot.raw_curve.xData, panel.loss_plot.raw_curve.yData
    assert len(x) == len(reported) == 2 * 26 == len(panel.loss_plot.smooth_curve.yData)
    assert list(x) == [e.step for e in reported]
    assert list(loss) == [e.loss for e in reported]
    assert list(panel.loss_plot.lr_curve.yData) == [e.lr for e in reported]
    epochs_x, train_acc = panel.accuracy_plot.train_curve.getData()
    assert list(epochs_x) == [1, 2] and list(train_acc) == [100 * e.train_acc for e in epochs]
    assert panel.accuracy_plot.val_curve.getData()[1][-1] > 50    # the digits are easy
    assert loss[-5:].mean() < loss[:5].mean()                    # it learned
    assert locks == [True, False]                                # the canvas was locked meanwhile
    assert panel.confusion_view.matrix.sum() == len(panel.session.data.val_y)
    assert "Finished" in panel.status.text()
    assert panel.buttons["Train"].isEnabled() and panel.save_button.isEnabled()


def test_metric_updates_are_batched_and_at_most_twenty_a_second(qtbot, monkeypatch):
    """The worker's loop, run here without a thread on a fake clock: 1,000 steps of 1 ms
    and an epoch end reach the GUI as at most 20 step batches a second, none lost."""
    clock = [0.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])

    class FakeTrainer:
        class run:
            class_names = ["a", "b"]

        def train(self):
            for step in range(1, 1001):
                clock[0] += 0.001
                yield StepEvent(1 + step // 500, step, (step - 1) % 500 + 1, 500, 1.0, 0.1,
                                100.0, 1.0)
                if step % 500 == 0:
                    yield EpochEvent(step // 500, 0.5, 0.5, 1.0, 1.0)

        def confusion_matrix(self, split):
            return np.eye(2, dtype=int)

    worker = TrainingWorker()
    posted = []
    monkeypatch.setattr(worker, "_post", lambda generation, kind, payload: posted.append(
        (clock[0], kind, payload)))
    worker._trainer = FakeTrainer()
    assert worker._run(0, worker._trainer, TrainControl()) == "completed"
    batches = [(t, p) for t, kind, p in posted if kind == "steps"]
    assert [e.step for _, p in batches for e in p] == list(range(1, 1001))
    assert len(batches) <= 1.0 / STEP_INTERVAL + 2         # + the flushes at the epoch ends
    assert [kind for _, kind, _ in posted].count("epoch") == 2
    assert posted[-1][1] == "confusion"


def test_a_second_run_cannot_start_while_one_runs(qtbot, panel):
    start_long_run(qtbot, panel)
    assert not panel.buttons["Train"].isEnabled()
    assert not panel.settings.isEnabled()
    assert panel.train() is False
    with qtbot.waitSignal(panel.worker.finished, timeout=RUN):
        panel.stop()


def test_pause_holds_the_step_count_still_and_resume_goes_on(qtbot, panel):
    start_long_run(qtbot, panel)
    panel.pause()
    assert panel.buttons["Resume"].isEnabled() and not panel.buttons["Pause"].isEnabled()
    with qtbot.waitSignal(panel.worker.confusion, timeout=RUN):   # answered while paused
        panel.worker.request_confusion()
    held = len(panel.loss_plot.steps)
    with qtbot.waitSignal(panel.worker.confusion, timeout=RUN):
        panel.worker.request_confusion()
    assert len(panel.loss_plot.steps) == held
    with qtbot.waitSignal(panel.worker.steps, timeout=RUN):
        panel.resume()
    assert len(panel.loss_plot.steps) > held
    with qtbot.waitSignal(panel.worker.finished, timeout=RUN):
        panel.stop()


def test_stop_ends_the_run_early(qtbot, panel):
    start_long_run(qtbot, panel)
    with qtbot.waitSignal(panel.worker.finished, timeout=RUN) as blocker:
        panel.stop()
    assert blocker.args == ["stopped"]
    assert len(panel.loss_plot.steps) < 500 * 26
    assert "Stopped" in panel.status.text()
    assert panel.buttons["Train"].isEnabled()


def test_activation_grid_shows_one_tile_per_depth_slice(qtbot, panel):
    train(qtbot, panel)
    wait_for_maps(qtbot, panel)
    assert panel.activation_view.layer.currentText().startswith("conv1")
    assert panel.activation_view.tile_count == 16
    conv2 = next(l for l in panel.document.spec.layers if l.name == "conv2")
    with qtbot.waitSignal(panel.worker.activations, timeout=RUN,
                          check_params_cb=lambda p: p.layer_id == conv2.id):
        panel.document.select([conv2.id])                   # follows the canvas selection
    assert panel.activation_view.layer_id == conv2.id
    assert panel.activation_view.tile_count == 32
    assert "4×4×32" in panel.activation_view.caption.text()
    with qtbot.waitSignal(panel.worker.activations, timeout=RUN,
                          check_params_cb=lambda p: p.sample == 5):
        panel.activation_view.sample.setValue(5)
    shown = panel.activation_view.input_item.image
    assert np.array_equal(shown, panel.session.data.val_x[5][..., 0])


def test_hovering_a_tile_names_its_slice_and_value_range(qtbot, panel):
    train(qtbot, panel)
    wait_for_maps(qtbot, panel)
    grid = panel.activation_view.grid
    m = grid.mosaic
    scene_pos = grid.item.mapToScene(m.tile_width + 1.5 + 0.5, 0.5)   # second tile
    grid._mouse_moved(scene_pos)
    low, high = m.ranges[1]
    assert grid.hover.text() == f"depth slice 1: values {low:.3g} … {high:.3g}"


def test_filter_view_shows_one_tile_per_filter(qtbot, panel):
    train(qtbot, panel)
    assert panel.filters_view.tile_count == 16
    assert "16 filters of 3×3×1" in panel.filters_view.caption.text()


def test_a_huge_learning_rate_shows_the_error_and_keeps_the_last_good_weights(
        qtbot, panel, errors, tmp_path):
    panel.settings.widgets["lr"].setValue(1e6)
    panel.settings.widgets["epochs"].setValue(3)
    train(qtbot, panel, outcome="failed")
    assert len(errors) == 1 and "learning rate" in errors[0] and "were kept" in errors[0]
    assert panel.status.text() == errors[0]
    assert panel.buttons["Train"].isEnabled()
    with qtbot.waitSignal(panel.worker.filters, timeout=RUN) as blocker:
        panel.worker.watch_filters(True)
    assert np.isfinite(blocker.args[0].mosaic.ranges).all()
    with qtbot.waitSignal(panel.worker.saved, timeout=RUN):
        panel.worker.save_checkpoint(tmp_path / "after-error.ckpt")
    assert len(errors) == 1


def test_training_an_invalid_network_says_which_layer_and_trains_nothing(qtbot, panel, errors):
    conv = panel.document.spec.layers[1]
    panel.document.set_params(conv.id, stride=3)
    train(qtbot, panel, outcome="failed")
    assert len(errors) == 1 and f"'{conv.name}'" in errors[0] and "\n" not in errors[0]
    assert "is not a whole number" in errors[0]
    assert panel.buttons["Train"].isEnabled() and not panel.document.locked


def test_saving_then_opening_a_checkpoint_restores_network_charts_and_views(
        qtbot, panel, open_document, tmp_path):
    panel.settings.widgets["epochs"].setValue(2)
    train(qtbot, panel)
    trained = panel.document.spec
    loss = panel.loss_plot.raw_curve.yData.copy()
    val = panel.accuracy_plot.val_curve.getData()[1].copy()
    matrix = panel.confusion_view.matrix.copy()
    path = tmp_path / "run.ckpt"
    with qtbot.waitSignal(panel.worker.saved, timeout=RUN):
        panel.worker.save_checkpoint(path)

    other = TrainPanel(open_document("cifar10"))
    qtbot.addWidget(other)
    other.show()
    try:
        with qtbot.waitSignal(other.worker.finished, timeout=RUN) as blocker:
            assert other.open_checkpoint(path)
        assert blocker.args == ["opened"]
        assert other.document.spec == trained
        assert np.array_equal(other.loss_plot.raw_curve.yData, loss)
        assert np.array_equal(other.accuracy_plot.val_curve.getData()[1], val)
        assert np.array_equal(other.confusion_view.matrix, matrix)
        assert other.filters_view.tile_count == 16
        # The layer list arrives with the checkpoint; its maps follow right after.
        qtbot.waitUntil(lambda: other.activation_view.tile_count == 16, timeout=RUN)
        assert other.settings.config().epochs == 2
        assert other.picker.source == "digits"
        assert "Checkpoint opened" in other.status.text()
    finally:
        other.shutdown()


def test_classify_shows_the_top_classes_of_a_validation_image(qtbot, panel):
    train(qtbot, panel)
    sample = panel.session.data.val_x[3]
    with qtbot.waitSignal(panel.worker.prediction, timeout=RUN,
                          check_params_cb=lambda p: np.array_equal(p.image, sample)) as blocker:
        panel.classify_view.sample.setValue(3)
        panel.classify_view.pick.click()
    probabilities = blocker.args[0].probabilities
    heights = panel.classify_view.bars.opts["height"]
    assert len(heights) == 5
    assert heights[0] == pytest.approx(100 * probabilities.max())
    assert list(heights) == sorted(heights, reverse=True)


def test_an_image_file_is_read_at_the_network_input_size(tmp_path):
    path = tmp_path / "seven.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    assert read_image(path, Volume(8, 8, 1)).shape == (8, 8, 1)
    assert read_image(path, Volume(32, 32, 3))[0, 0].tolist() == [200, 10, 10]
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageFileError, match="notes.png is not an image"):
        read_image(tmp_path / "notes.png", Volume(8, 8, 1))


def test_the_gpu_choice_is_disabled_with_the_reason_when_no_gpu_is_usable(panel):
    from designer.training.settings import gpu_unavailable_reason
    item = panel.settings.device.model().item(1)
    reason = gpu_unavailable_reason()
    assert item.isEnabled() == (reason is None)
    if reason:
        assert item.toolTip() == reason


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_twenty_start_stop_cycles_leak_no_threads(qtbot, panel):
    def cycle():
        start_long_run(qtbot, panel)
        with qtbot.waitSignal(panel.worker.finished, timeout=RUN):
            panel.stop()

    cycle()   # the first run starts the worker's one thread (and BLAS's)
    before = threading.active_count(), native_threads()
    for _ in range(20):
        cycle()
    assert (threading.active_count(), native_threads()) == before


def test_closing_the_window_mid_training_stops_the_worker_within_a_second(
        qtbot, monkeypatch, capfd):
    from designer.main_window import MainWindow
    window = MainWindow()
    window.show()
    panel = window.train_panel
    asked = []
    monkeypatch.setattr(panel_module, "ask_stop_training", lambda parent: asked.append(1) or True)
    panel.settings.widgets["batch_size"].setValue(64)
    start_long_run(qtbot, panel)
    assert window.document.locked
    window.document.mark_saved()
    began = time.monotonic()
    assert window.close()
    assert time.monotonic() - began < 1.0
    assert asked == [1]
    assert not panel.worker.busy and panel.worker._pool.activeThreadCount() == 0
    with qtbot.waitSignal(window.destroyed, timeout=RUN):
        window.deleteLater()
    assert "Destroyed while thread" not in capfd.readouterr().err


def test_declining_to_stop_keeps_the_window_open_and_training(qtbot, window, monkeypatch):
    panel = window.train_panel
    monkeypatch.setattr(panel_module, "ask_stop_training", lambda parent: False)
    start_long_run(qtbot, panel)
    assert not window.close()
    assert window.isVisible() and panel.worker.busy
    with qtbot.waitSignal(panel.worker.finished, timeout=RUN):
        panel.stop()
    assert not window.document.locked


def test_checkpoint_commands_are_in_the_file_menu_and_follow_the_run(qtbot, window):
    panel = window.train_panel
    texts = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Open Checkpoint…" in texts and "Save Checkpoint…" in texts
    assert not panel.save_action.isEnabled()          # nothing trained yet
    panel.settings.widgets["batch_size"].setValue(64)
    panel.settings.widgets["epochs"].setValue(1)
    train(qtbot, panel)
    assert panel.save_action.isEnabled() and panel.open_action.isEnabled()


def test_an_image_dropped_on_classify_is_classified_at_the_input_size(
        qtbot, panel, tmp_path, send_drag):
    from PySide6 import QtCore
    train(qtbot, panel)
    path = tmp_path / "digit.png"
    Image.fromarray(np.kron(panel.session.data.val_x[7][..., 0], np.ones((4, 4), np.uint8))
                    ).save(path)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    # The answer for the dropped image, not one for a validation image asked for before it.
    with qtbot.waitSignal(panel.worker.prediction, timeout=RUN,
                          check_params_cb=lambda p: p.image is panel.classify_view._submitted):
        assert send_drag(panel.classify_view, mime, QtCore.QPoint(20, 20))
    assert panel.classify_view._submitted.shape == (8, 8, 1)
    assert panel.classify_view.caption.text().startswith("Most likely:")


def test_log_scale_puts_loss_and_learning_rate_on_log_axes(qtbot, panel):
    train(qtbot, panel)
    plots = (panel.loss_plot.loss_plot, panel.loss_plot.lr_plot)
    panel.loss_plot.log_scale.setChecked(True)
    assert all(p.getPlotItem().ctrl.logYCheck.isChecked() for p in plots)
    assert len(panel.loss_plot.raw_curve.yData) == 26
    panel.loss_plot.log_scale.setChecked(False)
    assert not any(p.getPlotItem().ctrl.logYCheck.isChecked() for p in plots)


def test_open_image_classifies_the_chosen_file(qtbot, panel, tmp_path, monkeypatch):
    from designer.training import classify_view
    train(qtbot, panel)
    path = tmp_path / "grey.png"
    Image.new("L", (8, 8), 128).save(path)
    monkeypatch.setattr(classify_view, "ask_image_path", lambda parent: str(path))
    with qtbot.waitSignal(panel.worker.prediction, timeout=RUN,
                          check_params_cb=lambda p: bool((p.image == 128).all())):
        panel.classify_view.open_button.click()
    assert np.array_equal(panel.classify_view.image_item.image, np.full((8, 8), 128))
