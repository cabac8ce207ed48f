"""Elementwise non-linearities. Each backward pass needs only the layer's output, so
when the analysis marks a layer in place it overwrites its input (saving one volume)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from engine.layers.base import Backprop, Layer


class Activation(Layer):
    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        y = self._apply(x, x if self.in_place else self.xp.empty_like(x))

        def backprop(dy: Any) -> Any:
            dy *= self._slope(y)
            return dy

        return y, backprop

    @abstractmethod
    def _apply(self, x: Any, out: Any) -> Any:
        """Write f(x) into `out` (which may be x) and return it."""

    @abstractmethod
    def _slope(self, y: Any) -> Any:
        """f'(x) expressed through y = f(x)."""


class ReLU(Activation):
    def _apply(self, x, out):
        return self.xp.maximum(x, 0, out=out)

    def _slope(self, y):
        return y > 0


class LeakyReLU(Activation):
    def _apply(self, x, out):
        # max(x, αx) is x for x > 0 and αx otherwise, because 0 ≤ α ≤ 1
        return self.xp.maximum(x, x * self.spec["slope"], out=out)

    def _slope(self, y):
        xp = self.xp
        return xp.where(y > 0, y.dtype.type(1), y.dtype.type(self.spec["slope"]))


class Tanh(Activation):
    def _apply(self, x, out):
        return self.xp.tanh(x, out=out)

    def _slope(self, y):
        return 1 - y * y


class Sigmoid(Activation):
    def _apply(self, x, out):
        # 1/(1+e^−x) written as (1 + tanh(x/2))/2, which cannot overflow
        xp = self.xp
        xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out += 1
        out *= 0.5
        return out

    def _slope(self, y):
        return y * (1 - y)
