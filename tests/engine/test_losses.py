"""Softmax and SVM losses: against loops, numerical gradients, chance level; L2 decay."""

import math

import numpy as np
import pytest

from engine.backend import NUMPY
from engine.losses import softmax_loss, svm_loss, weight_decay
from engine.model import build
from engine.netfile import load_network
from engine.resources import network_template
from tests.engine.layer_helpers import numeric_gradient, sample_coords


def loop_softmax(s, y):
    return np.mean([-math.log(math.exp(s[i, y[i]]) / sum(math.exp(v) for v in s[i]))
                    for i in range(len(y))])


def loop_svm(s, y, margin):
    return np.mean([sum(max(0.0, s[i, j] - s[i, y[i]] + margin)
                        for j in range(s.shape[1]) if j != y[i]) for i in range(len(y))])


LOSSES = {"softmax": (lambda xp, s, y: softmax_loss(xp, s, y), lambda s, y: loop_softmax(s, y)),
          "svm": (lambda xp, s, y: svm_loss(xp, s, y, 0.7), lambda s, y: loop_svm(s, y, 0.7))}


@pytest.mark.parametrize("kind", sorted(LOSSES))
@pytest.mark.parametrize("n,c", [(1, 2), (5, 3), (7, 10)])
def test_loss_matches_loops_and_its_gradient_matches_differences(backend, rng, kind, n, c):
    loss_fn, loop = LOSSES[kind]
    scores = rng.standard_normal((n, c)) * 2
    labels = rng.integers(0, c, n)
    y = backend.asarray(labels, np.int64)

    def value():
        return loss_fn(backend.xp, backend.asarray(scores, np.float64), y)[0]

    loss, grad = loss_fn(backend.xp, backend.asarray(scores, np.float64), y)
    assert loss == pytest.approx(loop(scores, labels), rel=1e-12)
    coords = sample_coords(scores.shape, rng)
    np.testing.assert_allclose(backend.to_numpy(grad)[tuple(np.array(coords).T)],
                               numeric_gradient(value, scores, coords), rtol=1e-6, atol=1e-9)


def test_softmax_survives_huge_scores(backend):
    loss, grad = softmax_loss(backend.xp, backend.asarray([[1e4, 0.0, -1e4]], np.float32),
                              backend.asarray([1], np.int64))
    assert math.isfinite(loss) and np.isfinite(backend.to_numpy(grad)).all()


@pytest.fixture
def tiny_weight_model():
    model = build(load_network(network_template("default")), NUMPY, 0)
    for _, value, _ in model.parameters():
        value *= 1e-4
    return model


def test_losses_at_chance_level_with_tiny_weights(tiny_weight_model, rng):
    x = rng.standard_normal((50, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 50)
    scores = tiny_weight_model.scores(x)
    assert softmax_loss(np, scores, labels)[0] == pytest.approx(math.log(10), abs=1e-3)
    assert svm_loss(np, scores, labels, 1.0)[0] == pytest.approx(9.0, abs=1e-3)


def test_weight_decay_adds_half_lambda_w_squared_and_lambda_w(backend, rng):
    w = rng.standard_normal((3, 4))
    wd, gd = backend.asarray(w, np.float64), backend.asarray(np.zeros((3, 4)), np.float64)
    penalty = weight_decay(backend.xp, wd, gd, 0.1)
    assert penalty == pytest.approx(0.05 * (w ** 2).sum())
    np.testing.assert_allclose(backend.to_numpy(gd), 0.1 * w)
    assert weight_decay(backend.xp, wd, gd, 0.0) == 0.0
