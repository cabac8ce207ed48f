"""Gradients of whole networks: random stacks of every layer type, in any order, with the
in-place work the analysis allows, against float64 central differences.

A layer's own gradient check cannot see one layer overwriting what another still needs
(an in-place activation on a max pool's output, say); only stacks can.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.backend import NUMPY
from engine.insight.gradients import gradients
from engine.layers.dropout import Dropout
from engine.model import build
from engine.shapes import analyse, backward_reads_output
from engine.spec import ACTIVATION_TYPES, CATALOGUE, make_layer, network
from tests.engine.layer_helpers import build_layer, numeric_gradient, run, sample_coords

STACKS = 240
ORDERED_STACKS = 40
ACTIVATIONS = sorted(ACTIVATION_TYPES)


def random_layer(rng: np.random.Generator):
    kind = rng.choice(["conv", "pool", "fc", "gap", "lrn", "dropout", "batchnorm", "act",
                       "act", "act"])
    if kind == "conv":
        return make_layer("conv", filters=int(rng.integers(1, 5)), size=int(rng.integers(1, 4)),
                          stride=int(rng.integers(1, 3)), pad=int(rng.integers(0, 2)))
    if kind == "pool":
        return make_layer("pool", mode=str(rng.choice(["max", "avg"])),
                          size=int(rng.integers(1, 4)), stride=int(rng.integers(1, 3)),
                          pad=int(rng.integers(0, 2)))
    if kind == "fc":
        return make_layer("fc", units=int(rng.integers(1, 6)))
    if kind == "lrn":
        return make_layer("lrn", size=int(rng.integers(1, 5)), alpha=0.5, beta=0.75, k=1.0)
    if kind == "dropout":
        return make_layer("dropout", p=float(rng.choice([0.0, 0.3])))
    if kind == "act":
        return make_layer(str(rng.choice(ACTIVATIONS)))
    return make_layer(str(kind))


def random_stack(seed: int):
    """A valid network: random hidden layers, where every layer may be followed by an
    activation, then an FC layer of class scores and a softmax or SVM loss."""
    rng = np.random.default_rng(seed)
    while True:
        hidden = []
        for _ in range(int(rng.integers(1, 7))):
            hidden.append(random_layer(rng))
            if rng.random() < 0.4:
                hidden.append(make_layer(str(rng.choice(ACTIVATIONS))))
        volume = (int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 4)))
        loss = make_layer(str(rng.choice(["softmax", "svm"])))
        hidden = [layer.renamed(f"{layer.type}{i}") for i, layer in enumerate(hidden)]
        spec = network(f"stack {seed}", volume, *hidden,
                       make_layer("fc", "scores", units=int(rng.integers(2, 5))), loss)
        if analyse(spec).valid:
            return spec, volume


def float64_model(spec, seed: int):
    """The model in float64, with random biases and batch-norm scales and shifts: at their
    initial zeros a padded border's outputs would sit exactly on a ReLU's kink, where the
    central difference averages the two slopes."""
    model = build(spec, NUMPY, seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.input_grad = True  # the test wants the gradient on the network's input too
        for name in layer.params:
            value = layer.params[name].astype(np.float64)
            if name in ("b", "beta"):
                value = rng.normal(0, 0.3, value.shape)
            elif name == "gamma":
                value = rng.uniform(0.5, 1.5, value.shape)
            layer.params[name] = value
            layer.grads[name] = np.zeros_like(value)
    return model


def loss_and_gradients(model, x: np.ndarray, labels: np.ndarray, seed: int):
    """The data loss of a training-mode pass and its gradient on x; parameter gradients are
    left in the layers. Dropout masks are drawn afresh from `seed` on every call."""
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.rng = np.random.default_rng(seed)
    out, backprops = model.forward(x.copy(), train=True)
    loss, grad = model.loss(out.reshape(len(x), -1), labels)
    grad = grad.reshape(out.shape)
    for backprop in reversed(backprops):
        grad = backprop(grad)
    return loss, grad


def evaluation_loss_and_gradient(model, x: np.ndarray, labels: np.ndarray):
    """The data loss of an evaluation pass, as `engine.insight.gradients` takes them for
    saliency maps and receptive fields, and its gradient on x."""
    losses = []

    def loss_gradient(out):
        loss, grad = model.loss(out.reshape(len(x), -1), labels)
        losses.append(loss)
        return grad.reshape(out.shape)

    on_input = gradients(model, x.copy(), len(model.layers) - 1, loss_gradient).on_input
    return losses[0], on_input


def window_ordered_stack(seed: int):
    """A valid network in which convolutions feed max pools that tile their outputs,
    through activations or directly, so that in training the convolutions and activations
    keep their outputs in the pools' window order (`engine.plan.window_orders`)."""
    rng = np.random.default_rng(seed)
    while True:
        hidden = []
        for _ in range(int(rng.integers(1, 3))):
            hidden.append(make_layer("conv", filters=int(rng.integers(1, 5)),
                                     size=int(rng.integers(1, 4)),
                                     stride=int(rng.integers(1, 3)), pad=int(rng.integers(0, 2))))
            hidden += [make_layer(str(rng.choice(ACTIVATIONS)))
                       for _ in range(int(rng.integers(0, 3)))]
            f = int(rng.integers(2, 4))
            hidden.append(make_layer("pool", mode="max", size=f, stride=f, pad=0))
        volume = (int(rng.integers(4, 13)), int(rng.integers(4, 13)), int(rng.integers(1, 4)))
        hidden = [layer.renamed(f"{layer.type}{i}") for i, layer in enumerate(hidden)]
        spec = network(f"ordered stack {seed}", volume, *hidden,
                       make_layer("fc", "scores", units=3), make_layer("softmax"))
        analysis = analyse(spec)
        if analysis.valid and any(p.window_order > 1 for p in analysis.plan.layers):
            return spec, volume


def check_stack(spec, volume: tuple[int, int, int], seed: int) -> None:
    """The stack's gradients on its input and its parameters against central differences,
    in training, and on its input in an evaluation pass."""
    w, h, d = volume
    model = float64_model(spec, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, h, w, d))
    labels = rng.integers(0, analyse(spec).output.depth, 3)
    _, dx = loss_and_gradients(model, x, labels, seed)
    analytic = {key: g.copy() for key, _, g in model.parameters()}

    def loss_now(x_now=x):
        return loss_and_gradients(model, x_now, labels, seed)[0]

    where = f"{spec.name}: {[l.type for l in spec.layers]}"
    coords = sample_coords(x.shape, rng, 8)
    xs = x.copy()
    np.testing.assert_allclose(dx[tuple(np.array(coords).T)],
                               numeric_gradient(lambda: loss_now(xs), xs, coords),
                               rtol=1e-5, atol=1e-6, err_msg=f"input gradient, {where}")
    for key, value, _ in model.parameters():
        coords = sample_coords(value.shape, rng, 6)
        numeric = numeric_gradient(loss_now, value, coords)
        np.testing.assert_allclose(analytic[key][tuple(np.array(coords).T)], numeric,
                                   rtol=1e-5, atol=1e-6, err_msg=f"{key}, {where}")
    _, dx = evaluation_loss_and_gradient(model, x, labels)
    coords = sample_coords(x.shape, rng, 8)
    np.testing.assert_allclose(
        dx[tuple(np.array(coords).T)],
        numeric_gradient(lambda: evaluation_loss_and_gradient(model, xs, labels)[0], xs, coords),
        rtol=1e-5, atol=1e-6, err_msg=f"input gradient in evaluation, {where}")


@pytest.mark.parametrize("chunk", range(8))
def test_random_stacks_match_numerical_gradients(chunk):
    per_chunk = STACKS // 8
    for seed in range(chunk * per_chunk, (chunk + 1) * per_chunk):
        check_stack(*random_stack(seed), seed)


def test_stacks_in_window_order_match_numerical_gradients():
    for seed in range(ORDERED_STACKS):
        check_stack(*window_ordered_stack(seed), seed)


def test_an_activation_above_a_dropout_spares_what_the_layer_below_it_reads():
    """In evaluation a dropout hands on its input itself: a tanh above one must not
    overwrite the output the tanh below it reads in an evaluation pass's backward."""
    spec = network("n", (6, 6, 2), make_layer("conv", filters=3), make_layer("tanh", "t1"),
                   make_layer("dropout", p=0.5), make_layer("tanh", "t2"), make_layer("fc"),
                   make_layer("softmax"))
    assert not analyse(spec).layers[4].in_place
    check_stack(spec, (6, 6, 2), 0)


def test_conv_max_pool_tanh_trains_its_convolution():
    """The stack the bug report named: the in-place tanh must not zero the conv's gradient."""
    spec = network("n", (8, 8, 1), make_layer("conv", filters=4), make_layer("pool"),
                   make_layer("tanh"), make_layer("fc"), make_layer("softmax"))
    assert not analyse(spec).layers[3].in_place
    model = float64_model(spec, 0)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1))
    loss_and_gradients(model, x, np.array([0, 1, 2, 3]), 0)
    assert np.abs(model.layers[0].grads["W"]).max() > 1e-3


# One volume and settings per layer type for the rule below (LRN and pools need room).
RULE_CASES = {
    "conv": {}, "pool": {"mode": "max"}, "gap": {}, "fc": {}, "batchnorm": {}, "lrn": {},
    "dropout": {"p": 0.3}, "relu": {}, "leaky_relu": {}, "tanh": {}, "sigmoid": {},
}


@pytest.mark.parametrize("type_,params", [*RULE_CASES.items(), ("pool", {"mode": "avg"}),
                                          ("pool", {"mode": "max", "stride": 1})])
def test_the_analysis_knows_which_backward_passes_read_their_output(type_, params):
    """Overwriting a layer's output after its forward pass changes its backward pass, in
    training or in an evaluation pass's (`engine.insight.gradients`), exactly when
    `backward_reads_output` says so, the rule that decides what may run in place."""
    layer = build_layer(NUMPY, (4, 4, 3), type_, **params)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 4, 3))
    dy = rng.standard_normal((2, layer.output.height, layer.output.width, layer.output.depth))
    changed = []
    for train in (True, False):
        _, clean = run(NUMPY, layer, x, train, reseed=1)
        expected = clean(dy.copy())
        layer.rng = np.random.default_rng(1)  # the same dropout mask as the clean pass
        out, backprop = layer.forward(x.copy(), train)
        out[...] = 0.123  # what an in-place activation above would do to this output
        changed.append(not np.array_equal(backprop(dy.copy()), expected))
    assert any(changed) == backward_reads_output(layer.spec)
    if type_ == "pool" and params == {"mode": "max"}:  # it marks its winners as it goes
        assert changed == [False, True]


def test_every_layer_type_is_covered_by_the_rule_test():
    assert set(RULE_CASES) == set(CATALOGUE) - {"input", "softmax", "svm"}
