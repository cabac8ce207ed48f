"""Max and average pooling over F×F windows (with zero padding), and global average pooling.

Each window offset (i, j) is one strided slice of the padded input, so pooling is
F·F elementwise operations on (N, H2, W2, D) arrays. Average pooling divides by F·F,
padding included. Max pooling pads with −inf and routes each output's gradient to the
first input that attains the maximum. Backward passes write only the unpadded input;
where the windows tile the input (S = F, the usual 2×2/2) each input pixel gets exactly
one share, written directly, with no zero-fill and no accumulation. There a max pool in
training marks, in the forward pass, the input each output's gradient will go to, while
its input is still in the cache; its backward pass is then one multiplication of the
marks by the spread gradient, and never reads the input again: a 32-image share of the
reference network's step took 0.92-0.98 of its time with the marking in the backward pass.

NumPy pays per contiguous run it walks, and a tap walks runs of D floats. So where the
windows tile the input and D is small (LeNet's 6 feature maps), the forward pass first
combines each window's F rows, whole image rows at a time, and then its F columns; and
average pooling's backward pass repeats each gradient F times along its row with one
gather and copies the rows whole.

A max pool whose windows tile the output of a convolution reads it in window order
(`engine.plan.window_orders`): each image's F·F window offsets are F·F contiguous blocks,
so both passes combine whole blocks.

A ReLU just below a max pool leaves its training passes to the pool (`relu_below`), which
does them on its F·F times smaller output: the maximum of rectified inputs is the
rectified maximum, and the gradient reaches a ReLU output only where it is a window's
maximum, where the slope is 1 exactly when that maximum is positive.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from engine.layers.base import Backprop, Layer, Tap, against_zero, padded, taps
from engine.plan import Arrays, bools_in_floats, pools_rows_first, tiles


class Pool(Layer):
    relu_below = False  # set by the model for a ReLU → max pool pair

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        f, s, p = self.spec["size"], self.spec["stride"], self.spec["pad"]
        n, h, w, d = x.shape
        window_taps = taps(f, s, p, h, w, self.output.height, self.output.width)
        y = arrays.output((n, self.output.height, self.output.width, d), x.dtype)
        if self.spec["mode"] == "max":
            return self._max(x, y, p, window_taps, arrays, train)
        return self._avg(x, y, p, window_taps, arrays)

    def _max(self, x: Any, y: Any, p: int, window_taps: tuple[Tap, ...],
             arrays: Arrays, train: bool) -> tuple[Any, Backprop]:
        xp = self.xp
        ordered = train and self.input_order > 1
        self._combine(padded(x, p, -float("inf"), arrays), y, xp.maximum, window_taps, arrays,
                      ordered)
        if self.relu_below:
            against_zero(xp, xp.maximum, y, y)
        elif p:  # a window that lies wholly in the padding; not y[mask] = 0, for which
            # CuPy counts the mask's True entries on the host, waiting for the GPU
            xp.copyto(y, 0, where=y == -float("inf"))
        if train and tiles(self.spec):
            marks = arrays.kept("marks", x.shape, bool)
            live = arrays.scratch(y.shape, bool)
            per_image = x[0].size + y[0].size + bools_in_floats(x[0].size + y[0].size)
            for rows in self.backend.batch_slices(len(x), per_image):
                self._mark(x[rows], y[rows], marks[rows], live[rows], ordered)
            grid, over, _ = self._tiling(y.shape, ordered)

            def routed(dy: Any) -> Any:
                dx = arrays.gradient(x.shape, dy.dtype)
                xp.multiply(marks.reshape(grid), over(dy), out=dx.reshape(grid))
                return dx

            return y, routed

        def backprop(dy: Any) -> Any:
            dx = self._gradient(x.shape, dy.dtype, arrays)
            hit = arrays.scratch(dy.shape, bool)
            routed = None if self._disjoint() else arrays.scratch(dy.shape, dy.dtype, dy.size)
            for rows in self.backend.batch_slices(len(x), x[0].size + 4 * y[0].size):
                self._route(x[rows], y[rows], dy[rows], dx[rows], hit[rows],
                            None if routed is None else routed[rows], window_taps)
            return dx

        return y, backprop

    def _route(self, x: Any, y: Any, dy: Any, dx: Any, hit: Any, routed: Any | None,
               window_taps: tuple[Tap, ...]) -> None:
        """Max pooling's backward pass on some images: each output's gradient goes to the
        first input of its window that equals the maximum (`hit` marks them; `routed`
        holds the shares where windows overlap)."""
        xp = self.xp
        if self.relu_below:
            xp.greater(y, 0, out=hit)
            dy *= hit
        for k, t in enumerate(window_taps):
            win = (slice(None), t.out_rows, t.out_cols)
            winner, dy_t = hit[win], dy[win]
            xp.equal(x[:, t.in_rows, t.in_cols, :], y[win], out=winner)
            target = dx[:, t.in_rows, t.in_cols, :]
            if self._disjoint():
                xp.multiply(winner, dy_t, out=target)
                share = target
            else:
                share = routed[win]
                xp.multiply(winner, dy_t, out=share)
                target += share
            if k < len(window_taps) - 1:
                dy_t -= share  # on a tie only the first max gets it

    def _mark(self, x: Any, y: Any, marks: Any, live: Any, ordered: bool) -> None:
        """Where the windows tile the input, in the forward pass while x is still in the
        cache: mark in `marks` (shaped as x) the input each output's gradient will go to,
        the first that attains its window's maximum, and none where a ReLU below leaves
        the window no gradient (its maximum is not positive). The window offsets are axes
        of a view of x (`_tiling`), so this is one pass over it; `live` marks the windows
        whose first maximum is found while ties are settled."""
        xp = self.xp
        grid, over, offsets = self._tiling(y.shape, ordered)
        marks = marks.reshape(grid)
        xp.equal(x.reshape(grid), over(y), out=marks)
        if self.relu_below:
            xp.greater(y, 0, out=live)
        if self._one_maximum_each(marks, y, live):
            return
        if self.relu_below:
            marks &= over(live)  # a window whose maximum is 0 (rectified: y) marked its zeros
        offsets = [marks[offset] for offset in offsets]
        live = live.reshape(offsets[0].shape)
        live[...] = offsets[0]
        for k, offset in enumerate(offsets[1:], 2):
            xp.greater(offset, live, out=offset)  # a maximum of a window not yet taken
            if k < len(offsets):
                xp.logical_or(live, offset, out=live)

    def _tiling(self, shape: tuple[int, ...], ordered: bool) -> tuple[tuple[int, ...], Any, list]:
        """Where the windows tile the input: the input's shape as a grid whose window
        offsets are axes, a function that spreads an output over that grid (a view), and
        each offset's index into it. In NHWC the grid is (N, H2, F, W2, F, D); in window
        order (`engine.plan.window_orders`) it is (N, F·F, H2·W2·D), whose passes run over
        whole H2·W2·D blocks."""
        f = self.spec["size"]
        n, h2, w2, d = shape
        if ordered:
            return ((n, f * f, h2 * w2 * d), lambda a: a.reshape(n, 1, -1),
                    [(slice(None), k) for k in range(f * f)])
        every = slice(None)
        return ((n, h2, f, w2, f, d), lambda a: a[:, :, None, :, None, :],
                [(every, every, i, every, j) for i in range(f) for j in range(f)])

    def _one_maximum_each(self, marks: Any, y: Any, live: Any) -> bool:
        """Whether the `marks` of the windows' maxima need no settling of ties, which takes
        F·F passes: asked only where reading a count back is free. Every window that counts
        has at least one mark, so the marks are as many as those windows only if each has
        exactly one and the others none. Above a ReLU, the windows that count are those
        with a positive maximum, which `live` marks already; a window whose maximum is
        negative has no mark (no input equals its rectified maximum, 0), one whose maximum
        is 0 has some, which makes the count come out uneven. Otherwise the windows that
        count are those whose maximum is not NaN (a NaN equals nothing), which `live` is
        made to mark."""
        if not self.backend.free_reads:
            return False
        if not self.relu_below:
            self.xp.equal(y, y, out=live)
        return int(self.xp.count_nonzero(marks)) == int(self.xp.count_nonzero(live))

    def _avg(self, x: Any, y: Any, p: int, window_taps: tuple[Tap, ...],
             arrays: Arrays) -> tuple[Any, Backprop]:
        f = self.spec["size"]
        self._combine(padded(x, p, 0.0, arrays), y, self.xp.add, window_taps, arrays, False)
        y *= 1.0 / (f * f)

        def backprop(dy: Any) -> Any:
            dy *= 1.0 / (f * f)
            dx = self._gradient(x.shape, dy.dtype, arrays)
            if tiles(self.spec):
                self._spread(dy, dx, arrays)
                return dx
            for t in window_taps:
                target = dx[:, t.in_rows, t.in_cols, :]
                share = dy[:, t.out_rows, t.out_cols, :]
                if self._disjoint():
                    target[...] = share
                else:
                    target += share
            return dx

        return y, backprop

    def _combine(self, x: Any, y: Any, combine: Any, window_taps: tuple[Tap, ...],
                 arrays: Arrays, ordered: bool) -> None:
        """Write into y the `combine` (maximum or sum) of each window of x (padded)."""
        if ordered:
            grid, _, offsets = self._tiling(y.shape, ordered)
            tiled, out = x.reshape(grid), y.reshape(grid[0], -1)
            combine(tiled[offsets[0]], tiled[offsets[1]], out=out)
            for offset in offsets[2:]:
                combine(out, tiled[offset], out=out)
            return
        if pools_rows_first(self.spec, self.input):
            f = self.spec["size"]
            n, h2, w2, d = y.shape
            rows = x.reshape(n, h2, f, w2 * f * d)
            combined = arrays.scratch((n, h2, w2 * f * d), x.dtype)
            combine(rows[:, :, 0], rows[:, :, 1], out=combined)
            for i in range(2, f):
                combine(combined, rows[:, :, i], out=combined)
            columns = combined.reshape(n, h2, w2, f, d)
            combine(columns[..., 0, :], columns[..., 1, :], out=y)
            for j in range(2, f):
                combine(y, columns[..., j, :], out=y)
            return
        first, rest = window_taps[0], window_taps[1:]
        y[...] = x[:, first.rows, first.cols, :]
        for t in rest:
            combine(y, x[:, t.rows, t.cols, :], out=y)

    def _spread(self, dy: Any, dx: Any, arrays: Arrays) -> None:
        """Average pooling's backward pass where the windows tile the input: each output's
        gradient repeated F times along its row (one gather of whole pixels), then each
        such row copied to the F rows of its windows, whole image rows at a time."""
        f = self.spec["size"]
        n, h2, w2, d = dy.shape
        repeated = arrays.scratch((n, h2, w2 * f, d), dy.dtype)
        self.backend.take(dy, self._window_of_column, 2, repeated)
        dx.reshape(n, h2, f, w2 * f * d)[...] = repeated.reshape(n, h2, 1, w2 * f * d)

    @functools.cached_property
    def _window_of_column(self) -> Any:
        """Where the windows tile the input: the window column of each input column."""
        return self.backend.asarray(np.repeat(np.arange(self.output.width), self.spec["size"]),
                                    np.intp)

    def _disjoint(self) -> bool:
        """Whether no two windows share an input pixel (S ≥ F)."""
        return self.spec["stride"] >= self.spec["size"]

    def _gradient(self, shape: tuple[int, ...], dtype: Any, arrays: Arrays) -> Any:
        """The input gradient's array, zeroed unless every input pixel lies in exactly one
        window (S = F), where each gets written once."""
        dx = arrays.gradient(shape, dtype)
        if self.spec["stride"] != self.spec["size"]:
            dx.fill(0)
        return dx


class GlobalAveragePool(Layer):
    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        xp = self.xp
        n, h, w, d = x.shape
        y = arrays.output((n, 1, 1, d), x.dtype)
        xp.mean(x.reshape(n, h * w, d), axis=1, out=y.reshape(n, d))

        def backprop(dy: Any) -> Any:
            dx = arrays.gradient((n, h, w, d), dy.dtype)
            xp.multiply(dy, 1.0 / (h * w), out=dx)
            return dx

        return y, backprop
