"""Small float64 networks for the insight tests, and a fresh run on the quadrants."""

from __future__ import annotations

import numpy as np

from engine.config import TrainConfig
from engine.run import Run
from engine.shapes import analyse
from engine.spec import make_layer, network
from tests.engine.test_stack_gradients import float64_model
from tests.engine.trainer_helpers import quadrant_data


def net(volume, *layers, classes: int = 3):
    """A valid network of `layers` on a (W, H, D) input, ending in class scores and a loss."""
    spec = network("t", volume, *[layer.renamed(f"{layer.type}{i}") for i, layer in
                                   enumerate(layers)],
                   make_layer("fc", "scores", units=classes), make_layer("softmax"))
    assert analyse(spec).valid, [i.error for i in analyse(spec).errors]
    return spec


def model64(spec, seed: int = 0):
    """`spec` in float64 with random biases, scales and running statistics."""
    model = float64_model(spec, seed)
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        for name, value in layer.buffers.items():
            value[...] = rng.uniform(0.5, 1.5, value.shape) if name == "var" else \
                rng.normal(0, 0.3, value.shape)
    return model


def fresh_run(spec, batch_size: int = 64, seed: int = 0) -> Run:
    """An untrained run of `spec` on the quadrants: random weights, the real normaliser."""
    return Run.start(spec, quadrant_data(), TrainConfig(batch_size=batch_size, seed=seed),
                     "quadrants")
