"""Normalization layers: batch normalization and AlexNet's local response normalization."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.layers.base import Backprop, Layer
from engine.layers.params import buffer_shapes, parameter_shapes
from engine.plan import Arrays


class BatchNorm(Layer):
    """Per depth slice over batch, height and width; running statistics for evaluation.
    A step normalizes by its batch's biased variance (÷m) but adds the unbiased one
    (÷(m − 1)) to the running variance, as PyTorch does, so a network exported to it keeps
    the same statistics as it trains on."""

    def __init__(self, info, backend):
        super().__init__(info, backend)
        shapes, buffers = parameter_shapes(info), buffer_shapes(info)
        self._add_param("gamma", backend.asarray(np.ones(shapes["gamma"])))
        self._add_param("beta", backend.zeros(shapes["beta"]))
        self.buffers = {"mean": backend.zeros(buffers["mean"]),
                        "var": backend.asarray(np.ones(buffers["var"]))}

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        xp = self.xp
        eps, momentum = self.spec["eps"], self.spec["momentum"]
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        m = x2.shape[0]
        xhat = arrays.kept("xhat", x2.shape, x.dtype)
        if train:
            mean = x2.mean(axis=0)
            xp.subtract(x2, mean, out=xhat)
            var = self.backend.column_dots(xhat, xhat) / m
            unbiased = var * (m / max(m - 1, 1))
            for name, batch_value in (("mean", mean), ("var", unbiased)):
                running = self.buffers[name]
                running *= momentum
                running += (1 - momentum) * batch_value
        else:
            mean, var = self.buffers["mean"], self.buffers["var"]
            xp.subtract(x2, mean, out=xhat)
        inv_std = 1 / xp.sqrt(var + eps)
        xhat *= inv_std
        y = arrays.output(shape, x.dtype)
        y2 = y.reshape(x2.shape)
        xp.multiply(xhat, self.params["gamma"], out=y2)
        y2 += self.params["beta"]
        if not train:
            return y, self._fixed_statistics_backprop(xhat, inv_std)

        def backprop(dy: Any) -> Any:
            # dx = γ/σ · (dy − Σdy/m − x̂·Σ(dy·x̂)/m), written to need one temporary
            dy2 = dy.reshape(xhat.shape)
            xp.sum(dy2, axis=0, out=self.grads["beta"])
            self.grads["gamma"][...] = self.backend.column_dots(dy2, xhat)
            scale = self.params["gamma"] * inv_std
            correction = arrays.scratch(xhat.shape, xhat.dtype)
            xp.multiply(xhat, scale * self.grads["gamma"] / m, out=correction)
            dy2 *= scale
            dy2 -= scale * self.grads["beta"] / m
            dy2 -= correction
            return dy

        return y, backprop

    def _fixed_statistics_backprop(self, xhat: Any, inv_std: Any) -> Backprop:
        """In evaluation the statistics are constants, so the layer is affine per slice:
        dx = γ/σ · dy (what a saliency map differentiates)."""
        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(xhat.shape)
            self.xp.sum(dy2, axis=0, out=self.grads["beta"])
            self.grads["gamma"][...] = self.backend.column_dots(dy2, xhat)
            dy2 *= self.params["gamma"] * inv_std
            return dy

        return backprop


class LocalResponseNorm(Layer):
    """y = x / (k + α/n·Σ x²)^β, the sum over n neighbouring depth slices
    (from c − n//2 to c + (n−1)//2, as AlexNet and PyTorch place the window)."""

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        xp = self.xp
        n, alpha, beta, k = (self.spec[name] for name in ("size", "alpha", "beta", "k"))
        before, after = n // 2, (n - 1) // 2
        squares = arrays.scratch(x.shape, x.dtype)
        xp.multiply(x, x, out=squares)
        scale = _window_sum(squares, before, after, arrays.kept("scale", x.shape, x.dtype))
        scale *= alpha / n
        scale += k
        y = arrays.output(x.shape, x.dtype)
        xp.power(scale, -beta, out=y)
        y *= x

        def backprop(dy: Any) -> Any:
            # dL/dx_i = dy_i·s_i^−β − (2αβ/n)·x_i·Σ_{j: i in window(j)} dy_j·y_j/s_j
            ratio = arrays.scratch(dy.shape, dy.dtype)
            xp.multiply(dy, y, out=ratio)
            ratio /= scale
            window = _window_sum(ratio, after, before, arrays.scratch(dy.shape, dy.dtype, dy.size))
            window *= x
            window *= 2 * alpha * beta / n
            dy *= xp.power(scale, -beta, out=ratio)
            dy -= window
            return dy

        return y, backprop


def _window_sum(a: Any, before: int, after: int, out: Any) -> Any:
    """Σ a[..., c−before : c+after+1] along the depth axis into `out`, zeros beyond the edges."""
    d = a.shape[-1]
    out[...] = a
    for offset in range(1, max(before, after) + 1):
        if offset <= before and offset < d:  # a[c − offset] adds to c
            out[..., offset:] += a[..., :d - offset]
        if offset <= after and offset < d:  # a[c + offset] adds to c
            out[..., :d - offset] += a[..., offset:]
    return out
