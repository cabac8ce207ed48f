"""Normalization layers: batch normalization and AlexNet's local response normalization."""

from __future__ import annotations

from typing import Any

from engine.layers.base import Backprop, Layer


class BatchNorm(Layer):
    """Per depth slice over batch, height and width; running statistics for evaluation."""

    def __init__(self, info, backend):
        super().__init__(info, backend)
        d = self.output.depth
        self._add_param("gamma", backend.asarray([1.0] * d))
        self._add_param("beta", backend.zeros((d,)))
        self.buffers = {"mean": backend.zeros((d,)), "var": backend.asarray([1.0] * d)}

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
        xhat = (x2 - mean) * inv_std
        y = xhat * self.params["gamma"] + self.params["beta"]

        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(-1, shape[-1])
            xp.sum(dy2 * xhat, axis=0, out=self.grads["gamma"])
            xp.sum(dy2, axis=0, out=self.grads["beta"])
            m = dy2.shape[0]
            dxhat = dy2 * self.params["gamma"]
            dx = dxhat * m
            dx -= dxhat.sum(axis=0)
            dx -= xhat * (dxhat * xhat).sum(axis=0)
            dx *= inv_std * (1 / m)
            return dx.reshape(shape)

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
        y = x * scale ** -beta

        def backprop(dy: Any) -> Any:
            # dL/dx_i = dy_i·s_i^−β − (2αβ/n)·x_i·Σ_{j: i in window(j)} dy_j·y_j/s_j
            ratio = dy * y
            ratio /= scale
            dx = dy * scale ** -beta
            dx -= (2 * alpha * beta / n) * x * _window_sum(xp, ratio, after, before)
            return dx

        return y, backprop


def _window_sum(xp: Any, a: Any, before: int, after: int) -> Any:
    """Σ a[..., c−before : c+after+1] along the depth axis, zeros beyond the edges."""
    d = a.shape[-1]
    csum = xp.zeros(a.shape[:-1] + (d + before + after + 1,), dtype=a.dtype)
    xp.cumsum(a, axis=-1, out=csum[..., before + 1:before + 1 + d])
    csum[..., before + 1 + d:] = csum[..., before + d:before + d + 1]
    return csum[..., before + after + 1:] - csum[..., :d]
