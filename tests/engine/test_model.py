"""Models built from specs: runtime volumes equal the analysis, initialisation, overfitting."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from engine.backend import NUMPY
from engine.layers.base import nhwc_view
from engine.model import ModelError, build
from engine.netfile import load_network
from engine.optim import Optimizer
from engine.resources import network_template
from engine.shapes import analyse
from engine.spec import make_layer, network
from tests.engine.standin import STANDIN, costs

HIDDEN = st.one_of(
    st.builds(lambda k, f, s, p: make_layer("conv", filters=k, size=f, stride=s, pad=p),
              st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1)),
    st.builds(lambda m, f, s, p: make_layer("pool", mode=m, size=f, stride=s, pad=p),
              st.sampled_from(["max", "avg"]), st.integers(1, 3), st.integers(1, 2),
              st.integers(0, 1)),
    st.builds(lambda u: make_layer("fc", units=u), st.integers(1, 5)),
    st.builds(lambda n: make_layer("lrn", size=n), st.integers(1, 4)),
    st.builds(lambda p: make_layer("dropout", p=p), st.sampled_from([0.0, 0.5])),
    st.sampled_from(["gap", "relu", "leaky_relu", "tanh", "sigmoid", "batchnorm"]).map(make_layer),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(w=st.integers(1, 9), h=st.integers(1, 9), d=st.integers(1, 3),
       hidden=st.lists(HIDDEN, max_size=6), classes=st.integers(2, 4),
       loss=st.sampled_from(["softmax", "svm"]))
def test_runtime_volumes_equal_the_analysis(w, h, d, hidden, classes, loss):
    hidden = [layer.renamed(f"{layer.type}{i}") for i, layer in enumerate(hidden)]
    spec = network("random", (w, h, d), *hidden, make_layer("fc", "scores", units=classes),
                   make_layer(loss))
    analysis = analyse(spec)
    assume(analysis.valid)
    model = build(spec, NUMPY, 0)  # forward raises if a volume differs from the analysis
    x = np.random.default_rng(0).standard_normal((3, h, w, d)).astype(np.float32)
    out, backprops = model.forward(x.copy(), train=True)
    assert out.shape == (3, 1, 1, classes)
    _, grad = model.loss(out.reshape(3, -1), np.array([0, 1, 1]))
    grad = grad.reshape(out.shape)
    for layer, backprop in reversed(list(zip(model.layers, backprops))):
        grad = backprop(grad)
        if layer is model.layers[model.first_trained]:
            break
        v = layer.input
        assert grad.shape == (3, v.height, v.width, v.depth)
    for _, value, gradient in model.parameters():
        assert gradient.shape == value.shape and np.isfinite(gradient).all()


def test_a_layer_producing_another_volume_than_the_analysis_is_caught():
    model = build(load_network(network_template("default")), NUMPY, 0)
    model.layers[1].forward = lambda x, train, arrays=None: (x[:, 1:], None)  # a relu that loses a row
    with pytest.raises(AssertionError, match="analysis says"):
        model.forward(np.zeros((1, 8, 8, 1), np.float32), train=False)


def test_an_invalid_network_cannot_be_built():
    spec = network("bad", (8, 8, 1), make_layer("conv", size=3, stride=2, pad=0),
                   make_layer("fc", units=2), make_layer("softmax"))
    with pytest.raises(ModelError, match="cannot be trained: layer 'conv'"):
        build(spec, NUMPY, 0)


def test_he_before_relu_and_xavier_otherwise():
    spec = network("init", (16, 16, 8), make_layer("conv", "c", filters=64, size=3),
                   make_layer("relu"), make_layer("fc", "f", units=200), make_layer("tanh"),
                   make_layer("fc", "out", units=10), make_layer("softmax"))
    model = build(spec, NUMPY, 0)
    conv, fc, out = (l.params["W"] for l in model.layers if l.params)
    assert conv.std() == pytest.approx(math.sqrt(2 / (9 * 8)), rel=0.05)
    assert fc.std() == pytest.approx(math.sqrt(2 / (16 * 16 * 64 + 200)), rel=0.05)
    assert out.std() == pytest.approx(math.sqrt(2 / (200 + 10)), rel=0.05)


def test_same_seed_same_weights():
    spec = load_network(network_template("default"))
    a, b, c = build(spec, NUMPY, 3), build(spec, NUMPY, 3), build(spec, NUMPY, 4)
    pa, pb, pc = ([v for _, v, _ in m.parameters()] for m in (a, b, c))
    assert all(np.array_equal(x, y) for x, y in zip(pa, pb))
    assert not np.array_equal(pa[0], pc[0])


@pytest.mark.parametrize("backend", [NUMPY, STANDIN], ids=["numpy", "stand-in-gpu"])
def test_small_net_overfits_fifty_samples(backend):
    from engine.data import load_data

    spec = load_network(network_template("default"))
    data = load_data(None)
    x = (data.train_x[:50].astype(np.float32) - 8) / 8
    y = data.train_y[:50]
    model = build(spec, backend, 0)
    opt = Optimizer("adam", backend)
    xd, yd = backend.asarray(x), backend.asarray(y, np.int64)
    for _ in range(150):
        model.train_step(xd, yd)
        opt.step(model.store.values, model.store.grads, 3e-3)
    predicted = backend.to_numpy(model.scores(xd)).argmax(axis=1)
    assert (predicted == y).mean() == 1.0


def in_nhwc(layer, y):
    """A copy: an observer is shown arrays only until the next layer may overwrite them."""
    return np.array(nhwc_view(y, layer.output_order).reshape(y.shape))


def test_an_observer_sees_outputs_and_gradients_in_the_order_the_layers_keep_them():
    """The convolution and the ReLU below a max pool keep their outputs in the pool's window
    order in training (`engine.plan.window_orders`), and an observer is shown them so: read
    through `nhwc_view` they are what a model without that order shows."""
    spec = network("o", (8, 6, 3), make_layer("conv", filters=20), make_layer("relu"),
                   make_layer("pool"), make_layer("fc", units=3), make_layer("softmax"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 8, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 0])
    seen = []
    for ordered in (True, False):
        model = build(spec, NUMPY, 0)
        if ordered:
            assert [layer.output_order for layer in model.layers] == [2, 2, 1, 1]
        else:
            for layer in model.layers:
                layer.input_order = layer.output_order = 1
        shown = {}

        class Watcher:
            def output(self, layer, y):
                shown[layer.spec.name, "output"] = in_nhwc(layer, y)

            def gradient(self, layer, dy):
                shown[layer.spec.name, "gradient"] = in_nhwc(layer, dy)

        model.train_step(x, labels, Watcher())
        seen.append(shown)
    assert seen[0].keys() == seen[1].keys()
    for key in seen[0]:
        np.testing.assert_allclose(seen[0][key], seen[1][key], rtol=1e-5, atol=1e-6,
                                   err_msg=str(key))


def test_a_training_step_on_a_gpu_waits_only_for_its_loss_and_has_cupy_copy_nothing():
    """On CuPy every value read into Python waits for the queued work, and an input that
    overlaps its output without being that array is copied first: a step reads its loss
    and nothing else, whatever its layers (an in-place ReLU, one left to a max pool, a
    padded max pool, batch norm, LRN, dropout), and copies nothing."""
    spec = network("gpu", (14, 14, 3), make_layer("conv", "c1", filters=8, size=3, pad=1),
                   make_layer("relu", "r1"), make_layer("conv", "c2", filters=8, size=3, pad=1),
                   make_layer("relu", "r2"), make_layer("pool", "p1", mode="max"),
                   make_layer("pool", "p2", mode="max", size=3, stride=2, pad=1),
                   make_layer("batchnorm"), make_layer("lrn", size=3),
                   make_layer("dropout", p=0.3), make_layer("fc", units=4), make_layer("softmax"))
    model = build(spec, STANDIN, 0)
    assert model.layers[1].in_place and model.layers[3].left_to_pool
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 14, 14, 3)).astype(np.float32)
    labels = STANDIN.asarray(rng.integers(0, 4, 64), np.int64)
    for _ in range(2):  # the first step allocates the buffers
        with costs() as spent:
            model.train_step(STANDIN.asarray(x), labels)
        assert (spent.reads, spent.copies) == (1, 0)
