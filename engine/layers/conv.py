"""Convolution as im2col + one GEMM, channels-last.

In NHWC the F×F windows of the padded input are one strided view of its memory, so
im2col is a single copy of that view into a patch matrix with one row per output pixel
and F·F·D1 columns, and its product with the (F·F·D1, K) filter matrix lands directly
in the (N, H2, W2, K) layout the next layer reads. The notes' bias trick saves a pass
over the output each way: every patch gets one more column, always 1, whose weights are
the biases, so the product adds them and the weight gradient's GEMM sums their gradient.
The matrix is kept for the weight gradient and then reused to hold the patch gradients,
which are added back onto the input pixels one filter tap at a time.

NumPy pays per contiguous run it moves, so the layouts are chosen for long runs. The
im2col copy moves F·D1 floats of a window row when the matrix is stored pixel-major,
(N, H2, W2, F, F, D1), or W2 floats of an output row when it is stored tap-major,
(F, F, D1, N, H2, W2). The GEMMs read either through a transposed view but run faster on
the pixel-major one, so tap-major is kept for thin inputs (grey or RGB images) feeding a
few filters (K ≤ 16), where the copy costs more than the product (measured on OpenBLAS).
The weight gradient is patchesᵀ·dy, a tap-major matrix as stored times dy, except that
a pixel-major matrix of wide patches (WIDE_PATCH inputs or more) is multiplied as
(dyᵀ·patches)ᵀ: measured inside training steps, cifar10.json's tap-major conv took 2.3 ms
one way against 2.9 the other, and the reference network's pixel-major conv2 (289 inputs)
8.9 ms against 10.0. As patchesᵀ·dy, the product of its conv1 (28 inputs) took 0.86-0.87
of the time on its own and a share of the step 0.96-0.99; products of 76 inputs 0.97,
of 145 inputs 1.01-1.03.
The patch gradients are computed in (F, F, D1, H2, W2, N) order, the batch innermost, and
added into a (D1, H, W, N) gradient whole W2·N-float rows at a time, which is then
transposed into NHWC.
The patches are rows in any order, so a convolution that feeds a max pool writes its
output in the pool's window order (`engine.plan.window_orders`) by taking its patches in
that order; its output's gradient comes in the same order.
A 3×3 convolution at stride 1 goes through Winograd's F(2, 3) instead where that pays
(`engine.plan.winograd`, `engine.layers.winograd`): 2/3 of the multiply-adds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.init import initial_weights
from engine.layers.base import Backprop, Layer, nhwc_view, padded, taps, window_ordered, windows
from engine.layers.params import parameter_shapes
from engine.layers.winograd import forward as winograd_forward
from engine.plan import Arrays, winograd

TAP_MAJOR_FILTERS = 16
WIDE_PATCH = 100  # inputs of a patch


class Conv(Layer):
    def __init__(self, info, backend, rng: np.random.Generator, relu_follows: bool):
        super().__init__(info, backend)
        shapes = parameter_shapes(info)
        f, _, d, k = shapes["W"]
        w = initial_weights(rng, shapes["W"], f * f * d, f * f * k, relu_follows)
        self._add_param("W", backend.asarray(w))
        self._add_param("b", backend.zeros(shapes["b"]))
        self.winograd = winograd(info.layer, info.input, info.output)

    def _forward(self, x: Any, train: bool, arrays: Arrays) -> tuple[Any, Backprop]:
        xp = self.xp
        f, s, p = self.spec["size"], self.spec["stride"], self.spec["pad"]
        n, h, w, d = x.shape
        h2, w2, k = self.output.height, self.output.width, self.output.depth
        order = self.output_order if train else 1
        if self.winograd:
            return winograd_forward(self, x, arrays, order)
        view = window_ordered(windows(self.backend, padded(x, p, 0.0, arrays), f, s, h2, w2),
                              order)
        pixels = view.shape[:5]  # the output's, in the order its memory holds them
        inputs = f * f * d + 1  # a patch and its constant 1
        tap_major = w2 > f * d and k <= TAP_MAJOR_FILTERS
        if tap_major:
            cols = arrays.kept("cols", (inputs, n * h2 * w2), x.dtype)
            cols[:-1].reshape(f, f, d, *pixels)[...] = view.transpose(5, 6, 7, 0, 1, 2, 3, 4)
            cols[-1] = 1
            patches = cols.T
        else:
            cols = arrays.kept("cols", (n * h2 * w2, inputs), x.dtype)
            cols[:, :-1].reshape(*pixels, f, f, d)[...] = view
            cols[:, -1] = 1
            patches = cols
        weights = xp.concatenate([self.params["W"].reshape(f * f * d, k),
                                  self.params["b"].reshape(1, k)])
        out = arrays.output((n, h2, w2, k), x.dtype)
        xp.matmul(patches, weights, out=out.reshape(-1, k))

        def backprop(dy: Any) -> Any:
            dy2 = dy.reshape(n * h2 * w2, k)
            if tap_major or inputs < WIDE_PATCH:  # (inputs, K)
                gradients = xp.matmul(patches.T, dy2)
            else:
                gradients = xp.matmul(dy2.T, patches).T
            self.grads["W"][...] = gradients[:-1].reshape(f, f, d, k)
            self.grads["b"][...] = gradients[-1]
            if not self.input_grad:
                return None
            dy_batch_last = arrays.gradient_scratch((h2, w2, n, k), dy.dtype)
            dy_batch_last.reshape(h2 // order, order, w2 // order, order, n, k)[...] = (
                nhwc_view(dy, order).transpose(1, 2, 3, 4, 0, 5))
            # the patch gradients overwrite the patches, which are done
            dcols = cols.reshape(-1)[:f * f * d * h2 * w2 * n].reshape(f, f, d, h2, w2, n)
            xp.matmul(self.params["W"].reshape(f * f * d, k), dy_batch_last.reshape(-1, k).T,
                      out=dcols.reshape(f * f * d, -1))
            dx_padded = arrays.gradient_scratch((d, h + 2 * p, w + 2 * p, n), dy.dtype, dy.size)
            dx_padded.fill(0)
            for t in taps(f, s, p, h, w, h2, w2):
                dx_padded[:, t.rows, t.cols, :] += dcols[t.i, t.j]
            dx = arrays.gradient((n, h, w, d), dy.dtype)
            # the padding's share of the gradient is dropped
            dx[...] = dx_padded[:, p:p + h, p:p + w, :].transpose(3, 1, 2, 0)
            return dx

        return out, backprop
