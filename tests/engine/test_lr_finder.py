"""The learning-rate finder: a sweep that leaves the run alone, its suggestion, and
`main.py lr-find`."""

import numpy as np
import pytest

from engine.commands import invocation
from engine.config import TrainConfig
from engine.data import load_data
from engine.insight.lr_finder import (
    BELOW_MINIMUM,
    SKIP_START,
    LrFinderError,
    suggest,
    sweep,
)
from engine.netfile import load_network
from engine.resources import network_template
from engine.run import Run
from engine.trainer import EpochEvent, StepEvent, Trainer
from main import main
from tests.engine.trainer_helpers import make_trainer, quadrant_data


def snapshot(run):
    """Everything of a run a sweep could change, as copies."""
    return ({k: v.copy() for k, v, _ in run.model.parameters()},
            {k: v.copy() for k, v in run.model.buffers()},
            [slot.copy() for slot in run.optimizer.slots],
            run.optimizer.steps, run.rng.bit_generator.state, run.epoch, run.offset, run.step,
            {k: list(v) for k, v in run.history.items()}, dict(run.running))


def assert_same(a, b):
    for x, y in zip(a[:2], b[:2]):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert len(a[2]) == len(b[2]) and all(np.array_equal(p, q) for p, q in zip(a[2], b[2]))
    assert a[3:] == b[3:]


def test_the_sweep_leaves_the_run_untouched():
    trainer = make_trainer(optimizer="momentum", lr=0.05, batch_size=8, epochs=3)
    for event in trainer.train():  # mid-epoch, with a momentum cache
        if isinstance(event, StepEvent) and event.step == 3:
            trainer.control.stop()
    run = trainer.run
    before = snapshot(run)
    found = sweep(run, quadrant_data(), steps=30)
    assert len(found.rates) > 10
    assert_same(snapshot(run), before)


def test_the_sweep_trains_like_the_run_from_where_it_is():
    """Its first step is the step the run would take next, at the sweep's first rate."""
    data = quadrant_data()
    first = make_trainer(data=data, optimizer="sgd", lr=1e-3, batch_size=8)
    found = sweep(first.run, data, start=1e-3, end=1e-1, steps=10)
    step = next(e for e in first.train() if isinstance(e, StepEvent))
    assert found.losses[0] == pytest.approx(step.loss, rel=1e-6)


def test_the_suggestion_lies_inside_the_sweep_below_the_minimum():
    found = sweep(make_trainer(batch_size=8).run, quadrant_data())
    assert found.suggestion is not None
    assert found.rates[0] <= found.suggestion <= found.rates[-1]
    assert found.suggestion <= found.minimum / BELOW_MINIMUM * (1 + 1e-9)
    assert found.smoothed[SKIP_START:].min() == pytest.approx(
        found.smoothed[list(found.rates).index(found.minimum)])


def test_suggest_takes_the_steepest_fall_bounded_by_the_minimum():
    rates = np.logspace(-6, 0, 61)
    x = np.log10(rates)
    # falls fastest at 1e-3, is lowest at 1e-1, then climbs
    falling = 3 - 2 / (1 + np.exp(-4 * (x + 3)))
    smoothed = falling + np.where(x > -1, 3 * (x + 1) ** 2, 0)
    suggestion, minimum = suggest(rates, smoothed)
    assert minimum == pytest.approx(1e-1)
    assert suggestion == pytest.approx(1e-3)
    # when the steepest fall lies too close to the minimum, minimum / 10 wins
    late = 3 - 2 / (1 + np.exp(-4 * (x + 1.3))) + np.where(x > -1, 3 * (x + 1) ** 2, 0)
    suggestion, minimum = suggest(rates, late)
    assert suggestion == pytest.approx(minimum / BELOW_MINIMUM)


def test_a_diverging_sweep_stops_early():
    found = sweep(make_trainer(optimizer="sgd", batch_size=8).run, quadrant_data(),
                  start=1e-3, end=1e6, steps=100)
    assert found.diverged and len(found.rates) < 100
    assert np.all(np.isfinite(found.losses))


@pytest.mark.parametrize("start, end, steps, words", [
    (1.0, 0.1, 100, "up to a larger one"), (0.0, 1.0, 100, "positive"),
    (1e-6, 1.0, 3, "from 10 to"), (1e-6, float("nan"), 100, "does not"),
])
def test_bad_sweeps_are_refused_in_one_sentence(start, end, steps, words):
    with pytest.raises(LrFinderError, match=words) as e:
        sweep(make_trainer().run, quadrant_data(), start, end, steps)
    assert str(e.value).count(".") <= 3 and "\n" not in str(e.value)


@pytest.mark.slow
def test_the_suggested_rate_trains_the_default_network_to_95_percent_in_5_epochs():
    spec = load_network(network_template("default"))
    data = load_data(None, spec.input_volume)
    found = sweep(Run.start(spec, data, TrainConfig(), None), data)
    run = Run.start(spec, data, TrainConfig(lr=found.suggestion, epochs=5), None)
    epochs = [e for e in Trainer(run, data).train() if isinstance(e, EpochEvent)]
    assert len(epochs) == 5 and epochs[-1].val_acc >= 0.95


def test_lr_find_prints_the_curve_the_suggestion_and_the_command(capsys):
    assert main(["lr-find", "default", "--steps", "40", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "rate" in out and "smoothed" in out and "#" in out
    suggested = next(line for line in out.splitlines() if line.startswith("Suggested"))
    rate = suggested.split(": ")[1]
    assert float(rate) > 0
    assert (f"{invocation()} train default --optimizer momentum --batch-size 16 --lr {rate}"
            in out)


def test_lr_find_command_keeps_the_settings_the_sweep_was_given(capsys):
    """The suggested rate suits the run the sweep tried: the `train` command it prints gives
    the same momentum, weight decay and seed, not train's defaults."""
    assert main(["lr-find", "default", "--steps", "40", "--batch-size", "16",
                 "--momentum", "0.5", "--weight-decay", "0", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    command = next(line for line in out.splitlines() if line.startswith("Train with it: "))
    rate = next(line for line in out.splitlines() if line.startswith("Suggested")).split(": ")[1]
    assert command == (f"Train with it: {invocation()} train default --optimizer momentum "
                       f"--batch-size 16 --momentum 0.5 --weight-decay 0.0 --seed 3 --lr {rate}")


@pytest.mark.parametrize("argv, words", [
    (["lr-find", "default", "--start", "1", "--end", "0.1"], "larger one"),
    (["lr-find", "default", "--steps", "2"], "from 10 to"),
    (["lr-find", "no-such-net"], "does not exist"),
    (["lr-find", "default", "--data", "/no/such/data"], "/no/such/data"),
    (["lr-find", "default", "--batch-size", "0"], "batch size"),
])
def test_lr_find_errors_are_one_sentence(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err
