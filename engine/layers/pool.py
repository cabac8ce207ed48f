"""Max and average pooling over F×F windows (with zero padding), and global average pooling.

Each window offset (i, j) is one strided slice of the padded input, so pooling is
F·F elementwise operations on (N, H2, W2, D) arrays. Average pooling divides by F·F,
padding included. Max pooling pads with −inf and routes each output's gradient to the
first input that attains the maximum.
"""

from __future__ import annotations

from typing import Any

from engine.layers.base import Backprop, Layer, padded, windows


class Pool(Layer):
    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        if self.spec["mode"] == "max":
            return self._max(x)
        return self._avg(x)

    def _geometry(self, x: Any):
        f, s, p = self.spec["size"], self.spec["stride"], self.spec["pad"]
        return f, s, p, x.shape, self.output.height, self.output.width

    def _max(self, x: Any) -> tuple[Any, Backprop]:
        xp = self.xp
        f, s, p, (n, h, w, d), h2, w2 = self._geometry(x)
        xpad = padded(xp, x, p, -float("inf"))
        taps = list(windows(f, s, h2, w2))
        y = xpad[:, taps[0][2], taps[0][3], :].copy()
        for _, _, rows, columns in taps[1:]:
            xp.maximum(y, xpad[:, rows, columns, :], out=y)
        if p:
            y[y == -float("inf")] = 0  # a window that lies wholly in the padding

        def backprop(dy: Any) -> Any:
            dxpad = xp.zeros(xpad.shape, dtype=dy.dtype)
            for _, _, rows, columns in taps:
                hit = xpad[:, rows, columns, :] == y
                routed = dy * hit
                dxpad[:, rows, columns, :] += routed
                dy -= routed  # ties: only the first maximum receives the gradient
            return dxpad[:, p:p + h, p:p + w, :] if p else dxpad

        return y, backprop

    def _avg(self, x: Any) -> tuple[Any, Backprop]:
        xp = self.xp
        f, s, p, (n, h, w, d), h2, w2 = self._geometry(x)
        xpad = padded(xp, x, p)
        taps = list(windows(f, s, h2, w2))
        y = xpad[:, taps[0][2], taps[0][3], :].copy()
        for _, _, rows, columns in taps[1:]:
            y += xpad[:, rows, columns, :]
        y *= 1.0 / (f * f)
        shape = xpad.shape
        del xpad

        def backprop(dy: Any) -> Any:
            dy *= 1.0 / (f * f)
            dxpad = xp.zeros(shape, dtype=dy.dtype)
            for _, _, rows, columns in taps:
                dxpad[:, rows, columns, :] += dy
            return dxpad[:, p:p + h, p:p + w, :] if p else dxpad

        return y, backprop


class GlobalAveragePool(Layer):
    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        n, h, w, d = x.shape
        y = x.reshape(n, h * w, d).mean(axis=1).reshape(n, 1, 1, d)

        def backprop(dy: Any) -> Any:
            dx = xp.empty((n, h, w, d), dtype=dy.dtype)
            dx[...] = dy * (1.0 / (h * w))
            return dx

        return y, backprop
