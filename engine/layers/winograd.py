"""A 3×3 convolution at stride 1 through Winograd's minimal filtering F(2, 3) along the width.

Two neighbouring outputs of a filter row g = (g0, g1, g2) over four inputs d0…d3 take four
multiplications instead of six (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016):

    m0 = (d0 − d2)·g0    m1 = (d1 + d2)·(g0 + g1 + g2)/2    m2 = (d2 − d1)·(g0 − g1 + g2)/2
    m3 = (d1 − d3)·g2    y0 = m0 + m1 + m2                  y1 = m1 − m2 − m3

Here each d is a column of the padded input 3 rows high and D channels deep, gathered as
im2col gathers its patches, so each m_c is one matrix product: the (pixel pairs, 3·D)
transformed patches U_c times the (3·D, K) transformed filters G_c. The four products have
half im2col's rows and a third of its columns: 2/3 of the multiply-adds, in each pass.
The bias rides on m1, which adds into both outputs, with the notes' bias trick (a column of
ones in U_1). The backward pass runs the same maps transposed: dM from dy, the filters'
gradient from U_cᵀ·dM_c, and the input's from dM_c·G_cᵀ spread back over the columns, then
over the rows.

The pixel pairs are rows in any order. In training, a convolution whose output a 2×2 max
pool tiles writes it in the pool's window order (`engine.plan.window_orders`), where each
pair is a window's two columns: the rows run by image, window row offset, window row and
pair, and each of the two outputs of a pair is one block of that order. Otherwise (NHWC)
the rows run by image, row and pair.

Measured on the reference network's conv2 (16×16×32 → 64) in chunks of 8 images, inside
training steps of two processes: forward and backward 5.3 against 5.9 ms a chunk (the
backward pass's products 2.0 against 2.8 ms; the forward pass's transforms cost about what
its product saves), and a whole step 0.90 of im2col's. Where it pays is `engine.plan.winograd`.
"""

from __future__ import annotations

import math
from typing import Any

from engine.layers.base import Backprop, padded
from engine.plan import Arrays


def filters(xp: Any, w: Any, b: Any) -> Any:
    """The transformed filters (4, 3·D + 1, K) of w (3, 3, D, K) and b (K,): the width taps
    g0, g1, g2 of each (row, channel) combined as the four products need, the biases in
    G_1's last row (zeros in the others')."""
    k = w.shape[-1]
    g0, g1, g2 = (w[:, j].reshape(-1, k) for j in range(3))
    g = xp.empty((4, g0.shape[0] + 1, k), w.dtype)
    g[0, :-1] = g0
    xp.add(g0, g2, out=g[1, :-1])
    g[2, :-1] = g[1, :-1]
    g[1, :-1] += g1
    g[2, :-1] -= g1
    g[1:3, :-1] *= 0.5
    g[3, :-1] = g2
    g[:, -1] = 0
    g[1, -1] = b
    return g


def filter_gradients(xp: Any, dg: Any, dw: Any, db: Any) -> None:
    """Write into dw (3, 3, D, K) and db (K,) the gradient of the filters whose transformed
    filters' gradient, transposed, is dg (4, K, 3·D + 1): the transpose of `filters`."""
    k = dw.shape[-1]
    half = dg[1:3, :, :-1] * 0.5
    taps = [xp.add(dg[0, :, :-1], half[0]), xp.subtract(half[0], half[1]),
            xp.add(half[0], dg[3, :, :-1])]
    taps[0] += half[1]
    taps[2] += half[1]
    for j, tap in enumerate(taps):
        dw[:, j] = tap.T.reshape(3, -1, k)
    db[...] = dg[1, :, -1]


def forward(layer: Any, x: Any, arrays: Arrays, order: int) -> tuple[Any, Backprop]:
    """The convolution `layer` (3×3, stride 1, an even output width) of x (N, H, W, D),
    its output's pixels in window order `order` (1: NHWC, or 2)."""
    xp = layer.xp
    p = layer.spec["pad"]
    n, h, w, d = x.shape
    h2, w2, k = layer.output.height, layer.output.width, layer.output.depth
    pairs = w2 // 2
    rows = (n, 2, h2 // 2, pairs) if order == 2 else (n, h2, pairs)  # as the products' run
    x_padded = padded(x, p, 0.0, arrays)
    hp, wp = x_padded.shape[1:3]

    # The input's columns 2t + a (a = 0…3) of each pair t, combined along the width into
    # (4, N, pairs, Hp, D): each pair's combined column is then its rows one after another.
    columns = [x_padded[:, :, a:a + 2 * pairs:2].transpose(0, 2, 1, 3) for a in range(4)]
    v = arrays.scratch((4, n, pairs, hp, d), x.dtype)
    xp.subtract(columns[0], columns[2], out=v[0])
    xp.add(columns[1], columns[2], out=v[1])
    xp.subtract(columns[2], columns[1], out=v[2])
    xp.subtract(columns[1], columns[3], out=v[3])
    # im2col along the height: output row y's patch is the 3·D floats from row y on
    u = arrays.kept("transformed", (4, math.prod(rows), 3 * d + 1), x.dtype)
    s = v.strides
    patches = layer.backend.as_strided(v, (4, n, h2, pairs, 3 * d), (s[0], s[1], s[3], s[2], s[4]))
    u[:, :, :-1].reshape(4, *rows, 3 * d)[...] = _by_row_order(patches, 2, order)
    u[:, :, -1] = 0
    u[1, :, -1] = 1
    m = arrays.scratch((4, *rows, k), x.dtype)
    xp.matmul(u, filters(xp, layer.params["W"], layer.params["b"]), out=m.reshape(4, -1, k))
    y = arrays.output((n, h2, w2, k), x.dtype)
    y0, y1 = _pair_outputs(y, order)
    xp.add(m[0], m[1], out=y0)
    y0 += m[2]
    xp.subtract(m[1], m[2], out=y1)
    y1 -= m[3]

    def backprop(dy: Any) -> Any:
        dy0, dy1 = _pair_outputs(dy, order)
        dm = arrays.scratch((4, *rows, k), dy.dtype)
        dm[0] = dy0
        xp.add(dy0, dy1, out=dm[1])
        xp.subtract(dy0, dy1, out=dm[2])
        xp.negative(dy1, out=dm[3])
        dm = dm.reshape(4, -1, k)
        filter_gradients(xp, xp.matmul(dm.transpose(0, 2, 1), u), layer.grads["W"],
                         layer.grads["b"])
        if not layer.input_grad:
            return None
        # the transformed patches' gradient overwrites them, which are done
        du = u.reshape(-1)[:dm.shape[1] * 4 * 3 * d].reshape(4, -1, 3 * d)
        g = filters(xp, layer.params["W"], layer.params["b"])
        xp.matmul(dm, g[:, :-1].transpose(0, 2, 1), out=du)
        # the combined columns' gradients: column 0 gets du0, 1 du1 − du2 + du3,
        # 2 du1 + du2 − du0, 3 −du3 (its sign is applied as it is spread)
        both = arrays.gradient_scratch(du[0].shape, dy.dtype)
        xp.add(du[1], du[2], out=both)
        du[1] -= du[2]
        du[1] += du[3]
        xp.subtract(both, du[0], out=du[2])
        # spread over the columns of each output row's 3 input rows, (N, H2, 3, Wp, D)
        spread = arrays.gradient_scratch((n, h2, 3, wp, d), dy.dtype)
        by_pair = _by_row_order(spread, 1, order)
        column = [by_pair[..., a:a + 2 * pairs:2, :].swapaxes(-3, -2) for a in range(4)]
        grads = du.reshape(4, *rows, 3, d)
        column[0][...] = grads[0]
        column[1][...] = grads[1]
        spread[:, :, :, 2 * pairs:] = 0
        column[2] += grads[2]
        column[3] -= grads[3]
        # then over the rows: row a of output row y's patch is input row y + a − P
        dx = arrays.gradient((n, h, w, d), dy.dtype)
        covering = p if h2 == h else None  # the row of the patches that meets every input row
        if covering is None:
            dx.fill(0)
        for a in sorted(range(3), key=lambda a: a != covering):
            first, last = max(0, p - a), min(h2, h + p - a)
            part = spread[:, first:last, a, p:p + w]
            target = dx[:, first + a - p:last + a - p]
            if a == covering:
                target[...] = part
            else:
                target += part
        return dx

    return y, backprop


def _pair_outputs(y: Any, order: int) -> tuple[Any, Any]:
    """The first and the second output of every pair of y (N, H2, W2, K), with its rows as
    the products' run: (N, 2, H2/2, pairs, K) in window order 2, where each is one block of
    the memory per image and row offset; else (N, H2, pairs, K)."""
    n, h2, w2, k = y.shape
    if order == 2:
        blocks = y.reshape(n, 2, 2, h2 // 2, w2 // 2, k)  # (N, i, j, H2/2, pairs, K)
        return blocks[:, :, 0], blocks[:, :, 1]
    columns = y.reshape(n, h2, w2 // 2, 2, k)
    return columns[..., 0, :], columns[..., 1, :]


def _by_row_order(a: Any, axis: int, order: int) -> Any:
    """A view of `a` whose axis `axis` of output rows y = 2·r + i is split as the products'
    rows run in window order 2, into (2, H2/2) by i, then r; `a` itself otherwise."""
    if order != 2:
        return a
    shape = a.shape
    split = a.reshape(*shape[:axis], shape[axis] // 2, 2, *shape[axis + 1:])
    return split.swapaxes(axis, axis + 1)
