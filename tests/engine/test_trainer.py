"""The training loop: events, determinism, control, NaN guard, inspection API."""

import threading
import time

import numpy as np
import pytest

import engine.trainer as trainer_module
from engine.trainer import (
    EpochEvent, StepEvent, TrainConfig, TrainControl, Trainer, TrainingError,
)
from tests.engine.standin import STANDIN
from tests.engine.trainer_helpers import quadrant_data, small_net

FAST = dict(batch_size=16, lr=0.05, epochs=2)


def weights_of(trainer):
    return [trainer.backend.to_numpy(v).copy() for _, v, _ in trainer.model.parameters()]


def test_events_history_and_learning():
    trainer = Trainer(small_net(), quadrant_data(), TrainConfig(**{**FAST, "epochs": 4}))
    events = list(trainer.run())
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(steps) == 4 * 4 and [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert [s.step for s in steps] == list(range(1, 17)) and steps[0].steps_per_epoch == 4
    assert all(s.images_per_s > 0 and s.eta_s >= 0 for s in steps) and steps[-1].eta_s == 0
    assert trainer.history["step"] == list(range(1, 17)) and len(trainer.history["loss"]) == 16
    assert trainer.history["val_acc"] == [e.val_acc for e in epochs]
    assert epochs[-1].val_acc > 0.8 and epochs[-1].train_loss < steps[0].loss
    assert (trainer.epoch, trainer.step) == (4, 16)


def test_same_seed_same_run_and_other_seed_other_run():
    config = TrainConfig(**FAST, flip=True, crop_pad=1)
    runs = []
    for seed in (5, 5, 6):
        trainer = Trainer(small_net(dropout=True), quadrant_data(),
                          TrainConfig(**{**config.__dict__, "seed": seed}))
        losses = [e.loss for e in trainer.run() if isinstance(e, StepEvent)]
        runs.append((losses, weights_of(trainer)))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_stop_ends_the_run_between_batches():
    trainer = Trainer(small_net(), quadrant_data(), TrainConfig(**FAST))
    for event in trainer.run():
        if event.step == 3:
            trainer.control.stop()
    assert trainer.step == 3 and trainer.epoch == 0 and trainer.batch == 3


def test_pause_holds_the_run_until_resume():
    trainer = Trainer(small_net(), quadrant_data(), TrainConfig(**FAST))
    run = trainer.run()
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
    trainer = Trainer(small_net(), quadrant_data(), TrainConfig(**FAST), control)
    run = trainer.run()
    next(run)
    control.pause()
    threading.Timer(0.1, control.stop).start()
    assert list(run) == [] and trainer.step == 1


def test_nan_guard_keeps_the_last_good_weights():
    trainer = Trainer(small_net(), quadrant_data(), TrainConfig(**{**FAST, "lr": 1e30,
                                                                   "optimizer": "sgd"}))
    after_step = [weights_of(trainer)]  # after_step[k]: the weights once update k is made
    with pytest.raises(TrainingError) as e:
        for event in trainer.run():
            if isinstance(event, StepEvent):
                after_step.append(weights_of(trainer))
    message = str(e.value)
    assert f"at step {trainer.step + 1};" in message and "learning rate 1e+30" in message
    assert "were kept." in message and "\n" not in message
    # update N made the loss of step N+1 blow up, so the weights from before it are kept
    good = after_step[max(trainer.step - 1, 0)]
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(trainer), good))
    loss, _ = trainer.evaluate("val")
    assert np.isfinite(loss)


def test_inspection_returns_numpy():
    data = quadrant_data()
    trainer = Trainer(small_net(), data, TrainConfig(**FAST))
    list(trainer.run())
    spec = trainer.spec
    conv, pool, fc, loss = (spec.layers[i].id for i in (1, 4, 5, 6))
    a = trainer.activations(conv, data.val_x[:5])
    assert a.shape == (5, 8, 8, 4) and a.dtype == np.float32 and isinstance(a, np.ndarray)
    assert trainer.activations(pool, data.val_x[:5]).shape == (5, 4, 4, 4)
    assert trainer.activations(spec.layers[0].id, data.val_x[:2]).shape == (2, 8, 8, 1)
    assert trainer.activations(pool, data.val_x[:0]).shape == (0, 4, 4, 4)
    probabilities = trainer.activations(loss, data.val_x[:5])
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1, rtol=1e-5)
    w = trainer.weights(conv)
    assert w["W"].shape == (3, 3, 1, 4) and w["b"].shape == (4,)
    w["W"][...] = 0  # a copy: the model is untouched
    assert np.abs(trainer.weights(conv)["W"]).sum() > 0
    assert trainer.weights(fc)["W"].shape == (64, 3) and trainer.weights(pool) == {}
    p = trainer.predict(data.val_x)
    assert p.shape == (15, 3)
    np.testing.assert_allclose(p[:5], probabilities.reshape(5, 3), rtol=1e-6, atol=1e-9)
    cm = trainer.confusion_matrix("val")
    assert cm.shape == (3, 3) and cm.sum() == 15
    assert np.trace(cm) / 15 == pytest.approx(trainer.evaluate("val")[1])
    with pytest.raises(TrainingError, match="has no test split"):
        trainer.confusion_matrix("test")


def test_the_trainer_runs_on_the_standin_gpu(monkeypatch):
    monkeypatch.setattr(trainer_module, "get_backend", lambda device: STANDIN)
    data = quadrant_data()
    trainer = Trainer(small_net(dropout=True), data, TrainConfig(**FAST, flip=True))
    events = list(trainer.run())
    assert isinstance(events[-1], EpochEvent)
    assert isinstance(trainer.predict(data.val_x[:3]), np.ndarray)
    assert isinstance(trainer.activations(trainer.spec.layers[1].id, data.val_x[:3]), np.ndarray)
    assert trainer.confusion_matrix().sum() == len(data.val_x)


def test_data_that_does_not_fit_the_network_is_one_sentence():
    data = quadrant_data()
    spec = small_net()
    wide = spec.replaced(spec.layers[0].with_params(width=10))
    with pytest.raises(TrainingError, match=r"are 8×8×1 but the network's input is 10×8×1"):
        Trainer(wide, data)
    fc = next(l for l in spec.layers if l.type == "fc")
    with pytest.raises(TrainingError, match="gives 5 class scores but 'quadrants' has 3"):
        Trainer(spec.replaced(fc.with_params(units=5)), data)


@pytest.mark.parametrize("change,text", [
    ({"lr": 0}, "learning rate must be a positive number"),
    ({"optimizer": "lbfgs"}, "optimizer 'lbfgs' is unknown"),
    ({"batch_size": 0}, "batch size must be at least 1"),
    ({"momentum": 1.0}, "momentum must be at least 0 and below 1"),
])
def test_bad_settings_are_refused(change, text):
    with pytest.raises(TrainingError, match=text):
        Trainer(small_net(), quadrant_data(), TrainConfig(**change))


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "rmsprop", "adam"])
@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_every_optimizer_and_schedule_trains(optimizer, schedule):
    lr = 0.01 if optimizer in ("rmsprop", "adam") else 0.05
    trainer = Trainer(small_net(), quadrant_data(), TrainConfig(
        optimizer=optimizer, schedule=schedule, lr=lr, step_epochs=1, batch_size=16, epochs=3))
    events = [e for e in trainer.run() if isinstance(e, EpochEvent)]
    assert events[-1].train_loss < events[0].train_loss
    if schedule == "step":
        assert trainer.history["lr"][-1] == pytest.approx(lr * 0.01)
