"""Convolution as im2col + one GEMM, channels-last.

In NHWC the pixels a filter tap (i, j) sees form one strided slice of the padded
input, so im2col is F·F slice copies into a (N, H2, W2, F, F, D1) matrix, and the
GEMM with the (F·F·D1, K) filter matrix lands directly in the (N, H2, W2, K) layout
the next layer reads. The matrix is kept for the weight gradient and then reused to
hold the column gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.init import initial_weights
from engine.layers.base import Backprop, Layer, padded, taps


class Conv(Layer):
    def __init__(self, info, backend, rng: np.random.Generator, relu_follows: bool):
        super().__init__(info, backend)
        f, d, k = self.spec["size"], self.input.depth, self.spec["filters"]
        fan_in, fan_out = f * f * d, f * f * k
        w = initial_weights(rng, (f, f, d, k), fan_in, fan_out, relu_follows)
        self._add_param("W", backend.asarray(w))
        self._add_param("b", backend.zeros((k,)))

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        f, s, p = self.spec["size"], self.spec["stride"], self.spec["pad"]
        n, h, w, d = x.shape
        h2, w2, k = self.output.height, self.output.width, self.output.depth
        xpad = padded(xp, x, p)
        cols = xp.empty((n, h2, w2, f, f, d), dtype=x.dtype)
        window_taps = taps(f, s, p, h, w, h2, w2)
        for t in window_taps:
            cols[:, :, :, t.i, t.j, :] = xpad[:, t.rows, t.cols, :]
        del xpad
        cols2 = cols.reshape(n * h2 * w2, f * f * d)
        weights = self.params["W"].reshape(f * f * d, k)
        out = xp.matmul(cols2, weights)
        out += self.params["b"]

        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(n * h2 * w2, k)
            xp.matmul(cols2.T, dy2, out=self.grads["W"].reshape(f * f * d, k))
            xp.sum(dy2, axis=0, out=self.grads["b"])
            if not self.input_grad:
                return None
            dcols = xp.matmul(dy2, weights.T, out=cols2).reshape(cols.shape)
            dx = xp.zeros((n, h, w, d), dtype=dy.dtype)
            for t in window_taps:  # the padding's share of the gradient is dropped
                dx[:, t.in_rows, t.in_cols, :] += dcols[:, t.out_rows, t.out_cols, t.i, t.j, :]
            return dx

        return out.reshape(n, h2, w2, k), backprop
