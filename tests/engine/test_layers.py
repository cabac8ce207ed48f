"""Every layer: forward against a plain loop implementation, backward against numerical
gradients in float64, on NumPy and on the stand-in GPU backend."""

import numpy as np
import pytest

from engine.layers.base import ZERO_ROW, against_zero, nhwc_view, window_ordered
from tests.engine.layer_helpers import build_layer, check_gradients, fits, run

# (W, H, D) input, K filters, F, S, P: square and not, odd sizes, stride > 1, padding > 0,
# shallow inputs (tap-major im2col) and deep ones (pixel-major)
CONV_CASES = [
    ((6, 5, 8), 2, 3, 1, 1),
    ((7, 5, 10), 2, 3, 2, 1),
    ((5, 5, 2), 3, 3, 1, 1),
    ((7, 5, 3), 2, 3, 2, 0),
    ((9, 7, 3), 4, 3, 2, 1),
    ((6, 4, 1), 2, 1, 1, 0),
    ((8, 6, 2), 3, 5, 1, 2),
]
POOL_CASES = [
    ((4, 6, 2), 2, 2, 0),  # windows tile a thin input: rows first (engine.plan.pools_rows_first)
    ((6, 9, 3), 3, 3, 0),
    ((4, 2, 20), 2, 2, 0),  # they tile a deep input: F·F taps
    ((5, 7, 3), 3, 2, 1),
    ((5, 4, 2), 3, 1, 0),
    ((7, 7, 1), 3, 3, 1),
]


def reference_conv(x, w, b, s, p):
    n, h, wd, _ = x.shape
    f, k = w.shape[0], w.shape[3]
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h2, w2 = (h - f + 2 * p) // s + 1, (wd - f + 2 * p) // s + 1
    out = np.zeros((n, h2, w2, k))
    for i in range(h2):
        for j in range(w2):
            window = xp[:, i * s:i * s + f, j * s:j * s + f, :]
            out[:, i, j, :] = np.tensordot(window, w, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def reference_pool(x, f, s, p, mode):
    n, h, wd, d = x.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=fill)
    h2, w2 = (h - f + 2 * p) // s + 1, (wd - f + 2 * p) // s + 1
    out = np.zeros((n, h2, w2, d))
    for i in range(h2):
        for j in range(w2):
            window = xp[:, i * s:i * s + f, j * s:j * s + f, :]
            out[:, i, j, :] = window.max(axis=(1, 2)) if mode == "max" else window.sum(axis=(1, 2)) / (f * f)
    return out


def reference_lrn(x, n, alpha, beta, k):
    d = x.shape[-1]
    out = np.empty_like(x)
    for c in range(d):
        lo, hi = max(0, c - n // 2), min(d, c + (n - 1) // 2 + 1)
        out[..., c] = x[..., c] / (k + alpha / n * (x[..., lo:hi] ** 2).sum(axis=-1)) ** beta
    return out


def images(rng, volume, n=2):
    w, h, d = volume
    return rng.standard_normal((n, h, w, d))


@pytest.mark.parametrize("volume,k,f,s,p", CONV_CASES)
def test_conv_forward_matches_loops_and_gradients_match_differences(backend, rng, volume, k, f, s, p):
    assert fits(volume, f, s, p)
    layer = build_layer(backend, volume, "conv", filters=k, size=f, stride=s, pad=p)
    layer.params["b"][...] = backend.asarray(rng.standard_normal(k), np.float64)
    x = images(rng, volume)
    out, _ = run(backend, layer, x)
    expected = reference_conv(x, backend.to_numpy(layer.params["W"]),
                              backend.to_numpy(layer.params["b"]), s, p)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    check_gradients(backend, layer, x, rng)


def test_conv_without_input_gradient_still_gives_weight_gradients(backend, rng):
    layer = build_layer(backend, (5, 5, 2), "conv", filters=2, size=3, stride=1, pad=1)
    layer.input_grad = False
    x = images(rng, (5, 5, 2))
    out, backprop = run(backend, layer, x)
    assert backprop(backend.asarray(np.ones_like(out), np.float64)) is None
    check_gradients(backend, layer, x, rng)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("volume,f,s,p", POOL_CASES)
def test_pool_forward_and_gradients(backend, rng, volume, f, s, p, mode):
    assert fits(volume, f, s, p)
    layer = build_layer(backend, volume, "pool", mode=mode, size=f, stride=s, pad=p)
    x = images(rng, volume)
    out, _ = run(backend, layer, x)
    np.testing.assert_allclose(out, reference_pool(x, f, s, p, mode), rtol=1e-12)
    check_gradients(backend, layer, x, rng)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("f,s", [(2, 2), (3, 3), (3, 2), (2, 1)])
def test_max_pool_sends_a_tied_gradient_to_the_first_maximum_only(backend, rng, f, s, train):
    """Ties everywhere (values from a handful of levels): each window's gradient goes to
    its first maximum, row by row, as a loop over the windows says; in training, where a
    tiling pool marks them in the forward pass, and in an evaluation pass's backward pass
    (`engine.insight.gradients`), where it compares its input with its output."""
    volume = (s * 3 + f - s, s * 3 + f - s, 2)
    layer = build_layer(backend, volume, "pool", mode="max", size=f, stride=s, pad=0)
    x = rng.integers(0, 3, (2, *volume)).astype(np.float64)
    out, backprop = run(backend, layer, x, train)
    dy = rng.standard_normal(out.shape)
    dx = backend.to_numpy(backprop(backend.asarray(dy.copy(), np.float64)))  # it takes dy
    expected = np.zeros_like(x)
    for n, i, j, c in np.ndindex(*out.shape):
        window = x[n, i * s:i * s + f, j * s:j * s + f, c]
        a, b = np.unravel_index(np.argmax(window), window.shape)   # the first maximum
        expected[n, i * s + a, j * s + b, c] += dy[n, i, j, c]
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-15)   # sums in any order


def in_window_order(a: np.ndarray, f: int) -> np.ndarray:
    """An (N, H, W, D) array with its pixels' memory in window order F, shaped as before."""
    return np.ascontiguousarray(window_ordered(a, f)).reshape(a.shape)


# the first tap-major (a grey input, few filters), the second pixel-major with stride 2
@pytest.mark.parametrize("volume,k,f,s,p", [((8, 6, 1), 4, 3, 1, 1), ((7, 7, 5), 20, 3, 2, 1)])
def test_a_convolution_keeps_its_output_in_window_order(backend, rng, volume, k, f, s, p):
    """Set to window order 2 (`engine.plan.window_orders`), a convolution writes the same
    output, takes its output's gradient in that order, and gives the same gradients."""
    x = images(rng, volume)
    results = []
    for order in (1, 2):
        layer = build_layer(backend, volume, "conv", filters=k, size=f, stride=s, pad=p)
        layer.output_order = order
        out, backprop = run(backend, layer, x)
        if order == 1:
            dy = rng.standard_normal(out.shape)
        ordered_dy = dy if order == 1 else in_window_order(dy, order)
        dx = backend.to_numpy(backprop(backend.asarray(ordered_dy, np.float64)))
        results.append([out if order == 1 else nhwc_view(out, order).reshape(out.shape), dx,
                        *(backend.to_numpy(layer.grads[name]) for name in ("W", "b"))])
    for nhwc, ordered in zip(*results):
        np.testing.assert_allclose(ordered, nhwc, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("relu_below", [False, True])
@pytest.mark.parametrize("f", [2, 3])
def test_a_max_pool_reads_its_input_in_window_order(backend, rng, f, relu_below):
    """A tiling max pool whose input comes in window order gives the output it gives on
    NHWC, and the same input gradient in that order, ties (a handful of levels) included."""
    volume = (2 * f, 3 * f, 3)
    x = rng.integers(-1, 2, (2, 3 * f, 2 * f, 3)).astype(np.float64)
    dy = rng.standard_normal((2, 3, 2, 3))
    results = []
    for order in (1, f):
        layer = build_layer(backend, volume, "pool", mode="max", size=f, stride=f, pad=0)
        layer.relu_below, layer.input_order = relu_below, order
        out, backprop = run(backend, layer, x if order == 1 else in_window_order(x, order))
        dx = backend.to_numpy(backprop(backend.asarray(dy.copy(), np.float64)))
        results.append((out, dx if order == 1 else nhwc_view(dx, order).reshape(dx.shape)))
    for nhwc, ordered in zip(*results):
        np.testing.assert_array_equal(ordered, nhwc)


@pytest.mark.parametrize("relu_below", [False, True])
@pytest.mark.parametrize("case", ["no ties", "one tie", "a tie and a NaN window",
                                  "a tie and an all-zero window", "an all-zero window"])
def test_max_pool_skips_settling_ties_only_where_there_are_none(rng, case, relu_below):
    """On the CPU a tiling max pool counts its windows' maxima and skips settling ties when
    each window that counts has exactly one; the gradient must be the one the settled path
    gives, even where a NaN window (no maximum) or an all-zero window below a ReLU (all
    four inputs equal the rectified maximum) makes the count come out even or uneven."""
    import dataclasses

    from engine.backend import NUMPY

    x = rng.standard_normal((3, 4, 4, 2))
    if case != "no ties":
        x[0, 0, 1, 0] = x[0, 0, 0, 0] = abs(x[0, 0, 0, 0]) + 5
    if case == "a tie and a NaN window":
        x[1, 2, 2, 1] = np.nan
    if "all-zero" in case:
        x[2, 2:, :2, 0] = 0.0
    dy = rng.standard_normal((3, 2, 2, 2))
    results = []
    for backend in (NUMPY, dataclasses.replace(NUMPY, free_reads=False)):  # skip, settle
        layer = build_layer(backend, (4, 4, 2), "pool", mode="max", size=2, stride=2, pad=0)
        layer.relu_below = relu_below
        _, backprop = run(backend, layer, x)
        results.append(backprop(dy.copy()))
    np.testing.assert_array_equal(*results)
    if case != "no ties":
        assert results[0][0, 0, 0, 0] == dy[0, 0, 0, 0] and results[0][0, 0, 1, 0] == 0


def test_global_average_pool(backend, rng):
    layer = build_layer(backend, (5, 3, 4), "gap")
    x = images(rng, (5, 3, 4))
    out, _ = run(backend, layer, x)
    np.testing.assert_allclose(out, x.mean(axis=(1, 2), keepdims=True))
    check_gradients(backend, layer, x, rng)


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.1 * x),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("kind", sorted(ACTIVATIONS))
def test_activations(backend, rng, kind, in_place):
    params = {"slope": 0.1} if kind == "leaky_relu" else {}
    layer = build_layer(backend, (3, 4, 2), kind, in_place=in_place, **params)
    x = images(rng, (3, 4, 2)) * 3
    out, _ = run(backend, layer, x)
    np.testing.assert_allclose(out, ACTIVATIONS[kind](x), rtol=1e-12)
    check_gradients(backend, layer, x, rng)


def test_in_place_activation_overwrites_its_input_and_others_do_not(backend, rng):
    x = backend.asarray(images(rng, (3, 3, 1)), np.float32)
    before = backend.to_numpy(x).copy()
    for in_place in (False, True):
        layer = build_layer(backend, (3, 3, 1), "relu", in_place=in_place)
        out, _ = layer.forward(x, True)
        assert np.array_equal(backend.to_numpy(x), before) != in_place


def test_sigmoid_does_not_overflow(backend):
    layer = build_layer(backend, (1, 1, 2), "sigmoid")
    with np.errstate(all="raise"):
        out, _ = run(backend, layer, np.array([[[[-1000.0, 1000.0]]]]))
    np.testing.assert_allclose(out.ravel(), [0.0, 1.0])


@pytest.mark.parametrize("volume", [(4, 3, 3), (1, 1, 5)])
def test_batchnorm_train_and_eval(backend, rng, volume):
    layer = build_layer(backend, volume, "batchnorm", momentum=0.5, eps=1e-5)
    layer.params["gamma"][...] = backend.asarray(rng.uniform(0.5, 2, volume[2]), np.float64)
    layer.params["beta"][...] = backend.asarray(rng.standard_normal(volume[2]), np.float64)
    x = images(rng, volume, n=4) * 2 + 1
    gamma, beta = (backend.to_numpy(layer.params[k]) for k in ("gamma", "beta"))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    out, _ = run(backend, layer, x)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, rtol=1e-9)
    running_mean = backend.to_numpy(layer.buffers["mean"])
    np.testing.assert_allclose(running_mean, 0.5 * mean, rtol=1e-5)  # from 0 with momentum 0.5
    running_var = backend.to_numpy(layer.buffers["var"])
    unbiased = x.var(axis=(0, 1, 2), ddof=1)  # as PyTorch keeps it
    np.testing.assert_allclose(running_var, 0.5 * 1 + 0.5 * unbiased, rtol=1e-5)
    out_eval, _ = run(backend, layer, x, train=False)
    np.testing.assert_allclose(out_eval, (x - running_mean) / np.sqrt(running_var + 1e-5)
                               * gamma + beta, rtol=1e-5)
    check_gradients(backend, layer, x, rng)


@pytest.mark.parametrize("size", [3, 4])
def test_local_response_norm(backend, rng, size):
    params = dict(size=size, alpha=0.5, beta=0.75, k=2.0)
    layer = build_layer(backend, (3, 2, 6), "lrn", **params)
    x = images(rng, (3, 2, 6))
    out, _ = run(backend, layer, x)
    np.testing.assert_allclose(out, reference_lrn(x, **{"n": size, **{k: v for k, v in params.items() if k != "size"}}), rtol=1e-10)
    check_gradients(backend, layer, x, rng)


def test_fully_connected_flattens_height_width_depth(backend, rng):
    layer = build_layer(backend, (3, 2, 2), "fc", units=4)
    layer.params["b"][...] = backend.asarray(rng.standard_normal(4), np.float64)
    x = images(rng, (3, 2, 2), n=3)
    out, _ = run(backend, layer, x)
    w, b = backend.to_numpy(layer.params["W"]), backend.to_numpy(layer.params["b"])
    expected = np.array([[sum(x[n, i, j, c] * w[(i * 3 + j) * 2 + c, u]
                              for i in range(2) for j in range(3) for c in range(2)) + b[u]
                          for u in range(4)] for n in range(3)])
    np.testing.assert_allclose(out.reshape(3, 4), expected, rtol=1e-10)
    check_gradients(backend, layer, x, rng)


def test_dropout_is_inverted_in_training_and_identity_in_evaluation(backend, rng):
    layer = build_layer(backend, (10, 10, 10), "dropout", p=0.25)
    x = np.ones((20, 10, 10, 10))
    out, _ = run(backend, layer, x, reseed=0)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    assert abs(out.mean() - 1) < 0.02
    out_eval, _ = run(backend, layer, x, train=False)
    np.testing.assert_array_equal(out_eval, x)
    small = build_layer(backend, (3, 3, 2), "dropout", p=0.5)
    check_gradients(backend, small, images(rng, (3, 3, 2)), rng, reseed=7)


@pytest.mark.parametrize("volume,f,s,p", [((8, 6, 3), 2, 2, 0), ((7, 7, 3), 3, 2, 0),
                                          ((7, 7, 3), 3, 1, 1)])
def test_max_pool_backward_in_batch_slices_equals_the_whole_batch(rng, volume, f, s, p):
    """On the CPU the max pool's backward pass runs in slices of the batch that stay in
    cache; slicing must not change the gradient."""
    import dataclasses

    from engine.backend import NUMPY

    x = images(rng, volume, n=5)
    dy = None
    results = []
    for backend in (NUMPY, dataclasses.replace(NUMPY, cache_floats=1)):  # one image a slice
        assert len(backend.batch_slices(5, 200)) == (1 if backend is NUMPY else 5)
        layer = build_layer(backend, volume, "pool", mode="max", size=f, stride=s, pad=p)
        out, backprop = run(backend, layer, x)
        dy = rng.standard_normal(out.shape) if dy is None else dy
        results.append(backprop(dy.copy()))
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize("size", [5, ZERO_ROW, 3 * ZERO_ROW, 2 * ZERO_ROW + 7])
def test_against_zero_is_the_ufunc_against_the_scalar_zero(backend, rng, size):
    """Rows of zeros, and the scalar for what is left over or not contiguous; in place too.
    NaNs stay NaN."""
    x = rng.standard_normal(size).astype(np.float32)
    x[:3] = [np.nan, -0.0, 0.0]
    xp = backend.xp
    for combine in (xp.maximum, xp.minimum):
        expected = backend.to_numpy(combine(backend.asarray(x), 0))
        out = backend.asarray(np.empty_like(x))
        against_zero(xp, combine, backend.asarray(x), out)
        np.testing.assert_array_equal(backend.to_numpy(out), expected)
        strided = backend.asarray(np.repeat(x, 2))[::2]
        against_zero(xp, combine, strided, strided)
        np.testing.assert_array_equal(backend.to_numpy(strided), expected)


def gpu_cases() -> list:
    """Every layer case gpu_check.py runs, an activation also in place and a max pool also
    with the ReLU below it left to it."""
    from tests.benchmarks.gpu_check import LAYER_CASES

    cases = []
    for volume, type_, params in LAYER_CASES:
        name = "-".join([type_, "x".join(map(str, volume)), *map(str, params.values())])
        cases.append(pytest.param(volume, type_, params, {}, id=name))
        if type_ in ACTIVATIONS:
            cases.append(pytest.param(volume, type_, params, {"in_place": True},
                                      id=f"{name}-in-place"))
        if params.get("mode") == "max":
            cases.append(pytest.param(volume, type_, params, {"relu_below": True},
                                      id=f"{name}-relu-below"))
    return cases


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("volume,type_,params,variant", gpu_cases())
def test_no_pass_of_a_layer_waits_for_the_gpu_or_has_cupy_copy_an_input(rng, volume, type_,
                                                                         params, variant, train):
    """On CuPy a value read into Python waits for all queued work (a boolean mask's count
    is one), and an input that overlaps the output it goes to, without being that array,
    is copied first; a layer's passes do neither. A batch of 512 floats per image
    reaches `against_zero`'s rows of zeros."""
    from tests.engine.standin import STANDIN, costs

    layer = build_layer(STANDIN, volume, type_, dtype=np.float32,
                        in_place=variant.get("in_place", False), **params)
    layer.relu_below = variant.get("relu_below", False)
    w, h, d = volume
    x = STANDIN.asarray(rng.standard_normal((-(-512 // (w * h * d)) * 16, h, w, d)))
    with costs() as spent:
        y, backprop = layer.forward(x, train)
        backprop(STANDIN.xp.ones_like(y))
    assert (spent.reads, spent.copies) == (0, 0)
