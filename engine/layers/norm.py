"""Normalization layers: batch normalization and AlexNet's local response normalization."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.layers.base import Backprop, Layer
from engine.layers.params import buffer_shapes, parameter_shapes


class BatchNorm(Layer):
    """Per depth slice over batch, height and width; running statistics for evaluation."""

    def __init__(self, info, backend):
        super().__init__(info, backend)
        shapes, buffers = parameter_shapes(info), buffer_shapes(info)
        self._add_param("gamma", backend.asarray(np.ones(shapes["gamma"])))
        self._add_param("beta", backend.zeros(shapes["beta"]))
        self.buffers = {"mean": backend.zeros(buffers["mean"]),
                        "var": backend.asarray(np.ones(buffers["var"]))}

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        eps, momentum = self.spec["eps"], self.spec["momentum"]
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if train:
            mean = x2.mean(axis=0)
            var = x2.var(axis=0)
            for name, batch_value in (("mean", mean), ("var", var)):
                running = self.buffers[name]
                running *= momentum
                running += (1 - momentum) * batch_value
        else:
            mean, var = self.buffers["mean"], self.buffers["var"]
        inv_std = 1 / xp.sqrt(var + eps)
        xhat = x2 - mean
        xhat *= inv_std
        y = xhat * self.params["gamma"]
        y += self.params["beta"]

        def backprop(dy: Any) -> Any:
            # dx = γ/σ · (dy − Σdy/m − x̂·Σ(dy·x̂)/m), written to need one temporary
            m = xhat.shape[0]
            dy2 = dy.reshape(xhat.shape)
            xp.sum(dy2, axis=0, out=self.grads["beta"])
            self.grads["gamma"][...] = xp.einsum("ij,ij->j", dy2, xhat)
            scale = self.params["gamma"] * inv_std
            correction = xhat * (scale * self.grads["gamma"] / m)
            dy2 *= scale
            dy2 -= scale * self.grads["beta"] / m
            dy2 -= correction
            return dy2.reshape(shape)

        return y.reshape(shape), backprop


class LocalResponseNorm(Layer):
    """y = x / (k + α/n·Σ x²)^β, the sum over n neighbouring depth slices
    (from c − n//2 to c + (n−1)//2, as AlexNet and PyTorch place the window)."""

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        n, alpha, beta, k = (self.spec[name] for name in ("size", "alpha", "beta", "k"))
        before, after = n // 2, (n - 1) // 2
        scale = _window_sum(xp, x * x, before, after)
        scale *= alpha / n
        scale += k
        y = scale ** -beta
        y *= x

        def backprop(dy: Any) -> Any:
            # dL/dx_i = dy_i·s_i^−β − (2αβ/n)·x_i·Σ_{j: i in window(j)} dy_j·y_j/s_j
            ratio = dy * y
            ratio /= scale
            window = _window_sum(xp, ratio, after, before)
            del ratio
            window *= x
            window *= 2 * alpha * beta / n
            dy *= scale ** -beta
            dy -= window
            return dy

        return y, backprop


def _window_sum(xp: Any, a: Any, before: int, after: int) -> Any:
    """Σ a[..., c−before : c+after+1] along the depth axis, zeros beyond the edges."""
    d = a.shape[-1]
    out = a.copy()
    for offset in range(1, max(before, after) + 1):
        if offset <= before and offset < d:  # a[c − offset] adds to c
            out[..., offset:] += a[..., :d - offset]
        if offset <= after and offset < d:  # a[c + offset] adds to c
            out[..., :d - offset] += a[..., offset:]
    return out
