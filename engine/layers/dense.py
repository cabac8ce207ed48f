"""Fully-connected layer: flattens its input volume (in H, W, D order) and applies W, b."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.init import initial_weights
from engine.layers.base import Backprop, Layer
from engine.layers.params import parameter_shapes
from engine.plan import Arrays


class Dense(Layer):
    def __init__(self, info, backend, rng: np.random.Generator, relu_follows: bool):
        super().__init__(info, backend)
        shapes = parameter_shapes(info)
        inputs, units = shapes["W"]
        w = initial_weights(rng, shapes["W"], inputs, units, relu_follows)
        self._add_param("W", backend.asarray(w))
        self._add_param("b", backend.zeros(shapes["b"]))

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        xp = self.xp
        shape = x.shape
        n = shape[0]
        x2 = x.reshape(n, -1)
        y = arrays.output((n, 1, 1, self.output.depth), x.dtype)
        xp.matmul(x2, self.params["W"], out=y.reshape(n, -1))
        y += self.params["b"]

        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(n, -1)
            xp.matmul(x2.T, dy2, out=self.grads["W"])
            xp.sum(dy2, axis=0, out=self.grads["b"])
            if not self.input_grad:
                return None
            dx = arrays.gradient(shape, dy.dtype)
            xp.matmul(dy2, self.params["W"].T, out=dx.reshape(n, -1))
            return dx

        return y, backprop
