"""Elementwise non-linearities. Each backward pass needs only the layer's output, so
when the analysis marks a layer in place it overwrites its input (saving one volume)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from engine.layers.base import Backprop, Layer, against_zero
from engine.plan import Arrays


class Activation(Layer):
    left_to_pool = False  # a ReLU whose max pool above does its training passes

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        if train and self.left_to_pool:
            return x, lambda dy: dy
        y = x if self.in_place else arrays.output(x.shape, x.dtype)
        self._apply(x, y, arrays)

        def backprop(dy: Any) -> Any:
            dy *= self._slope(y, arrays.scratch(y.shape, y.dtype))
            return dy

        return y, backprop

    @abstractmethod
    def _apply(self, x: Any, out: Any, arrays: Arrays) -> None:
        """Write f(x) into `out` (which may be x)."""

    @abstractmethod
    def _slope(self, y: Any, out: Any) -> Any:
        """Write f'(x), expressed through y = f(x), into `out` and return it."""


class ReLU(Activation):
    def _apply(self, x, out, arrays):
        against_zero(self.xp, self.xp.maximum, x, out)

    def _slope(self, y, out):
        return self.xp.greater(y, 0, out=out)


class LeakyReLU(Activation):
    def _apply(self, x, out, arrays):
        # x − (1 − α)·min(x, 0), which is x for x > 0 and αx otherwise
        xp = self.xp
        negative = arrays.scratch(x.shape, x.dtype)
        against_zero(xp, xp.minimum, x, negative)
        negative *= 1 - self.spec["slope"]
        xp.subtract(x, negative, out=out)

    def _slope(self, y, out):
        slope = self.spec["slope"]
        self.xp.greater(y, 0, out=out)
        out *= 1 - slope
        out += slope
        return out


class Tanh(Activation):
    def _apply(self, x, out, arrays):
        self.xp.tanh(x, out=out)

    def _slope(self, y, out):
        xp = self.xp
        xp.multiply(y, y, out=out)
        return xp.subtract(1, out, out=out)


class Sigmoid(Activation):
    def _apply(self, x, out, arrays):
        # 1/(1+e^−x) written as (1 + tanh(x/2))/2, which cannot overflow
        xp = self.xp
        xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out += 1
        out *= 0.5

    def _slope(self, y, out):
        self.xp.subtract(1, y, out=out)
        out *= y
        return out
