"""Inverted dropout: in training keep each activation with probability 1−p and scale
it by 1/(1−p), so evaluation is the identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.layers.base import Backprop, Layer
from engine.plan import Arrays


class Dropout(Layer):
    def __init__(self, info, backend, rng: np.random.Generator):
        super().__init__(info, backend)
        self.rng = rng  # the trainer's host generator, so a seed fixes every mask

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        p = self.spec["p"]
        if not train:
            return x, lambda dy: dy
        xp = self.xp
        scale = arrays.kept("mask", x.shape, x.dtype)
        xp.greater_equal(self.backend.random(self.rng, x.shape), p, out=scale)
        scale *= 1.0 / (1.0 - p)
        y = arrays.output(x.shape, x.dtype)
        xp.multiply(x, scale, out=y)

        def backprop(dy: Any) -> Any:
            dy *= scale
            return dy

        return y, backprop
