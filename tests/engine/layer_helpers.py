"""Building single layers for tests, running them on a backend, and checking gradients."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.layers import make_layer
from engine.shapes import analyse, window_fits
from engine.spec import Volume, make_layer as make_spec, network


def build_layer(backend, volume: tuple[int, int, int], type_: str, seed: int = 0,
                dtype=np.float64, in_place: bool = False, relu_follows: bool = False, **params):
    """One layer of `type_` on a (W, H, D) input, its parameters cast to `dtype`."""
    spec = network("t", volume, make_spec(type_, type_, **params))
    info = analyse(spec).layers[1]
    assert info.output is not None, info.error  # (a lone layer lacks a loss: fine here)
    info = dataclasses.replace(info, in_place=in_place)
    layer = make_layer(info, backend, np.random.default_rng(seed), relu_follows)
    for name in list(layer.params):
        layer.params[name] = backend.asarray(backend.to_numpy(layer.params[name]), dtype)
        layer.grads[name] = backend.asarray(np.zeros(layer.params[name].shape), dtype)
    return layer


def fits(volume: tuple[int, int, int], f: int, s: int, p: int) -> bool:
    return window_fits(Volume(*volume), f, s, p)


def run(backend, layer, x: np.ndarray, train: bool = True, reseed: int | None = None):
    """Forward on a copy of host array x; returns host output and the backprop closure."""
    if reseed is not None:
        layer.rng = np.random.default_rng(reseed)
    out, backprop = layer.forward(backend.asarray(x.copy(), x.dtype), train)
    return backend.to_numpy(out), backprop


def numeric_gradient(f, a: np.ndarray, coords, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f() with respect to a[coord] (a is modified and restored)."""
    out = []
    for c in coords:
        old = a[c]
        a[c] = old + eps
        up = f()
        a[c] = old - eps
        down = f()
        a[c] = old
        out.append((up - down) / (2 * eps))
    return np.array(out)


def sample_coords(shape, rng, count: int = 20):
    total = int(np.prod(shape))
    picks = rng.choice(total, size=min(count, total), replace=False)
    return [np.unravel_index(i, shape) for i in picks]


def check_gradients(backend, layer, x: np.ndarray, rng, reseed: int | None = None,
                    rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Backprop of L = Σ out·g against central differences in float64, for x and parameters."""
    out, backprop = run(backend, layer, x, reseed=reseed)
    g = rng.standard_normal(out.shape)
    dx = backprop(backend.asarray(g.copy(), np.float64))  # backprop may overwrite dy
    analytic = {name: backend.to_numpy(grad) for name, grad in layer.grads.items()}

    def loss_at(x_now=x):
        y, _ = run(backend, layer, x_now, reseed=reseed)
        return float((y * g).sum())

    if layer.input_grad:
        dx = backend.to_numpy(dx)
        assert dx.shape == x.shape
        coords = sample_coords(x.shape, rng)
        xs = x.copy()
        np.testing.assert_allclose(dx[tuple(np.array(coords).T)],
                                   numeric_gradient(lambda: loss_at(xs), xs, coords),
                                   rtol=rtol, atol=atol)
    for name in layer.params:
        host = backend.to_numpy(layer.params[name])
        coords = sample_coords(host.shape, rng, 10)

        def loss_with_param(name=name, host=host):
            layer.params[name][...] = backend.asarray(host, np.float64)
            return loss_at()

        numeric = numeric_gradient(loss_with_param, host, coords)
        layer.params[name][...] = backend.asarray(host, np.float64)
        np.testing.assert_allclose(analytic[name][tuple(np.array(coords).T)], numeric,
                                   rtol=rtol, atol=atol, err_msg=name)
