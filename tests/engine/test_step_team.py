"""Training steps in two shares of their images, the second in a helper process."""

from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from engine import step_team
from engine.backend import NUMPY
from engine.model import build
from engine.netfile import load_network
from engine.resources import network_template
from engine.spec import make_layer, network
from engine.shapes import analyse
from engine.step_team import (MAX_PARAMETERS, MIN_CHUNK, MIN_SHARE, SHARES, StepTeam,
                              share_chunks, shares, step_shares, train_share)
from engine.trainer import EpochEvent, TrainControl
from tests.engine.standin import STANDIN
from tests.engine.trainer_helpers import make_trainer, quadrant_data


def conv_net(*extra, filters=64):
    """630K multiply-adds an image at 64 filters, enough to be shared; 5K at 4 filters."""
    return network("shared", (8, 8, 1),
                   make_layer("conv", "conv", filters=filters, size=3, pad=1),
                   make_layer("relu"), make_layer("pool", "pool", mode="max", size=2, stride=2),
                   make_layer("conv", "conv2", filters=filters, size=3, pad=1),
                   make_layer("tanh"), *extra, make_layer("fc", "fc", units=3),
                   make_layer("softmax"))


def cifar_net():
    """The benchmark's reference network: its second convolution's arrays take 0.52 MiB an
    image, so that a share of 16 or more images is taken in chunks."""
    return network("chunked", (32, 32, 3),
                   make_layer("conv", "conv1", filters=32, size=3, pad=1),
                   make_layer("relu", "relu1"),
                   make_layer("pool", "pool1", mode="max", size=2, stride=2),
                   make_layer("conv", "conv2", filters=64, size=3, pad=1),
                   make_layer("relu", "relu2"),
                   make_layer("pool", "pool2", mode="max", size=2, stride=2),
                   make_layer("fc", "fc", units=10), make_layer("softmax"))


STARTED = []  # the helpers a test started


@pytest.fixture(autouse=True)
def record_helpers(monkeypatch):
    original = step_team._Helper.__init__

    def recording(self, *args):
        original(self, *args)
        STARTED.append(self)

    monkeypatch.setattr(step_team._Helper, "__init__", recording)
    yield
    STARTED.clear()


def helpers_running() -> int:
    """The test's helper processes that have not ended."""
    return sum(helper.process.poll() is None for helper in STARTED)


def blas_thread_counts():
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def team():
    teams = []

    def start(batch, cores, spec=None):
        spec = spec or conv_net()
        made = StepTeam(spec, build(spec, NUMPY, 0), batch, cores)
        teams.append(made)
        return made

    yield start
    for made in teams:
        made.close()


def batch(rng, n):
    return rng.standard_normal((n, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, n)


def test_shares_cover_the_batch_in_order_the_first_largest():
    for n, count in [(64, 2), (63, 2), (64, 3), (47, 3), (5, 4)]:
        parts = shares(n, count)
        sizes = [p.stop - p.start for p in parts]
        assert parts[0].start == 0 and parts[-1].stop == n and sum(sizes) == n
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        assert sizes[0] == max(sizes) and max(sizes) - min(sizes) <= 1


def test_a_step_is_shared_where_the_network_and_the_batch_allow():
    assert step_shares(conv_net(), NUMPY, 64) == SHARES
    assert step_shares(conv_net(), NUMPY, SHARES * MIN_SHARE - 1) == 1
    assert step_shares(conv_net(make_layer("dropout", p=0.5)), NUMPY, 64) == 1
    assert step_shares(conv_net(make_layer("batchnorm")), NUMPY, 64) == 1
    assert step_shares(conv_net(), STANDIN, 64) == 1  # a GPU takes its steps whole
    assert step_shares(conv_net(filters=4), NUMPY, 64) == 1  # mostly Python's cost per layer
    wide = network("wide", (8, 8, 1), make_layer("fc", "fc", units=MAX_PARAMETERS // 64 + 1),
                   make_layer("softmax"))
    assert step_shares(wide, NUMPY, 64) == 1  # the helper would hold copies of it


def test_a_share_is_taken_in_chunks_whose_arrays_fit_in_the_cache():
    big, small = analyse(cifar_net()), analyse(conv_net())
    assert [share_chunks(big, n) for n in (8, 15, 16, 32, 33, 64)] == [1, 1, 2, 4, 4, 8]
    assert share_chunks(small, 32) == 1
    # a step's arrays take about as much room in both; a layer's, a convolution's with
    # 12 filters on 32×32 pixels against LeNet-5's first, tell them apart
    templates = {name: analyse(load_network(network_template(name)))
                 for name in ("cifar10", "lenet5")}
    assert [share_chunks(templates[name], 32) for name in ("cifar10", "lenet5")] == [2, 1]
    for n in range(1, 200):
        count = share_chunks(big, n)
        assert count == 1 or n // count >= MIN_CHUNK
    many_weights = network("many weights", (32, 32, 3),
                           make_layer("conv", "conv", filters=32, size=3, pad=1),
                           make_layer("fc", "fc", units=100), make_layer("softmax"))
    assert share_chunks(analyse(many_weights), 64) == 1  # summing gradients would cost more


def test_a_share_in_chunks_equals_the_share_whole(rng):
    chunked, whole = build(cifar_net(), NUMPY, 0), build(cifar_net(), NUMPY, 0)
    x = rng.standard_normal((33, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, 33)
    seen = []

    class Watcher:
        def output(self, layer, out):
            seen.append(len(out))

        def gradient(self, layer, dy):
            pass

    loss, scores = train_share(chunked, x, y, np.empty_like(chunked.store.grads), Watcher())
    expected_loss, expected_scores = whole.train_step(x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)  # scores of up to ~5
    np.testing.assert_allclose(chunked.store.grads, whole.store.grads, rtol=1e-4, atol=1e-6)
    assert set(seen) == {9}  # the observer sees the first of four chunks


@pytest.mark.parametrize("n", [40, 33, 3])  # an epoch's last batch may be smaller or odd
def test_a_step_in_shares_equals_the_step_whole(team, rng, n):
    shared = team(40, cores=2)
    assert shared.helped
    alone = build(conv_net(), NUMPY, 0)
    x, y = batch(rng, n)
    loss, scores = shared.train_step(x, y)
    expected_loss, expected_scores = alone.train_step(x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shared.model.store.grads, alone.store.grads, rtol=1e-4,
                               atol=1e-6)


@pytest.mark.parametrize("chunked", [False, True])
def test_the_shares_give_the_same_numbers_with_or_without_a_helper(team, rng, chunked):
    """Taken here in turn or at once in two processes: bit for bit the same step, so a run
    does not depend on the cores it had."""
    spec, n = (cifar_net(), 64) if chunked else (conv_net(), 32)
    helped, alone = team(n, cores=2, spec=spec), team(n, cores=1, spec=spec)
    assert helped.helped and not alone.helped
    for _ in range(2):
        v = spec.input_volume
        x = rng.standard_normal((n, v.height, v.width, v.depth)).astype(np.float32)
        y = rng.integers(0, 3, n)
        results = [t.train_step(x, y) for t in (helped, alone)]
        assert results[0][0] == results[1][0]
        np.testing.assert_array_equal(results[0][1], results[1][1])
        np.testing.assert_array_equal(helped.model.store.grads, alone.model.store.grads)
        for t in (helped, alone):
            t.model.store.values[...] -= 0.1 * t.model.store.grads  # as an update would


def test_a_helper_that_dies_leaves_its_shares_to_this_process(team, rng):
    shared, reference = team(32, cores=2), team(32, cores=1)
    x, y = batch(rng, 32)
    process = shared._helper.process
    process.kill()
    process.wait()
    loss, _ = shared.train_step(x, y)
    assert loss == reference.train_step(x, y)[0]
    np.testing.assert_array_equal(shared.model.store.grads, reference.model.store.grads)
    assert not shared.helped and not helpers_running()


def test_the_processes_split_the_cores_during_a_step_and_closing_ends_the_helper(rng):
    before = blas_thread_counts()
    model = build(conv_net(), NUMPY, 0)
    shared = StepTeam(conv_net(), model, 32, cores=2)
    during = []
    original = model.train_step
    model.train_step = lambda *args: during.append(blas_thread_counts()) or original(*args)
    shared.train_step(*batch(rng, 32))
    assert during == [{1}] and blas_thread_counts() == before and helpers_running() == 1
    memory = shared._helper.shared.memory.name
    shared.close()
    assert not helpers_running()
    with pytest.raises(FileNotFoundError):
        SharedMemory(name=memory)


def test_a_trainer_shares_its_steps_with_a_helper_while_it_trains(monkeypatch):
    """With two cores a trainer has a helper while it trains, and with one it has none; the
    runs are the same bit for bit, and no helper outlives training, also when stopped."""
    data = quadrant_data(n_train=96, n_val=30)
    config = dict(batch_size=32, lr=0.05, epochs=2)
    helpers = []
    original = StepTeam.train_step

    def watched(self, *args):
        helpers.append(helpers_running())
        return original(self, *args)

    monkeypatch.setattr(StepTeam, "train_step", watched)
    runs = []
    for cores in (2, 1):
        monkeypatch.setattr("engine.trainer.blas_threads", lambda cores=cores: cores)
        trainer = make_trainer(conv_net(), data, **config)
        runs.append(([e for e in trainer.train() if isinstance(e, EpochEvent)], trainer))
        assert not helpers_running()
    assert helpers == [1] * 6 + [0] * 6
    (events, shared), (alone_events, alone) = runs
    assert [(e.train_loss, e.val_acc) for e in events] == [
        (e.train_loss, e.val_acc) for e in alone_events]
    np.testing.assert_array_equal(shared.run.model.store.values, alone.run.model.store.values)

    monkeypatch.setattr("engine.trainer.blas_threads", lambda: 2)
    control = TrainControl()
    stopped = make_trainer(conv_net(), data, control, **config)
    for _ in stopped.train():
        assert helpers_running()
        control.stop()
    assert not helpers_running()


def test_a_network_with_dropout_takes_its_steps_whole(monkeypatch):
    monkeypatch.setattr("engine.trainer.blas_threads", lambda: 2)
    trainer = make_trainer(conv_net(make_layer("dropout", p=0.2)), batch_size=32, epochs=1)
    for _ in trainer.train():
        assert trainer._team is None and not helpers_running()


def test_without_room_in_shared_memory_the_shares_are_taken_here(team, rng, monkeypatch):
    monkeypatch.setattr("engine.step_team._shared_memory_free", lambda: 1000)
    shared, reference = team(32, cores=2), team(32, cores=1)
    assert not shared.helped and not helpers_running()
    x, y = batch(rng, 32)
    assert shared.train_step(x, y)[0] == reference.train_step(x, y)[0]


def test_a_step_that_fails_here_ends_the_helper(team, rng):
    """Else the helper, still amid the failed step, would answer the next one with it."""
    shared = team(32, cores=2)
    x, y = batch(rng, 32)
    original = shared.model.train_step
    shared.model.train_step = lambda *args: (_ for _ in ()).throw(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        shared.train_step(x, y)
    assert not shared.helped and not helpers_running()
    shared.model.train_step = original
    assert np.isfinite(shared.train_step(*batch(rng, 32))[0])
