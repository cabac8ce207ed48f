"""Training steps shared out by images between this process and helper processes."""

import multiprocessing

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from engine.backend import NUMPY
from engine.model import build
from engine.spec import make_layer, network
from engine.step_team import MAX_PARAMETERS, MIN_SHARE, StepTeam, shares, team_size
from engine.trainer import EpochEvent, TrainControl
from tests.engine.standin import STANDIN
from tests.engine.trainer_helpers import make_trainer, quadrant_data


def conv_net(*extra):
    return network("shared", (8, 8, 1), make_layer("conv", "conv", filters=4, size=3, pad=1),
                   make_layer("relu"), make_layer("pool", "pool", mode="max", size=2, stride=2),
                   make_layer("conv", "conv2", filters=6, size=3), make_layer("tanh"),
                   *extra, make_layer("fc", "fc", units=3), make_layer("softmax"))


def blas_thread_counts():
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def team():
    teams = []

    def start(spec, batch, processes):
        made = StepTeam(spec, build(spec, NUMPY, 0), batch, processes)
        teams.append(made)
        return made

    yield start
    for made in teams:
        made.close()


def batch(rng, n):
    return rng.standard_normal((n, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, n)


def test_shares_cover_the_batch_in_order_the_first_largest():
    for n, processes in [(64, 2), (64, 3), (47, 3), (5, 4)]:
        parts = shares(n, processes)
        sizes = [p.stop - p.start for p in parts]
        assert parts[0].start == 0 and parts[-1].stop == n and sum(sizes) == n
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        assert sizes[0] == max(sizes) and max(sizes) - min(sizes) <= 1


def test_team_size_follows_the_cores_the_batch_and_the_layers():
    assert team_size(conv_net(), NUMPY, 64, cores=2) == 2
    assert team_size(conv_net(), NUMPY, 64, cores=8) == 64 // MIN_SHARE
    assert team_size(conv_net(), NUMPY, 2 * MIN_SHARE - 1, cores=2) == 1
    assert team_size(conv_net(), NUMPY, 64, cores=1) == 1
    assert team_size(conv_net(make_layer("dropout", p=0.5)), NUMPY, 64, cores=2) == 1
    assert team_size(conv_net(make_layer("batchnorm")), NUMPY, 64, cores=2) == 1
    assert team_size(conv_net(), STANDIN, 64, cores=2) == 1  # a GPU shares nothing out
    wide = network("wide", (8, 8, 1), make_layer("fc", "fc", units=MAX_PARAMETERS // 64 + 1),
                   make_layer("softmax"))
    assert team_size(wide, NUMPY, 64, cores=2) == 1  # helpers would hold copies of it


@pytest.mark.parametrize("n", [40, 7])  # uneven shares; an epoch's small last batch
def test_a_shared_step_equals_the_step_alone(team, rng, n):
    spec = conv_net()
    alone = build(spec, NUMPY, 0)
    shared = team(spec, 40, 3)
    x, y = batch(rng, n)
    loss, scores = shared.train_step(x, y)
    expected_loss, expected_scores = alone.train_step(x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shared.model.store.grads, alone.store.grads, rtol=1e-4,
                               atol=1e-6)


def test_helpers_step_with_the_current_weights(team, rng):
    spec = conv_net()
    alone = build(spec, NUMPY, 0)
    shared = team(spec, 32, 2)
    x, y = batch(rng, 32)
    for model in (alone, shared.model):
        model.store.values[...] *= 1.5  # as an update would
    shared.train_step(x, y)
    alone.train_step(x, y)
    np.testing.assert_allclose(shared.model.store.grads, alone.store.grads, rtol=1e-4,
                               atol=1e-6)


def test_a_helper_that_dies_leaves_its_steps_to_this_process(team, rng):
    spec = conv_net()
    alone = build(spec, NUMPY, 0)
    shared = team(spec, 32, 2)
    x, y = batch(rng, 32)
    process = shared._helpers[0][0]
    process.kill()
    process.join()
    loss, _ = shared.train_step(x, y)
    assert loss == pytest.approx(alone.train_step(x, y)[0], rel=1e-6)
    np.testing.assert_allclose(shared.model.store.grads, alone.store.grads, rtol=1e-6)
    assert not shared._helpers and not multiprocessing.active_children()


def test_closing_ends_the_helpers_and_gives_blas_its_threads_back(rng):
    before = blas_thread_counts()
    shared = StepTeam(conv_net(), build(conv_net(), NUMPY, 0), 32, 2)
    assert blas_thread_counts() == {1} and len(multiprocessing.active_children()) == 1
    memory = shared._helpers[0][2].memory.name
    shared.close()
    assert blas_thread_counts() == before and not multiprocessing.active_children()
    from multiprocessing.shared_memory import SharedMemory
    with pytest.raises(FileNotFoundError):
        SharedMemory(name=memory)


def test_a_trainer_shares_its_steps_while_it_trains_and_learns_the_same(monkeypatch):
    """With two cores a trainer has one helper while it trains: the run equals the
    one-process run up to float rounding, and no helper outlives training, also when it
    is stopped."""
    data = quadrant_data(n_train=96, n_val=30)
    config = dict(batch_size=32, lr=0.05, epochs=2)
    seen = []
    original = StepTeam.train_step

    def watched(self, *args):
        seen.append(len(self._helpers))
        return original(self, *args)

    monkeypatch.setattr("engine.trainer.blas_threads", lambda: 2)
    monkeypatch.setattr(StepTeam, "train_step", watched)
    shared = make_trainer(conv_net(), data, **config)
    shared_events = list(shared.train())
    assert seen and set(seen) == {1} and not multiprocessing.active_children()
    monkeypatch.setattr("engine.trainer.blas_threads", lambda: 1)
    alone = make_trainer(conv_net(), data, **config)
    alone_events = list(alone.train())
    for ours, theirs in zip(shared_events, alone_events):
        if isinstance(ours, EpochEvent):
            assert ours.val_acc == theirs.val_acc
            assert ours.train_loss == pytest.approx(theirs.train_loss, rel=1e-4)
    np.testing.assert_allclose(shared.run.model.store.values, alone.run.model.store.values,
                               rtol=1e-3, atol=1e-5)

    monkeypatch.setattr("engine.trainer.blas_threads", lambda: 2)
    control = TrainControl()
    stopped = make_trainer(conv_net(), data, control, **config)
    for event in stopped.train():
        assert multiprocessing.active_children()
        control.stop()
    assert not multiprocessing.active_children()


def test_a_network_with_dropout_trains_without_helpers(monkeypatch):
    monkeypatch.setattr("engine.trainer.blas_threads", lambda: 2)
    trainer = make_trainer(conv_net(make_layer("dropout", p=0.2)), batch_size=32, epochs=1)
    for _ in trainer.train():
        assert not multiprocessing.active_children()
