"""Max and average pooling over F×F windows (with zero padding), and global average pooling.

Each window offset (i, j) is one strided slice of the padded input, so pooling is
F·F elementwise operations on (N, H2, W2, D) arrays. Average pooling divides by F·F,
padding included. Max pooling pads with −inf and routes each output's gradient to the
first input that attains the maximum. Backward passes write only the unpadded input.
"""

from __future__ import annotations

from typing import Any

from engine.layers.base import Backprop, Layer, Tap, padded, taps


class Pool(Layer):
    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        f, s, p = self.spec["size"], self.spec["stride"], self.spec["pad"]
        n, h, w, d = x.shape
        window_taps = taps(f, s, p, h, w, self.output.height, self.output.width)
        if self.spec["mode"] == "max":
            return self._max(x, p, window_taps)
        return self._avg(x, f, p, window_taps)

    def _max(self, x: Any, p: int, window_taps: list[Tap]) -> tuple[Any, Backprop]:
        xp = self.xp
        xpad = padded(xp, x, p, -float("inf"))
        first, rest = window_taps[0], window_taps[1:]
        y = xpad[:, first.rows, first.cols, :].copy()
        for t in rest:
            xp.maximum(y, xpad[:, t.rows, t.cols, :], out=y)
        del xpad
        if p:
            y[y == -float("inf")] = 0  # a window that lies wholly in the padding

        def backprop(dy: Any) -> Any:
            dx = xp.zeros(x.shape, dtype=dy.dtype)
            for t in window_taps:
                hit = x[:, t.in_rows, t.in_cols, :] == y[:, t.out_rows, t.out_cols, :]
                routed = dy[:, t.out_rows, t.out_cols, :] * hit
                dx[:, t.in_rows, t.in_cols, :] += routed
                dy[:, t.out_rows, t.out_cols, :] -= routed  # on a tie only the first max gets it
                del hit, routed  # before the next tap allocates its own
            return dx

        return y, backprop

    def _avg(self, x: Any, f: int, p: int, window_taps: list[Tap]) -> tuple[Any, Backprop]:
        xp = self.xp
        xpad = padded(xp, x, p)
        first, rest = window_taps[0], window_taps[1:]
        y = xpad[:, first.rows, first.cols, :].copy()
        for t in rest:
            y += xpad[:, t.rows, t.cols, :]
        y *= 1.0 / (f * f)
        shape = x.shape
        del xpad

        def backprop(dy: Any) -> Any:
            dy *= 1.0 / (f * f)
            dx = xp.zeros(shape, dtype=dy.dtype)
            for t in window_taps:
                dx[:, t.in_rows, t.in_cols, :] += dy[:, t.out_rows, t.out_cols, :]
            return dx

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
