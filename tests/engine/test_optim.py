"""Update rules against the notes' formulas, and learning-rate schedules."""

import math
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from engine import optim
from engine.backend import NUMPY
from engine.losses import weight_decay
from engine.optim import OPTIMIZERS, Optimizer
from engine.parameters import ParameterStore
from engine.schedules import learning_rate


def store_of(**weights):
    """A parameter store holding one weight array per layer id, and the layers."""
    layers = [SimpleNamespace(id=key, params={"W": NUMPY.asarray(w)}, grads={})
              for key, w in weights.items()]
    return ParameterStore(np, layers), layers


def reference_updates(name, w, grads, lr, mu=0.9):
    """The notes' update rules written out, one gradient after another."""
    v = np.zeros_like(w)
    m, cache = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            w = w - lr * g
        elif name == "momentum":
            v = mu * v - lr * g
            w = w + v
        elif name == "nesterov":
            v_prev = v
            v = mu * v - lr * g
            w = w - mu * v_prev + (1 + mu) * v
        elif name == "rmsprop":
            cache = 0.99 * cache + 0.01 * g ** 2
            w = w - lr * g / (np.sqrt(cache) + 1e-8)
        else:
            m = 0.9 * m + 0.1 * g
            cache = 0.999 * cache + 0.001 * g ** 2
            w = w - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(cache / (1 - 0.999 ** t)) + 1e-8)
    return w


@pytest.mark.parametrize("chunk", [optim.CHUNK, 4])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_updates_follow_the_formulas(backend, rng, monkeypatch, name, chunk):
    monkeypatch.setattr(optim, "CHUNK", chunk)  # 4: two whole pieces and a short one
    w0 = rng.standard_normal(10).astype(np.float32)
    grads = [rng.standard_normal(10).astype(np.float32) for _ in range(3)]
    opt = Optimizer(name, backend, momentum=0.9)
    w = backend.asarray(w0.copy())
    for g in grads:
        opt.step(w, backend.asarray(g), 0.1)
    np.testing.assert_allclose(backend.to_numpy(w), reference_updates(name, w0, grads, 0.1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_an_update_and_weight_decay_hold_a_few_pieces_at_a_time(monkeypatch, name):
    """Their temporaries are a few pieces, not copies of all the weights (VGG-16's are
    553 MiB each)."""
    monkeypatch.setattr(optim, "CHUNK", 1024)
    w, g = np.ones(64 * 1024, np.float32), np.full(64 * 1024, 0.5, np.float32)
    opt = Optimizer(name, NUMPY)
    opt.step(w, g, 0.1)  # its cache is allocated on the first update
    tracemalloc.start()
    try:
        opt.step(w, g, 0.1)
        weight_decay(np, w, g, 1e-4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 8 * 1024 * 4, f"{peak:,} bytes"  # a whole array is 256 KiB


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_minimise_a_quadratic(name):
    w = NUMPY.asarray([3.0, -2.0])
    opt = Optimizer(name, NUMPY)
    for _ in range(300):
        opt.step(w, 2 * w, 0.05)
    assert np.abs(w).max() < 0.1


def test_optimizer_state_round_trips(rng):
    store, (a, b) = store_of(a=rng.standard_normal(4), b=rng.standard_normal((2, 3)))
    opt = Optimizer("adam", NUMPY)
    for layer in (a, b):
        layer.grads["W"][...] = rng.standard_normal(layer.grads["W"].shape)
    opt.step(store.values, store.grads, 0.1)
    state = opt.state(store)
    assert sorted(state) == ["a/W/0", "a/W/1", "b/W/0", "b/W/1"]
    assert state["b/W/1"].shape == (2, 3)
    other = Optimizer("adam", NUMPY)
    other.load_state(state, opt.steps, store)
    assert other.steps == 1 and len(other.slots) == 2 and all(
        np.array_equal(p, q) for p, q in zip(other.slots, opt.slots))


def test_schedules():
    assert learning_rate("constant", 0.1, 7.5, 10) == 0.1
    assert learning_rate("step", 0.1, 9.9, 30, step_epochs=10) == 0.1
    assert learning_rate("step", 0.1, 10.0, 30, step_epochs=10) == pytest.approx(0.01)
    assert learning_rate("exponential", 0.1, 2.5, 10, gamma=0.5) == pytest.approx(0.025)
    assert learning_rate("cosine", 0.1, 0, 10) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 5, 10) == pytest.approx(0.05)
    assert learning_rate("cosine", 0.1, 10, 10) == pytest.approx(0.0, abs=1e-12)
    assert math.isclose(learning_rate("cosine", 0.1, 2.5, 10),
                        0.05 * (1 + math.cos(math.pi / 4)))
