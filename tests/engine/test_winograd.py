"""Convolutions through Winograd's F(2, 3) along the width (`engine.layers.winograd`): where
they run, their output against im2col's, and their gradients against float64 central
differences, alone and inside random stacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import plan
from engine.backend import NUMPY
from engine.netfile import load_network
from engine.plan import winograd
from engine.resources import network_template
from engine.shapes import analyse
from tests.engine.layer_helpers import build_layer, check_gradients, run
from tests.engine.test_memory_model import NETWORKS
from tests.engine.test_stack_gradients import check_stack, random_stack, window_ordered_stack


REFERENCE = Path(__file__).parents[1] / "benchmarks" / "reference_net.json"


@pytest.fixture
def everywhere(monkeypatch):
    """Winograd for every 3×3 convolution at stride 1 with an even output width, however
    small: the shapes a numerical check can afford."""
    monkeypatch.setattr(plan, "WINOGRAD_MIN_DEPTH", 1)
    monkeypatch.setattr(plan, "WINOGRAD_MIN_SIDE", 1)
    monkeypatch.setattr(plan, "WINOGRAD_MIN_MULTIPLY_ADDS", 0)


def winograd_layers(spec) -> list[str]:
    return [i.layer.name for i in analyse(spec).layers[1:-1] if winograd(i.layer, i.input, i.output)]


def test_it_runs_where_it_pays():
    reference = load_network(REFERENCE)
    assert winograd_layers(reference) == ["conv2"]  # conv1's input is 3 deep
    vgg = load_network(network_template("vgg16"))
    convs = [layer.name for layer in vgg.layers if layer.type == "conv"]
    assert winograd_layers(vgg) == convs[1:]  # conv1_1: RGB
    for name in ("alexnet", "zfnet", "lenet5", "cifar10", "default"):
        # odd widths, 5×5 filters, thin inputs
        assert winograd_layers(load_network(network_template(name))) == [], name
    # both of the memory model's checks meet one: in window order and in NHWC
    assert winograd_layers(NETWORKS["conv-pool"]) == ["conv2"]
    assert winograd_layers(NETWORKS["gap"]) == ["conv2"]


@pytest.mark.parametrize("h, w, d, k, pad, order", [
    (6, 6, 2, 3, 1, 1), (6, 6, 2, 3, 1, 2), (5, 6, 3, 2, 0, 1), (4, 4, 2, 2, 2, 2),
    (7, 8, 1, 1, 1, 1), (3, 2, 2, 2, 1, 1)])
def test_gradients_match_numerical_ones(everywhere, h, w, d, k, pad, order):
    layer = build_layer(NUMPY, (w, h, d), "conv", filters=k, size=3, stride=1, pad=pad)
    assert winograd(layer.spec, layer.input, layer.output)
    layer.output_order = order
    rng = np.random.default_rng(h * w + pad)
    layer.params["b"][...] = rng.standard_normal(k)
    check_gradients(NUMPY, layer, rng.standard_normal((2, h, w, d)), rng)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_output_and_gradients_are_im2col_s(monkeypatch, order, pad):
    """The same numbers as im2col, in window order or NHWC; the filters' gradient also where
    no input gradient is asked for (the network's first layer)."""
    rng = np.random.default_rng(pad)
    x = rng.standard_normal((3, 10 - 2 * pad, 12 - 2 * pad, 16))
    dy = rng.standard_normal((3, 8, 10, 32))
    results = []
    for depth in (1, 1 << 30):
        monkeypatch.setattr(plan, "WINOGRAD_MIN_DEPTH", depth)
        monkeypatch.setattr(plan, "WINOGRAD_MIN_SIDE", 1)
        monkeypatch.setattr(plan, "WINOGRAD_MIN_MULTIPLY_ADDS", 0)
        layer = build_layer(NUMPY, (x.shape[2], x.shape[1], 16), "conv", filters=32, size=3,
                            stride=1, pad=pad)
        assert winograd(layer.spec, layer.input, layer.output) == (depth == 1)
        layer.params["b"][...] = np.linspace(-1, 1, 32)
        layer.output_order = order
        y, backprop = run(NUMPY, layer, x)
        dx = backprop(dy.copy())
        grads = {name: g.copy() for name, g in layer.grads.items()}
        layer.input_grad = False
        _, backprop = run(NUMPY, layer, x)
        assert backprop(dy.copy()) is None
        for name, g in layer.grads.items():
            np.testing.assert_allclose(g, grads[name], rtol=1e-12)
        results.append((y, dx, grads))
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = results
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-10)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=1e-10, atol=1e-10)


def stacks_with_winograd(make, order: int, count: int):
    """`count` stacks from `make(seed)` with a Winograd convolution whose output takes
    window order `order`."""
    found, seed = [], 0
    while len(found) < count:
        spec, volume = make(seed)
        analysis = analyse(spec)
        if any(winograd(i.layer, i.input, i.output) and p.window_order == order
               for i, p in zip(analysis.layers[1:-1], analysis.plan.layers)):
            found.append((spec, volume, seed))
        seed += 1
    return found


@pytest.mark.parametrize("make, order", [(random_stack, 1), (window_ordered_stack, 2)])
def test_stacks_with_winograd_match_numerical_gradients(everywhere, make, order):
    for spec, volume, seed in stacks_with_winograd(make, order, 12):
        check_stack(spec, volume, seed)
