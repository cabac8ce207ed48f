"""Convolution as im2col + one GEMM, channels-last.

In NHWC the pixels a filter tap (i, j) sees form one strided slice of the padded
input, so im2col is F·F slice copies into a patch matrix with one row per output pixel
and F·F·D1 columns, and its product with the (F·F·D1, K) filter matrix lands directly
in the (N, H2, W2, K) layout the next layer reads. The matrix is kept for the weight
gradient and then reused to hold the patch gradients.

The matrix is stored pixel-major, (N, H2, W2, F, F, D1), so each copy moves D1
contiguous floats per pixel; for a shallow input (D1 < 8, e.g. RGB images) that is too
little per copy, and it is stored tap-major, (F, F, D1, N, H2, W2), where each copy
writes whole contiguous rows. The GEMMs read either through a transposed view.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.init import initial_weights
from engine.layers.base import Backprop, Layer, Tap, padded, taps
from engine.layers.params import parameter_shapes

TAP_MAJOR_BELOW_DEPTH = 8


class Conv(Layer):
    def __init__(self, info, backend, rng: np.random.Generator, relu_follows: bool):
        super().__init__(info, backend)
        shapes = parameter_shapes(info)
        f, _, d, k = shapes["W"]
        w = initial_weights(rng, shapes["W"], f * f * d, f * f * k, relu_follows)
        self._add_param("W", backend.asarray(w))
        self._add_param("b", backend.zeros(shapes["b"]))

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        f, s, p = self.spec["size"], self.spec["stride"], self.spec["pad"]
        n, h, w, d = x.shape
        h2, w2, k = self.output.height, self.output.width, self.output.depth
        tap_major = d < TAP_MAJOR_BELOW_DEPTH
        shape = (f, f, d, n, h2, w2) if tap_major else (n, h2, w2, f, f, d)
        cols = xp.empty(shape, dtype=x.dtype)
        window_taps = taps(f, s, p, h, w, h2, w2)
        xpad = padded(xp, x, p)
        for t in window_taps:
            _tap(cols, t, tap_major)[...] = xpad[:, t.rows, t.cols, :]
        del xpad
        # (N·H2·W2, F·F·D1) either way; a transposed view of the tap-major matrix
        patches = cols.reshape(f * f * d, -1).T if tap_major else cols.reshape(-1, f * f * d)
        weights = self.params["W"].reshape(f * f * d, k)
        out = xp.matmul(patches, weights)
        out += self.params["b"]

        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(n * h2 * w2, k)
            xp.matmul(patches.T, dy2, out=self.grads["W"].reshape(f * f * d, k))
            xp.sum(dy2, axis=0, out=self.grads["b"])
            if not self.input_grad:
                return None
            if tap_major:  # the patch gradients overwrite the patches, which are done
                xp.matmul(weights, dy2.T, out=patches.T)
            else:
                xp.matmul(dy2, weights.T, out=patches)
            dx = xp.zeros((n, h, w, d), dtype=dy.dtype)
            for t in window_taps:  # the padding's share of the gradient is dropped
                dx[:, t.in_rows, t.in_cols, :] += _tap(cols, t, tap_major)[
                    :, t.out_rows, t.out_cols, :]
            return dx

        return out.reshape(n, h2, w2, k), backprop


def _tap(cols: Any, t: Tap, tap_major: bool) -> Any:
    """The (N, H2, W2, D1) view of the patch matrix that holds tap (i, j)."""
    if tap_major:
        return cols[t.i, t.j].transpose(1, 2, 3, 0)
    return cols[:, :, :, t.i, t.j, :]
