"""Initial weights: He for layers followed by a ReLU, Xavier (Glorot) otherwise."""

from __future__ import annotations

import math

import numpy as np

from engine.spec import NetworkSpec

RELU_TYPES = frozenset({"relu", "leaky_relu"})
WEIGHTED_TYPES = frozenset({"conv", "fc"})


def initial_weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
                    fan_out: int, relu_follows: bool) -> np.ndarray:
    """Gaussian float32 weights with He's std √(2/fan_in) before a ReLU, else
    Xavier's √(2/(fan_in + fan_out))."""
    std = math.sqrt(2 / fan_in) if relu_follows else math.sqrt(2 / (fan_in + fan_out))
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std))


def relu_follows(spec: NetworkSpec, index: int) -> bool:
    """Whether a ReLU acts on the output of layer `index` before the next weighted layer."""
    for layer in spec.layers[index + 1:]:
        if layer.type in RELU_TYPES:
            return True
        if layer.type in WEIGHTED_TYPES:
            return False
    return False
