"""What every layer shares: its spec, volumes, backend and parameter dictionaries.

A layer's `forward(x, train)` returns its output and a `backprop(dy) -> dx` closure
that captures what the backward pass needs (Thinc style). `backprop` writes the
parameter gradients into `layer.grads` and may overwrite `dy`, which it owns.
Arrays are NHWC (batch, height, width, depth) float32 on the layer's backend. In training
the model passes the views of its buffer plan (`engine.plan`) that the layer writes into,
otherwise each array is allocated anew; and in training a convolution and the activations
that feed a max pool keep their pixels in the pool's window order, with the same shape
(`engine.plan.window_orders`).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

from engine.backend import Backend
from engine.plan import Arrays
from engine.shapes import LayerInfo

Backprop = Callable[[Any], Any]


class Layer(ABC):
    """A built layer: `params`, `grads` and `buffers` map names to device arrays (the first
    two are views of the model's `ParameterStore`)."""

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
        # the F of the window order (`engine.plan.window_orders`) of the pixels of the
        # layer's input and output in training, set by the model; 1: NHWC
        self.input_order = self.output_order = 1

    def forward(self, x: Any, train: bool, arrays: Arrays | None = None) -> tuple[Any, Backprop]:
        """The layer's output for x and the closure that turns dy into dx."""
        return self._forward(x, train, arrays or Arrays(self.xp))

    @abstractmethod
    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        """`forward`, writing into the arrays `arrays` gives."""

    def _add_param(self, name: str, value: Any) -> None:
        """A trained array and its gradient; a model moves both into its `ParameterStore`."""
        self.params[name] = value
        self.grads[name] = self.xp.zeros_like(value)


@dataclass(frozen=True)
class Tap:
    """Window offset (i, j) of an F×F window layer as slices: `rows`/`cols` pick, in the
    padded input, the pixel each output sees at that offset; `out_rows`/`out_cols` are
    the outputs whose pixel lies inside the unpadded input, at `in_rows`/`in_cols`."""

    i: int
    j: int
    rows: slice
    cols: slice
    out_rows: slice
    out_cols: slice
    in_rows: slice
    in_cols: slice


@functools.lru_cache(maxsize=256)  # every step asks again; 25 taps cost 0.2 ms to make
def taps(f: int, s: int, p: int, h: int, w: int, h2: int, w2: int) -> tuple[Tap, ...]:
    """The F·F taps of a window layer on an H×W input: the building blocks of im2col
    and pooling."""
    result = []
    for i in range(f):
        for j in range(f):
            out_rows, in_rows = _inside(i, s, p, h, h2)
            out_cols, in_cols = _inside(j, s, p, w, w2)
            result.append(Tap(i, j, slice(i, i + s * (h2 - 1) + 1, s),
                              slice(j, j + s * (w2 - 1) + 1, s),
                              out_rows, out_cols, in_rows, in_cols))
    return tuple(result)


def _inside(offset: int, s: int, p: int, size: int, size2: int) -> tuple[slice, slice]:
    """Outputs r whose input pixel offset + s·r − p lies in [0, size), and those pixels."""
    first = max(0, -(-(p - offset) // s))
    last = min(size2 - 1, (size - 1 + p - offset) // s)
    if first > last:
        return slice(0, 0), slice(0, 0)
    return (slice(first, last + 1),
            slice(offset + s * first - p, offset + s * last - p + 1, s))


def padded(x: Any, p: int, value: float, arrays: Arrays) -> Any:
    """x with P pixels of `value` added on every spatial border (x itself when P=0)."""
    if p == 0:
        return x
    n, h, w, c = x.shape
    out = arrays.kept("padded", (n, h + 2 * p, w + 2 * p, c), x.dtype)
    out[:, :p] = value
    out[:, p + h:] = value
    out[:, p:p + h, :p] = value
    out[:, p:p + h, p + w:] = value
    out[:, p:p + h, p:p + w] = x
    return out


ZERO_ROW = 8192  # floats in the row of zeros `against_zero` compares with


def against_zero(xp: Any, combine: Any, x: Any, out: Any) -> None:
    """`combine(x, 0, out=out)` for the ufunc `xp.maximum` (a ReLU) or `xp.minimum`, but
    against a row of zeros: NumPy 2.4 runs a float32 maximum against the scalar 0 outside
    its vector loops, 3-4 times slower (65,536 floats: 51-55 µs, against 16 in rows of
    ZERO_ROW). A share of a CONV-RELU-CONV-RELU-POOL network (32×32×3, 32 filters) took
    0.96-0.98 of its time; the reference network's, whose ReLUs its pools do, 0.99-1.00."""
    if not (x.flags.c_contiguous and out.flags.c_contiguous):
        combine(x, 0, out=out)
        return
    # In place, each view of x is passed as its own output: CuPy copies an input that
    # overlaps the output without being that very array.
    in_place = x is out
    x = x.reshape(-1)
    out = x if in_place else out.reshape(-1)
    whole = x.size - x.size % ZERO_ROW
    if whole:
        rows = (-1, ZERO_ROW)
        head = x[:whole].reshape(rows)
        combine(head, _zeros(xp, x.dtype), out=head if in_place else out[:whole].reshape(rows))
    if whole < x.size:
        tail = x[whole:]
        combine(tail, 0, out=tail if in_place else out[whole:])


@functools.lru_cache(maxsize=None)
def _zeros(xp: Any, dtype: Any) -> Any:
    return xp.zeros(ZERO_ROW, dtype)


def window_ordered(a: Any, f: int) -> Any:
    """The pixels of a (N, H, W, ...) array or view in window order F (by image, then by
    offset in an F×F tile, then by tile): a (N, F, F, H/F, W/F, ...) view."""
    n, h, w, *rest = a.shape
    return a.reshape(n, h // f, f, w // f, f, *rest).transpose(
        0, 2, 4, 1, 3, *range(5, 5 + len(rest)))


def nhwc_view(a: Any, f: int) -> Any:
    """A (N, H, W, D) array whose memory holds its pixels in window order F, as the
    (N, H/F, F, W/F, F, D) view that reads them in NHWC order."""
    n, h, w, d = a.shape
    return a.reshape(n, f, f, h // f, w // f, d).transpose(0, 3, 1, 4, 2, 5)


def windows(backend: Backend, x: Any, f: int, s: int, h2: int, w2: int) -> Any:
    """The F×F windows at stride S of x (N, H, W, D) as one (N, H2, W2, F, F, D) view of
    its memory, without a copy."""
    n, _, _, d = x.shape
    sn, sh, sw, sd = x.strides
    return backend.as_strided(x, (n, h2, w2, f, f, d), (sn, s * sh, s * sw, sh, sw, sd))
