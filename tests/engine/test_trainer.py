"""The training loop: events, determinism, control, NaN guard, inspection API."""

import threading
import time

import numpy as np
import pytest

import engine.run as run_module
import engine.trainer as trainer_module
from engine.checkpoint import load_run
from engine.config import TrainConfig, TrainingError
from engine.spec import make_layer, network
from engine.trainer import EpochEvent, StepEvent, TrainControl
from tests.engine.standin import STANDIN, costs
from tests.engine.trainer_helpers import make_trainer, quadrant_data, small_net

FAST = dict(batch_size=16, lr=0.05, epochs=2)


def weights_of(trainer):
    run = trainer.run
    return [run.backend.to_numpy(v).copy() for _, v, _ in run.model.parameters()]


def test_events_history_and_learning():
    trainer = make_trainer(**{**FAST, "epochs": 4})
    events = list(trainer.train())
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(steps) == 4 * 4 and [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert [s.step for s in steps] == list(range(1, 17))
    assert [(s.batch, s.batches) for s in steps[:4]] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(s.images_per_s > 0 and s.eta_s >= 0 for s in steps) and steps[-1].eta_s == 0
    run = trainer.run
    assert run.history["step"] == list(range(1, 17)) and len(run.history["loss"]) == 16
    assert run.history["val_acc"] == [e.val_acc for e in epochs]
    assert epochs[-1].val_acc > 0.8 and epochs[-1].train_loss < steps[0].loss
    assert (run.epoch, run.step, run.offset) == (4, 16, 0)


def test_same_seed_same_run_and_other_seed_other_run():
    config = TrainConfig(**FAST, flip=True, crop_pad=1)
    runs = []
    for seed in (5, 5, 6):
        trainer = make_trainer(small_net(dropout=True), **{**config.__dict__, "seed": seed})
        losses = [e.loss for e in trainer.train() if isinstance(e, StepEvent)]
        runs.append((losses, weights_of(trainer)))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_stop_ends_the_run_between_batches():
    trainer = make_trainer(**FAST)
    for event in trainer.train():
        if event.step == 3:
            trainer.control.stop()
    assert (trainer.run.step, trainer.run.epoch, trainer.run.offset) == (3, 0, 48)


def test_pause_holds_the_run_until_resume():
    trainer = make_trainer(**FAST)
    run = trainer.train()
    next(run)
    trainer.control.pause()
    assert trainer.control.paused
    threading.Timer(0.3, trainer.control.resume).start()
    start = time.perf_counter()
    event = next(run)
    assert time.perf_counter() - start >= 0.25 and event.step == 2
    assert not trainer.control.paused


def test_stop_while_paused_ends_the_run():
    control = TrainControl()
    trainer = make_trainer(control=control, **FAST)
    run = trainer.train()
    next(run)
    control.pause()
    threading.Timer(0.1, control.stop).start()
    assert list(run) == [] and trainer.run.step == 1


def test_nan_guard_keeps_the_last_good_weights():
    trainer = make_trainer(**{**FAST, "lr": 1e30, "optimizer": "sgd"})
    after_step = [weights_of(trainer)]  # after_step[k]: the weights once update k is made
    with pytest.raises(TrainingError) as e:
        for event in trainer.train():
            if isinstance(event, StepEvent):
                after_step.append(weights_of(trainer))
    message = str(e.value)
    step = trainer.run.step
    assert f"at step {step + 1};" in message and "learning rate 1e+30" in message
    assert f"weights after step {step - 1}, the last" in message or step <= 1
    assert "were kept." in message and "\n" not in message
    # update N made the loss of step N+1 blow up, so the weights from before it are kept
    good = after_step[max(step - 1, 0)]
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(trainer), good))
    loss, _ = trainer.evaluate("val")
    assert np.isfinite(loss)


def test_nan_guard_checks_the_last_update_before_the_validation():
    # one step an epoch: no next step would see that its update made the loss NaN
    trainer = make_trainer(**{**FAST, "batch_size": 64, "lr": 1e30, "optimizer": "sgd"})
    initial = weights_of(trainer)
    with pytest.raises(TrainingError) as e:
        list(trainer.train())
    message = str(e.value)
    assert message.startswith("The loss became NaN after step 1's update;")
    assert "The initial weights, the last that gave a finite loss, were kept." in message
    run = trainer.run
    assert (run.step, run.epoch, run.history["val_loss"]) == (0, 0, [])
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(trainer), initial))
    assert np.isfinite(trainer.evaluate("val")[0])


def test_inspection_returns_numpy():
    data = quadrant_data()
    trainer = make_trainer(data=data, **FAST)
    list(trainer.train())
    run = trainer.run
    spec = run.spec
    conv, pool, fc, loss = (spec.layers[i].id for i in (1, 4, 5, 6))
    a = run.activations(conv, data.val_x[:5])
    assert a.shape == (5, 8, 8, 4) and a.dtype == np.float32 and isinstance(a, np.ndarray)
    assert run.activations(pool, data.val_x[:5]).shape == (5, 4, 4, 4)
    assert run.activations(spec.layers[0].id, data.val_x[:2]).shape == (2, 8, 8, 1)
    assert run.activations(pool, data.val_x[:0]).shape == (0, 4, 4, 4)
    probabilities = run.activations(loss, data.val_x[:5])
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1, rtol=1e-5)
    w = run.weights(conv)
    assert w["W"].shape == (3, 3, 1, 4) and w["b"].shape == (4,)
    w["W"][...] = 0  # a copy: the model is untouched
    assert np.abs(run.weights(conv)["W"]).sum() > 0
    assert run.weights(fc)["W"].shape == (64, 3) and run.weights(pool) == {}
    p = run.predict(data.val_x)
    assert p.shape == (15, 3)
    np.testing.assert_allclose(p[:5], probabilities.reshape(5, 3), rtol=1e-6, atol=1e-9)
    cm = trainer.confusion_matrix("val")
    assert cm.shape == (3, 3) and cm.sum() == 15
    assert np.trace(cm) / 15 == pytest.approx(trainer.evaluate("val")[1])
    with pytest.raises(TrainingError, match="has no test split"):
        trainer.confusion_matrix("test")


def test_the_trainer_runs_on_the_standin_gpu(monkeypatch):
    monkeypatch.setattr(run_module, "get_backend", lambda device: STANDIN)
    data = quadrant_data()
    trainer = make_trainer(small_net(dropout=True), data, **FAST, flip=True)
    events = list(trainer.train())
    run = trainer.run
    assert isinstance(events[-1], EpochEvent)
    assert isinstance(run.predict(data.val_x[:3]), np.ndarray)
    assert isinstance(run.activations(run.spec.layers[1].id, data.val_x[:3]), np.ndarray)
    assert trainer.confusion_matrix().sum() == len(data.val_x)


def test_a_step_on_a_gpu_waits_as_often_whatever_the_parameters_and_whether_sampled(monkeypatch):
    """Each value a step reads into Python waits for the GPU: the loss, the weight decay's
    penalty, the one check that every gradient is finite, the count of right answers and
    the health monitor's ratios, with its sampled statistics in the same transfer: as many
    for ten trained arrays as for six, and on the steps whose statistics are sampled."""
    monkeypatch.setattr(run_module, "get_backend", lambda device: STANDIN)
    deep = network("deep", (8, 8, 1),
                   *[make_layer("conv", f"c{i}", filters=4, size=3, pad=1) for i in range(3)],
                   make_layer("relu"), make_layer("fc", "f1", units=6),
                   make_layer("fc", "f2", units=3), make_layer("softmax"))
    for spec in (small_net(), deep):
        trainer = make_trainer(spec, batch_size=16, lr=0.05, weight_decay=1e-3)
        for step in range(3):
            with costs() as spent:
                trainer.train_batch(np.arange(16 * step, 16 * step + 16), 0.05)
            assert (spent.reads, spent.copies) == (5, 0)
        assert trainer.health.sampled_step == 1


def test_data_that_does_not_fit_the_network_is_one_sentence():
    data = quadrant_data()
    spec = small_net()
    wide = spec.replaced(spec.layers[0].with_params(width=10))
    with pytest.raises(TrainingError, match=r"are 8×8×1 but the network's input is 10×8×1"):
        make_trainer(wide, data)
    fc = next(l for l in spec.layers if l.type == "fc")
    with pytest.raises(TrainingError, match="gives 5 class scores but 'quadrants' has 3"):
        make_trainer(spec.replaced(fc.with_params(units=5)), data)


@pytest.mark.parametrize("change,text", [
    ({"lr": 0}, "learning rate must be a positive number"),
    ({"optimizer": "lbfgs"}, "optimizer 'lbfgs' is unknown"),
    ({"batch_size": 0}, "batch size must be from 1 to"),
    ({"momentum": 1.0}, "momentum must be at least 0 and below 1"),
])
def test_bad_settings_are_refused(change, text):
    with pytest.raises(TrainingError, match=text):
        make_trainer(**change)


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "rmsprop", "adam"])
@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_every_optimizer_and_schedule_trains(optimizer, schedule):
    lr = 0.01 if optimizer in ("rmsprop", "adam") else 0.05
    trainer = make_trainer(optimizer=optimizer, schedule=schedule, lr=lr, step_epochs=1,
                           batch_size=16, epochs=3)
    events = [e for e in trainer.train() if isinstance(e, EpochEvent)]
    assert events[-1].train_loss < events[0].train_loss
    if schedule == "step":
        assert trainer.run.history["lr"][-1] == pytest.approx(lr * 0.01)


def test_layer_outputs_are_every_layer_of_one_forward_pass():
    data = quadrant_data()
    trainer = make_trainer(data=data, **FAST)
    list(trainer.train())
    run, image = trainer.run, data.val_x[3]
    outputs = run.layer_outputs(image)
    assert len(outputs) == len(run.spec.layers)
    for layer, out in zip(run.spec.layers, outputs):
        np.testing.assert_allclose(out, run.activations(layer.id, image[None])[0], rtol=1e-6)
    assert outputs[-1].shape == (1, 1, 3) and outputs[-1].sum() == pytest.approx(1, rel=1e-6)


def test_the_losses_reported_are_data_losses():
    """Weight decay's penalty stays out of the losses, as out of the validation's, so that
    the two compare; the gradients still carry it."""
    first = {}
    for decay in (0.0, 0.5):
        trainer = make_trainer(**{**FAST, "epochs": 1, "weight_decay": decay})
        events = list(trainer.train())
        first[decay] = events[0].loss
    assert first[0.5] == first[0.0]  # the same initial weights, the same data loss


def test_an_epoch_is_saved_as_it_goes_so_a_kill_loses_little(tmp_path, monkeypatch):
    """A kill within a long epoch loses at most KEEP_EVERY_S of training, not the epoch."""
    keep = tmp_path / "run.ckpt"
    events = make_trainer(keep_at=keep, batch_size=10, epochs=1).train()   # 6 steps
    next(events), next(events)
    assert load_run(keep).step == 0          # written as it started; two minutes not up
    monkeypatch.setattr(trainer_module, "KEEP_EVERY_S", 0.0)
    monkeypatch.setattr(trainer_module, "KEEP_SHARE", float("inf"))
    next(events)
    saved = load_run(keep)
    assert (saved.epoch, saved.step, saved.offset) == (0, 3, 30)
    events.close()


def test_weights_that_are_not_finite_are_not_saved_within_an_epoch(tmp_path, monkeypatch):
    """The next step checks a step's update; until then a NaN may not reach the file."""
    monkeypatch.setattr(trainer_module, "KEEP_EVERY_S", 0.0)
    monkeypatch.setattr(trainer_module, "KEEP_SHARE", float("inf"))
    trainer = make_trainer(keep_at=tmp_path / "run.ckpt")
    assert trainer._keep_due()
    trainer.run.model.store.values[0] = np.nan
    assert not trainer._keep_due()


def test_a_run_slow_to_save_is_saved_less_often_within_an_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "KEEP_EVERY_S", 0.0)
    trainer = make_trainer(keep_at=tmp_path / "run.ckpt")
    trainer._kept_at -= 1.0                  # saved a second ago …
    trainer._keep_took = 0.04                # … in 40 ms: 5% of the time is 0.8 s
    assert trainer._keep_due()
    trainer._keep_took = 0.1                 # in 100 ms: not before 2 s
    assert not trainer._keep_due()
