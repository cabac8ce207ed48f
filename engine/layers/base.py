"""What every layer shares: its spec, volumes, backend and parameter dictionaries.

A layer's `forward(x, train)` returns its output and a `backprop(dy) -> dx` closure
that captures what the backward pass needs (Thinc style). `backprop` writes the
parameter gradients into `layer.grads` and may overwrite `dy`, which it owns.
Arrays are NHWC (batch, height, width, depth) float32 on the layer's backend.
"""

from __future__ import annotations

from typing import Any, Callable

from engine.backend import Backend
from engine.shapes import LayerInfo

Backprop = Callable[[Any], Any]


class Layer:
    """A built layer: `params`, `grads` and `buffers` map names to device arrays."""

    def __init__(self, info: LayerInfo, backend: Backend):
        self.spec = info.layer
        self.id = info.layer.id
        self.input = info.input
        self.output = info.output
        self.in_place = info.in_place
        self.backend = backend
        self.xp = backend.xp
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}  # state that is not trained, e.g. running means
        self.input_grad = True  # the model turns it off for the first layer

    def forward(self, x: Any, train: bool) -> tuple[Any, Backprop]:
        raise NotImplementedError

    def _add_param(self, name: str, value: Any) -> None:
        self.params[name] = value
        self.grads[name] = self.xp.zeros_like(value)


def windows(f: int, s: int, h2: int, w2: int):
    """The F·F (i, j, rows, cols) slices that pick, for every output pixel, the input
    pixel at window offset (i, j): the building block of im2col and pooling."""
    for i in range(f):
        for j in range(f):
            yield i, j, slice(i, i + s * (h2 - 1) + 1, s), slice(j, j + s * (w2 - 1) + 1, s)


def padded(xp: Any, x: Any, p: int, value: float = 0.0) -> Any:
    """x with P pixels of `value` added on every spatial border (x itself when P=0)."""
    if p == 0:
        return x
    n, h, w, c = x.shape
    out = xp.full((n, h + 2 * p, w + 2 * p, c), value, dtype=x.dtype)
    out[:, p:p + h, p:p + w, :] = x
    return out
