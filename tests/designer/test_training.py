"""The Train workspace and its worker thread, on the embedded digits with tiny runs."""

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from designer import dialogs
from designer.training import session as session_module
from designer.training.network_pictures import NetworkPicture
from designer.training.session import (
    Confusion, FilterPictures, Prediction, RunShown, Saved, Session, StepBatch, TrainingEnded,
)
from designer.training.workspace import TRAIN_TIP
from engine.checkpoint import load_run
from engine.config import TrainConfig
from engine.data import load_data
from engine.run import Run
from engine.resources import network_template
from engine.runs import runs_folder
from engine.spec import Volume
from engine.task import TaskState
from engine.trainer import TrainControl, Trainer
from tests.engine.trainer_helpers import another_process_training

RUN = 30_000   # ms: generous, for a loaded 2-core CI machine; the runs take well under a second


def is_a(kind):
    return lambda result: isinstance(result, kind)


def collect(signal, kind):
    received = []
    signal.connect(lambda r: received.append(r) if isinstance(r, kind) else None)
    return received


def train(qtbot, ws, outcome="completed"):
    """Press Train and wait for the run to end; returns its TrainingEnded (None if it failed)."""
    if outcome == "failed":
        with qtbot.waitSignal(ws.worker.failed, timeout=RUN):
            assert ws.train()
        qtbot.waitUntil(lambda: not ws.worker.busy, timeout=RUN)
        return None
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN,
                          check_params_cb=is_a(TrainingEnded)) as blocker:
        assert ws.train()
    assert blocker.args[0].outcome == outcome
    return blocker.args[0]


def columns(ws, filters=False):
    return ws.network_view.strips[filters].columns


def tiles(ws, layer_id, filters=False):
    picture = columns(ws, filters)[layer_id].canvas.picture
    return 0 if picture is None or picture.mosaic is None else picture.mosaic.count


def wait_for_maps(qtbot, ws):
    """The network view asks for its pictures once it knows the trained network, which on a
    short run can be after the run ended; they arrive right after."""
    conv = ws.shown.spec.layers[1].id
    qtbot.waitUntil(lambda: conv in columns(ws) and tiles(ws, conv) > 0, timeout=RUN)


def start_long_run(qtbot, ws):
    """Start a run far longer than any test and return once its first steps arrived."""
    ws.settings.widgets["epochs"].setValue(500)
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(StepBatch)):
        assert ws.train()


def stop(qtbot, ws):
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN,
                          check_params_cb=is_a(TrainingEnded)) as blocker:
        ws.stop()
    return blocker.args[0]


def test_a_tiny_run_completes_is_kept_and_the_plots_hold_every_reported_point(qtbot, ws):
    bottom, top = ws.accuracy_plot.viewRange()[1]
    assert -5 < bottom <= 0 and 100 <= top < 105   # in percent before any epoch
    ws.settings.widgets["epochs"].setValue(2)
    steps = collect(ws.worker.reported, StepBatch)
    ended = train(qtbot, ws)
    reported = [e for batch in steps for e in batch.events]
    # xData/yData: everything set on the curves (getData is clipped to the view).
    x, loss = ws.losses.raw_curve.xData, ws.losses.raw_curve.yData
    assert len(x) == len(reported) == 2 * 26 == len(ws.losses.smooth_curve.yData)
    assert list(x) == [e.step for e in reported]
    assert list(loss) == [e.loss for e in reported]
    assert list(ws.losses.lr_curve.yData) == [e.lr for e in reported]
    epochs_x, _ = ws.accuracy_plot.train_curve.getData()
    assert list(epochs_x) == [1, 2]
    assert ws.accuracy_plot.val_curve.getData()[1][-1] > 50    # the digits are easy
    assert loss[-5:].mean() < loss[:5].mean()                  # it learned
    qtbot.waitUntil(lambda: ws.confusion_view.matrix is not None, timeout=RUN)
    assert ws.confusion_view.matrix.sum() == len(ws.shown.data.val_y)
    assert "Finished" in ws.status.text() and str(ws.shown.path) in ws.status.text()
    assert ws.buttons["Train"].isEnabled() and ws.buttons["Continue"].isEnabled()
    kept = load_run(ws.shown.path)        # the run is on disk without asking
    assert (kept.epoch, kept.step, kept.spec) == (2, ended.step, ws.document.spec)
    assert "best validation" in ws.run_label.text()


def test_metric_updates_are_batched_and_at_most_twenty_a_second(monkeypatch):
    """The session's loop on a real run, without a thread, on a fake clock: every step
    reaches the GUI in at most 20 batches a second, none lost."""
    clock = [0.0]

    def tick():
        clock[0] += 0.002
        return clock[0]

    monkeypatch.setattr(session_module.time, "monotonic", tick)
    data = load_data("digits")
    from engine.netfile import load_network
    from engine.resources import network_template
    spec = load_network(network_template("default"))
    session = Session(session_module.Requests(), session_module.PauseSwitch())
    reports = []
    state = TaskState(reports.append)
    session.start(state, spec, TrainConfig(epochs=2, batch_size=16), "digits", data, None,
                  TrainControl())
    batches = [r for r in reports if isinstance(r, StepBatch)]
    steps = [e.step for b in batches for e in b.events]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) == 2 * 102
    elapsed = clock[0]
    assert len(batches) <= elapsed / session_module.STEP_INTERVAL + 2 + 2   # + epoch flushes
    assert isinstance(reports[-1], Confusion)


def test_stop_before_training_starts_makes_no_run(qtbot, ws, monkeypatch, errors):
    """Stop while the data is read or the normaliser fitted (minutes on a large set): the
    start is abandoned there, no run is made or kept, and Train is free again."""
    start = session_module.Run.start

    def stopped_meanwhile(*args, **kwargs):
        ws.control.stop()
        return start(*args, **kwargs)

    monkeypatch.setattr(session_module.Run, "start", stopped_meanwhile)
    ended = train(qtbot, ws, outcome=session_module.NOT_STARTED)
    assert ws.shown is None and not ws.training and ws.buttons["Train"].isEnabled()
    assert "no run was made" in ws.status.text() and not errors
    assert not any(runs_folder(ws.document.path).glob("*.ckpt"))
    assert (ended.epoch, ended.step) == (0, 0)


def test_a_second_run_cannot_start_while_one_runs(qtbot, ws):
    start_long_run(qtbot, ws)
    assert not ws.buttons["Train"].isEnabled() and not ws.buttons["Continue"].isEnabled()
    assert not ws.settings.isEnabled()
    assert ws.train() is False
    stop(qtbot, ws)


def test_pause_holds_the_step_count_still_and_resume_goes_on(qtbot, ws):
    start_long_run(qtbot, ws)
    ws.toggle_pause()
    assert ws.buttons["Pause"].text() == "Resume"
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(Confusion)):
        ws.confusion_view.compute.click()                      # answered while paused
    held = len(ws.losses.steps)
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(Confusion)):
        ws.confusion_view.compute.click()
    assert len(ws.losses.steps) == held
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(StepBatch)):
        ws.toggle_pause()
    assert len(ws.losses.steps) > held and ws.buttons["Pause"].text() == "Pause"
    stop(qtbot, ws)


def test_a_run_is_on_disk_from_its_first_step_so_a_kill_in_its_first_epoch_keeps_it(
        qtbot, ws):
    ws.settings.widgets["batch_size"].setValue(1)    # a first epoch of 1,617 steps
    start_long_run(qtbot, ws)
    ws.toggle_pause()
    run = load_run(ws.shown.path)   # what a kill -9 now leaves: the run, listed and continued
    assert (run.epoch, run.config.batch_size, run.name) == (0, 1, ws.shown.name)
    stop(qtbot, ws)


def test_stop_ends_the_run_early_and_keeps_it_where_it_stopped(qtbot, ws):
    start_long_run(qtbot, ws)
    ended = stop(qtbot, ws)
    assert ended.outcome == "stopped" and len(ws.losses.steps) < 500 * 26
    assert "Stopped" in ws.status.text() and ws.buttons["Train"].isEnabled()
    assert load_run(ws.shown.path).step == ended.step


def test_the_whole_network_shows_a_column_per_layer_and_a_tile_per_depth_slice(qtbot, ws):
    train(qtbot, ws)
    wait_for_maps(qtbot, ws)
    spec = ws.shown.spec
    assert list(columns(ws)) == [l.id for l in spec.layers]
    conv1, conv2 = (l for l in spec.layers if l.type == "conv")
    assert tiles(ws, conv1.id) == 16 and tiles(ws, conv2.id) == 32
    ws.document.select([conv2.id])                        # follows the canvas selection
    assert columns(ws)[conv2.id].marked
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda p: isinstance(
            p, NetworkPicture) and p.sample == 4):
        ws.network_view.sample.setValue(5)                 # counted from 1 on screen
    assert "validation image 5 of" in ws.network_view.sample.text()


def test_the_filters_of_every_convolution_show_a_tile_per_filter(qtbot, ws):
    train(qtbot, ws)
    wait_for_maps(qtbot, ws)
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(FilterPictures)):
        ws.network_view.filters_button.click()
    conv1, conv2 = (l for l in ws.shown.spec.layers if l.type == "conv")
    assert tiles(ws, conv1.id, filters=True) == 16 and tiles(ws, conv2.id, filters=True) == 32


def test_a_huge_learning_rate_shows_the_error_keeps_the_last_good_weights_and_the_run(
        qtbot, ws, errors, tmp_path):
    ws.settings.widgets["lr"].setValue(1e6)
    ws.settings.widgets["epochs"].setValue(3)
    train(qtbot, ws, outcome="failed")
    assert len(errors) == 1 and "learning rate" in errors[0] and "were kept" in errors[0]
    assert ws.status.text() == errors[0]
    assert ws.buttons["Train"].isEnabled()
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN,
                          check_params_cb=is_a(FilterPictures)) as blocker:
        ws.network_view.filters_button.click()
    assert all(np.isfinite(p.mosaic.ranges).all() for p in blocker.args[0].pictures)
    kept = load_run(ws.shown.path)   # saved as it was when the guard stopped it
    assert all(np.isfinite(v).all() for _, v, _ in kept.model.parameters())
    assert len(errors) == 1


def test_a_failed_start_keeps_the_previous_run_and_its_results(qtbot, ws, errors):
    train(qtbot, ws)
    shown, loss = ws.shown, ws.losses.raw_curve.yData.copy()
    conv = ws.document.spec.layers[1]
    ws.document.set_params(conv.id, stride=3)             # the canvas network is invalid now
    train(qtbot, ws, outcome="failed")
    assert len(errors) == 1 and f"'{conv.name}'" in errors[0] and "\n" not in errors[0]
    assert "is not a whole number" in errors[0]
    assert ws.shown is shown and np.array_equal(ws.losses.raw_curve.yData, loss)
    assert ws.buttons["Continue"].isEnabled()  # the run shown trains on; a new one cannot
    assert not ws.buttons["Train"].isEnabled()
    assert "is not a whole number" in ws.buttons["Train"].toolTip()


def test_a_runs_folder_that_cannot_be_made_is_one_sentence_and_no_run_starts(
        qtbot, ws, errors, tmp_path, monkeypatch):
    a_file = tmp_path / "a file"
    a_file.write_text("")
    monkeypatch.setenv("CONVNET_DESIGNER_HOME", str(a_file / "home"))
    train(qtbot, ws, outcome="failed")
    assert errors == [f"Could not make the folder '{a_file / 'home' / 'runs'}' to keep the "
                      "run in: Not a directory."]
    assert ws.shown is None and ws.buttons["Train"].isEnabled()


def test_results_after_the_network_changes_are_marked_and_the_run_keeps_its_network(
        qtbot, ws, tmp_path):
    train(qtbot, ws)
    trained = ws.shown.spec
    assert ws.banner_box.isHidden()
    conv = ws.document.spec.layers[1]
    ws.document.set_params(conv.id, filters=5)             # the user goes on designing
    assert not ws.banner_box.isHidden() and ws.shown.name in ws.banner.text()
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(Saved)):
        ws._ask(session_module.SaveRequest(tmp_path / "copy.ckpt"))
    assert load_run(tmp_path / "copy.ckpt").spec == trained  # the run's own network
    assert load_run(ws.shown.path).spec == trained
    ws.show_run_network()
    assert ws.document.spec.layers == trained.layers and ws.banner_box.isHidden()


def test_opening_run_a_then_run_b_shows_b_with_its_class_names(qtbot, ws, open_document,
                                                                 tmp_path, errors):
    from engine.checkpoint import save_run
    from tests.engine.trainer_helpers import make_trainer, quadrant_data, small_net

    train(qtbot, ws)
    a = ws.shown.path
    trainer = make_trainer(small_net(), quadrant_data(), epochs=1)
    list(trainer.train())
    trainer.run.data_source = None   # the quadrants are not on disk: shown without data
    b = tmp_path / "b.ckpt"
    save_run(trainer.run, b)
    for path, classes in ((a, [str(d) for d in range(10)]), (b, trainer.run.class_names)):
        with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(RunShown)):
            assert ws.open_run(path)
        assert ws.shown.class_names == classes and ws.shown.path == path
        assert ws.document.spec.layers == ws.shown.spec.layers
    assert not [e for e in errors if "internal" in e or "Something went wrong" in e]
    # B's data (digits, 10 classes) does not fit its 3 classes: shown without it
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(RunShown)):
        ws.open_run(a)
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=is_a(Confusion)):
        ws.confusion_view.compute.click()
    assert ws.confusion_view.table.rowCount() == 10


def test_continuing_a_run_equals_an_uninterrupted_one(qtbot, ws):
    ws.settings.widgets["seed"].setValue(7)
    train(qtbot, ws)
    ws.settings.widgets["epochs"].setValue(3)
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(TrainingEnded)):
        assert ws.continue_run()
    continued = load_run(ws.shown.path)
    data = load_data("digits")
    straight = Run.start(ws.shown.spec, data, TrainConfig(**{**ws.shown.config.__dict__,
                                                              "epochs": 3}), "digits")
    list(Trainer(straight, data).train())
    for (_, a, _), (_, b, _) in zip(continued.model.parameters(), straight.model.parameters()):
        assert np.array_equal(a, b)
    assert continued.history == straight.history and continued.epoch == 3


def test_a_run_another_process_trains_is_not_continued_here(qtbot, ws, errors):
    """Both would save over the other's epochs; the window says so and keeps the file."""
    train(qtbot, ws)
    path = ws.shown.path
    before = path.read_bytes()
    with another_process_training(path) as holder:
        ws.settings.widgets["epochs"].setValue(3)
        with qtbot.waitSignal(ws.worker.failed, timeout=RUN):
            assert ws.continue_run()
        qtbot.waitUntil(lambda: not ws.training, timeout=RUN)
    assert errors == [f"'{path.name}' is being trained by another process (process "
                      f"{holder.pid}); wait for it to finish or stop it, then continue the run."]
    assert ws.status.text() == errors[0] and path.read_bytes() == before


def test_classify_shows_the_top_classes_of_a_validation_image(qtbot, ws):
    train(qtbot, ws)
    sample = ws.shown.data.val_x[3]
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda p: isinstance(
            p, Prediction) and np.array_equal(p.image, sample)) as blocker:
        ws.classify_view.sample.setValue(4)              # counted from 1 on screen
        ws.classify_view.pick.click()
    probabilities = blocker.args[0].probabilities
    heights = ws.classify_view.bars.opts["height"]
    assert len(heights) == 5
    assert heights[0] == pytest.approx(100 * probabilities.max())
    assert list(heights) == sorted(heights, reverse=True)


def test_an_image_dropped_on_classify_is_classified_at_the_input_size(
        qtbot, ws, tmp_path, send_drag):
    from PySide6 import QtCore
    train(qtbot, ws)
    path = tmp_path / "digit.png"
    Image.fromarray(np.kron(ws.shown.data.val_x[7][..., 0], np.ones((4, 4), np.uint8))
                    ).save(path)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    # The answer for the dropped image, not one for a validation image asked for before it.
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda p: isinstance(
            p, Prediction) and p.image is ws.classify_view._submitted):
        assert send_drag(ws.classify_view, mime, QtCore.QPoint(20, 20))
    assert ws.classify_view._submitted.shape == (8, 8, 1)
    assert ws.classify_view.caption.text().startswith("Most likely:")


def test_classify_prepares_an_image_file_exactly_as_training_does(tmp_path):
    from engine.data import DataError, load_data
    from engine.data.folder import read_image_file

    folder = tmp_path / "set" / "red"
    folder.mkdir(parents=True)
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    image.paste((0, 0, 255), (0, 0, 20, 30))                 # not the same all over
    image.save(folder / "seven.png")
    (tmp_path / "set" / "blue").mkdir()
    Image.new("RGB", (10, 10), (0, 0, 200)).save(tmp_path / "set" / "blue" / "b.png")
    for volume in (Volume(8, 8, 1), Volume(32, 32, 3), Volume(16, 8, 3)):
        trained = load_data(tmp_path / "set", volume, val_fraction=0)
        red = trained.train_x[list(trained.train_y).index(trained.class_names.index("red"))]
        assert np.array_equal(read_image_file(folder / "seven.png", volume), red)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match="notes.png is not an image"):
        read_image_file(tmp_path / "notes.png", Volume(8, 8, 1))


def test_the_gpu_choice_is_disabled_with_the_reason_when_no_gpu_is_usable(ws):
    from designer.training.settings import gpu_unavailable_reason
    item = ws.settings.device.model().item(1)
    reason = gpu_unavailable_reason()
    assert item.isEnabled() == (reason is None)
    if reason:
        assert item.toolTip() == reason


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_twenty_start_stop_cycles_leak_no_threads(qtbot, ws):
    def cycle():
        start_long_run(qtbot, ws)
        stop(qtbot, ws)

    cycle()   # the first run starts the worker's one thread (and BLAS's)
    before = threading.active_count(), native_threads()
    for _ in range(20):
        cycle()
    assert (threading.active_count(), native_threads()) == before


# --- in the window ------------------------------------------------------------------------------
def test_one_batch_size_and_optimizer_for_the_memory_panel_and_training(window):
    ws = window.workspace
    window.memory.batch_spin.setValue(48)
    assert ws.settings.widgets["batch_size"].value() == 48
    ws.settings.widgets["batch_size"].setValue(96)
    assert window.memory.batch_spin.value() == 96 and ws.settings.config().batch_size == 96
    ws.settings.widgets["optimizer"].setCurrentIndex(
        ws.settings.widgets["optimizer"].findData("adam"))
    assert window.memory.settings.optimizer == "adam"


def test_opening_a_template_loads_no_data_and_offers_to_fit_the_classes(qtbot, window):
    ws = window.workspace
    assert window.open_template(network_template("vgg16"))
    assert not ws.picker.worker.busy and ws.picker.data_for(ws.document.spec.input_volume) is None
    assert "1,000 class scores" in ws.readiness.fit.text()
    window.open_template(network_template("cifar10"))
    fc = next(l for l in ws.document.spec.layers if l.type == "fc")
    ws.document.set_params(fc.id, units=7)
    assert "7 class scores" in ws.readiness.fit.text() and not ws.readiness.fix_button.isHidden()
    train = ws.buttons["Train"]  # no training that would only fail once the data is read
    assert not train.isEnabled() and "7 class scores" in train.toolTip()
    ws.readiness.fix_button.click()
    assert ws.document.spec.layer(fc.id)["units"] == 10
    assert train.isEnabled() and train.toolTip() == TRAIN_TIP
    ws.document.undo_stack.undo()                      # one undo step
    assert ws.document.spec.layer(fc.id)["units"] == 7 and not train.isEnabled()


def test_the_memory_a_step_needs_is_compared_with_the_budget(window):
    ws = window.workspace
    window.open_template(network_template("vgg16"))
    ws.memory.set_batch_size(256)
    text = ws.readiness.memory_label.text()
    assert "needs" in text and "more than the budget of 4.0 GiB" in text and "fits" in text


def test_at_1366_by_768_the_loss_plot_is_tall_and_the_run_buttons_are_visible(qtbot, window):
    window.resize(1366, 768)
    window.set_mode("train")
    qtbot.waitUntil(lambda: window.workspace.isVisible())
    ws = window.workspace
    assert ws.losses.loss_plot.height() >= 200
    for button in ws.buttons.values():
        assert button.isVisible()
        corner = button.mapTo(window, button.rect().bottomRight())
        assert window.rect().contains(corner)


def test_the_mode_switch_hides_the_design_docks_and_brings_them_back(qtbot, window):
    assert window.inspector_dock.isVisible()
    window.mode_actions["train"].trigger()
    assert window.modes.currentWidget() is window.workspace and not window.inspector_dock.isVisible()
    window.mode_actions["design"].trigger()
    assert window.modes.currentWidget() is window.canvas and window.inspector_dock.isVisible()


def test_quitting_after_a_run_keeps_the_run_on_disk(qtbot, window, errors):
    ws = window.workspace
    ws.settings.widgets["batch_size"].setValue(64)
    ws.settings.widgets["epochs"].setValue(1)
    train(qtbot, ws)
    path = ws.shown.path
    assert window.close()
    assert load_run(path).epoch == 1


def test_closing_mid_training_asks_about_the_network_then_the_run(qtbot, monkeypatch, capfd):
    from designer.main_window import MainWindow
    window = MainWindow()
    window.show()
    ws = window.workspace
    asked = []
    monkeypatch.setattr(dialogs, "ask_stop_training",
                        lambda parent, path: asked.append("run") or True)
    monkeypatch.setattr(dialogs, "ask_save_changes",
                        lambda parent, name: asked.append("network") or "cancel")
    ws.settings.widgets["batch_size"].setValue(64)
    start_long_run(qtbot, ws)
    ws.document.set_params(ws.document.spec.layers[1].id, filters=3)   # unsaved
    assert not window.close()                      # Cancel at the network question…
    assert asked == ["network"] and ws.training    # …cancels all of it: still training
    monkeypatch.setattr(dialogs, "ask_save_changes",
                        lambda parent, name: asked.append("network") or "discard")
    began = time.monotonic()
    assert window.close()
    assert time.monotonic() - began < 5.0
    assert asked == ["network", "network", "run"]
    assert not ws.worker.busy and ws.worker.wait(0)   # its thread is idle
    assert load_run(ws.shown.path).step > 0
    with qtbot.waitSignal(window.destroyed, timeout=RUN):
        window.deleteLater()
    assert "Destroyed while thread" not in capfd.readouterr().err


def test_closing_while_a_long_step_runs_waits_for_it_and_keeps_the_run_where_it_stopped(
        qtbot, window, monkeypatch):
    """A large network's step on the CPU can take longer than any fixed wait: the run is
    saved after that step before the window goes, not left at its last epoch's end."""
    from designer.background import _Line

    ws = window.workspace
    monkeypatch.setattr(dialogs, "ask_stop_training", lambda parent, path: True)
    # Time runs 20 times faster for the workers' waits, so a step of 1 s here is one of 20 s
    # against a wait of a fixed length.
    wait = _Line.wait
    monkeypatch.setattr(_Line, "wait", lambda line, s: wait(line, s if s is None else s / 20))
    step = Trainer.train_batch

    def slow_third_step(trainer, *args, **kwargs):
        if trainer.run.step == 2:
            time.sleep(1)
        return step(trainer, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_batch", slow_third_step)
    ws.settings.widgets["batch_size"].setValue(1)
    start_long_run(qtbot, ws)
    assert window.close()
    assert window.statusBar().currentMessage() == "Saving the run after its current step…"
    run = load_run(ws.shown.path)
    assert run.epoch == 0 and run.step >= 3   # saved after the long step


def test_declining_to_stop_keeps_the_window_open_and_training(qtbot, window, monkeypatch):
    ws = window.workspace
    monkeypatch.setattr(dialogs, "ask_stop_training", lambda parent, path: False)
    ws.settings.widgets["batch_size"].setValue(64)
    start_long_run(qtbot, ws)
    assert not window.close()
    assert window.isVisible() and ws.training
    stop(qtbot, ws)


def test_runs_of_a_saved_network_are_kept_beside_it(qtbot, window, tmp_path):
    ws = window.workspace
    net = tmp_path / "net.json"
    assert window._write(net)
    ws.settings.widgets["batch_size"].setValue(128)
    ws.settings.widgets["epochs"].setValue(1)
    train(qtbot, ws)
    assert ws.shown.path.parent == tmp_path / "runs"
    assert load_run(ws.shown.path).network_file == str(Path(net).resolve())


# --- runs: listed, compared, renamed while shown ---------------------------------------------------
def run_names(ws):
    return [ws.runs_view.proxy.index(r, 0).data() for r in range(ws.runs_view.proxy.rowCount())]


def test_every_run_is_listed_and_two_runs_compare(qtbot, window, monkeypatch):
    ws = window.workspace
    ws.settings.widgets["batch_size"].setValue(128)
    ws.settings.widgets["epochs"].setValue(1)
    train(qtbot, ws)
    first = ws.shown
    ws.settings.widgets["lr"].setValue(0.05)
    train(qtbot, ws)
    qtbot.waitUntil(lambda: ws.runs_view.proxy.rowCount() == 2, timeout=RUN)
    assert ws.runs_view.model.row_of(ws.shown.path) is not None
    assert "open" in ws.runs_view.model.marks(ws.shown.path)
    ws.runs_view.table.selectAll()
    ws.runs_view.compare_selected()
    assert ws.pictures.currentWidget() is ws.compare_view
    assert {r.path for r in ws.compare_view.runs} == {first.path, ws.shown.path}
    qtbot.waitUntil(lambda: all(i.smooth.xData is not None and len(i.smooth.xData)
                                for i in ws.compare_view.items[:2]), timeout=RUN)
    assert {len(i.smooth.xData) for i in ws.compare_view.items[:2]} == {len(ws.losses.steps)}


def test_renaming_the_run_shown_keeps_the_new_name_in_later_saves(qtbot, ws, monkeypatch):
    train(qtbot, ws)
    path = ws.shown.path
    qtbot.waitUntil(lambda: ws.runs_view.proxy.rowCount() == 1, timeout=RUN)
    monkeypatch.setattr(dialogs, "ask_run_name", lambda parent, current: "my first run")
    ws.runs_view.table.selectRow(0)
    with qtbot.waitSignal(ws.runs_view.renamed, timeout=RUN):
        ws.runs_view.rename_selected()
    assert "my first run" in ws.run_label.text()
    ws.settings.widgets["epochs"].setValue(2)
    with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(TrainingEnded)):
        assert ws.continue_run()
    assert load_run(path).name == "my first run" and load_run(path).epoch == 2
