"""Fully-connected layer: flattens its input volume (in H, W, D order) and applies W, b."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.init import initial_weights
from engine.layers.base import Backprop, Layer


class Dense(Layer):
    def __init__(self, info, backend, rng: np.random.Generator, relu_follows: bool):
        super().__init__(info, backend)
        inputs, units = self.input.size, self.spec["units"]
        w = initial_weights(rng, (inputs, units), inputs, units, relu_follows)
        self._add_param("W", backend.asarray(w))
        self._add_param("b", backend.zeros((units,)))

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        shape = x.shape
        x2 = x.reshape(shape[0], -1)
        y = xp.matmul(x2, self.params["W"])
        y += self.params["b"]

        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(shape[0], -1)
            xp.matmul(x2.T, dy2, out=self.grads["W"])
            xp.sum(dy2, axis=0, out=self.grads["b"])
            if not self.input_grad:
                return None
            return xp.matmul(dy2, self.params["W"].T).reshape(shape)

        return y.reshape(shape[0], 1, 1, -1), backprop
