"""Inverted dropout: in training keep each activation with probability 1−p and scale
it by 1/(1−p), so evaluation is the identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.layers.base import Backprop, Layer


class Dropout(Layer):
    def __init__(self, info, backend, rng: np.random.Generator):
        super().__init__(info, backend)
        self.rng = rng  # the trainer's host generator, so a seed fixes every mask

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        p = self.spec["p"]
        if not train:
            return x, lambda dy: dy
        keep = self.backend.random(self.rng, x.shape) >= p
        scale = keep.astype(x.dtype)
        scale *= 1.0 / (1.0 - p)

        def backprop(dy: Any) -> Any:
            dy *= scale
            return dy

        return x * scale, backprop
