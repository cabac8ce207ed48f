"""The health monitor: update ratios, dead ReLUs, activation and gradient statistics, and
the sentences that name a layer that is clearly wrong."""

import numpy as np
import pytest

from engine.config import TrainConfig
from engine.insight.health import HealthMonitor
from engine.rollback import LastGood
from engine.run import Run
from engine.spec import make_layer, network
from engine.trainer import EpochEvent, StepEvent, Trainer
from main import main
from tests.engine.trainer_helpers import make_trainer, quadrant_data

STEPS = 4


def ratios_by_hand(trainer, update):
    """Each step's ‖Δw‖/‖w‖ per trained layer in float64, Δw from `update(layer, g)`, which
    gives the step's change from the step's gradient (read from the layer after the step)."""
    layers = trainer.health.trained
    weights = {layer.id: layer.params["W"].astype(np.float64) for layer in layers}
    found, expected = [], []
    for event in trainer.train():
        if not isinstance(event, StepEvent):
            continue
        row = []
        for layer in layers:
            delta = update(layer, layer.grads["W"].astype(np.float64))
            weights[layer.id] = weights[layer.id] + delta
            row.append(np.linalg.norm(delta) / np.linalg.norm(weights[layer.id]))
        found.append(event.update_ratios)
        expected.append(row)
        if event.step == STEPS:
            trainer.control.stop()
    return np.array(found), np.array(expected)


def test_sgd_update_ratios_equal_a_hand_computation():
    lr = 0.05
    trainer = make_trainer(optimizer="sgd", lr=lr, batch_size=8)
    found, expected = ratios_by_hand(trainer, lambda layer, g: -lr * g)
    assert found.shape == (STEPS, 2)  # conv and fc, every step
    np.testing.assert_allclose(found, expected, rtol=1e-4)
    assert np.all(found > 0)


def test_momentum_update_ratios_equal_a_hand_computation():
    lr, mu = 0.05, 0.9
    trainer = make_trainer(optimizer="momentum", lr=lr, momentum=mu, batch_size=8)
    velocity = {}

    def update(layer, g):
        velocity[layer.id] = mu * velocity.get(layer.id, 0) - lr * g
        return velocity[layer.id]

    found, expected = ratios_by_hand(trainer, update)
    np.testing.assert_allclose(found, expected, rtol=1e-4)


def relu_net():
    return network("relu net", (8, 8, 1), make_layer("conv", "conv", filters=4, size=3),
                   make_layer("relu", "relu"),
                   make_layer("pool", "pool", mode="max", size=2, stride=2),
                   make_layer("fc", "fc", units=3), make_layer("softmax"))


def trainer_with_conv_bias(bias):
    data = quadrant_data()
    run = Run.start(relu_net(), data, TrainConfig(epochs=1, batch_size=16, lr=0.01), "quadrants")
    run.model.layer(run.spec.layers[1].id).params["b"][...] = bias
    return Trainer(run, data)


def test_a_layer_with_a_large_negative_bias_is_all_dead_and_named():
    trainer = trainer_with_conv_bias(-1e3)
    events = list(trainer.train())
    health = events[-1].health
    assert isinstance(events[-1], EpochEvent)
    assert health.dead == (("relu", 1.0),)
    assert any("'relu'" in p and "dead" in p for p in health.problems)
    assert trainer.health.problems() == list(health.problems)


def test_one_dead_channel_counts_its_units_only():
    trainer = trainer_with_conv_bias(np.array([-1e3, 0, 0, 0], np.float32))
    list(trainer.train())
    dead = trainer.health.dead_fractions()
    (fraction,) = dead.values()
    assert 0.25 <= fraction < 1  # channel 0's 64 of 256 units, and perhaps a few more
    assert not any("dead" in p for p in trainer.health.problems())


def test_sampled_means_and_deviations_equal_numpys_on_the_layer_outputs():
    data = quadrant_data()
    run = Run.start(relu_net(), data, TrainConfig(batch_size=16), "quadrants")
    model = run.model
    x = run.normalizer(data.train_x[:16])
    labels = data.train_y[:16]
    outputs, y = [], x.copy()
    for layer in model.layers:  # no batch norm or dropout: training and evaluation agree
        y, _ = layer.forward(y.copy(), train=False)
        outputs.append(np.array(y, np.float64))
    monitor = HealthMonitor(model, LastGood(model, run.optimizer).values)
    monitor.begin_step()
    scores = outputs[-1].reshape(16, -1)
    model.train_step(x, labels, monitor)
    monitor.after_update(1)
    assert monitor.sampled_step == 1 and monitor.ratios == [0.0, 0.0]  # nothing was updated
    for stats, out in zip(monitor.stats, outputs):
        assert stats.activation_mean == pytest.approx(out.mean(), rel=1e-4, abs=1e-6)
        assert stats.activation_std == pytest.approx(out.std(), rel=1e-4)
    # the gradient on the scores: (softmax − one-hot) / N
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(16), labels] -= 1
    p /= 16
    fc = monitor.stats[-1]
    assert fc.layer == "fc"
    assert fc.gradient_mean == pytest.approx(p.mean(), abs=1e-7)
    assert fc.gradient_std == pytest.approx(p.std(), rel=1e-4)
    assert monitor.stats[0].gradient_std > 0  # the first trained layer's output has one


def train_until_problem(lr):
    trainer = make_trainer(optimizer="sgd", lr=lr, batch_size=8, epochs=1)
    list(trainer.train())
    return trainer.health.problems()


def test_too_high_and_too_low_update_ratios_name_the_layer():
    high = train_until_problem(50.0)
    assert any("'conv'" in p and "lower the learning rate" in p for p in high)
    low = train_until_problem(1e-9)
    assert any("'conv'" in p and "raise the learning rate" in p for p in low)
    assert any("'fc'" in p and "far below" in p for p in low)
    assert train_until_problem(0.05) == []


def test_sampling_keeps_within_its_budget():
    trainer = make_trainer(optimizer="sgd", lr=0.05, batch_size=4, epochs=2)
    events = list(trainer.train())
    steps = [e for e in events if isinstance(e, StepEvent)]
    sampled = {e.health.sampled_step for e in steps if e.health}
    assert 1 in sampled and len(sampled) < len(steps)


def test_train_cli_prints_a_health_line_for_a_layer_clearly_wrong(tmp_path, capsys):
    assert main(["train", "default", "--epochs", "1", "--lr", "1e-9", "--optimizer", "sgd",
                 "--save", str(tmp_path / "run.ckpt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    health = [line for line in lines if line.startswith("health: ")]
    assert any("'conv1'" in line and "raise the learning rate" in line for line in health)


def test_update_ratios_take_the_weights_a_piece_at_a_time(monkeypatch):
    """CuPy's vdot holds the products of its whole arguments at once (VGG-16's fc6: 400 MiB),
    so the norms of the weights, like their changes, are summed over pieces."""
    import engine.optim

    trainer = make_trainer(optimizer="sgd", lr=0.05, batch_size=8)
    model = trainer.run.model
    lengths = []

    class Recording:
        def __getattr__(self, name):
            return getattr(np, name)

        def vdot(self, a, b):
            lengths.append(len(a))
            return np.vdot(a, b)

    monkeypatch.setattr(engine.optim, "CHUNK", 16)
    monkeypatch.setattr(model, "xp", Recording())
    trainer.train_batch(np.arange(8), 0.05)
    assert lengths and max(lengths) <= 16
    assert sum(lengths) == 2 * sum(layer.params["W"].size for layer in trainer.health.trained)
