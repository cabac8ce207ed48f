"""Saliency is the derivative of a class score on the input (checked against central
differences in float64), and Grad-CAM lights up only where the class's evidence is."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backend import NUMPY
from engine.insight.gradients import InsightError
from engine.insight.saliency import (
    class_gradients, explain, grad_cam, last_conv, resize, saliency_map,
)
from engine.model import build
from engine.spec import make_layer as layer, network
from tests.engine.insight_helpers import fresh_run, model64, net
from tests.engine.layer_helpers import numeric_gradient

# Convolution, ReLU, max pool, batch norm (at its fixed evaluation statistics), fc.
SMALL = net((6, 6, 2), layer("conv", filters=3, pad=1), layer("relu"), layer("pool"),
            layer("conv", filters=4, size=2, stride=1, pad=0), layer("batchnorm"),
            layer("relu"), layer("fc", units=5), classes=4)


@pytest.mark.parametrize("class_index", [0, 3])
def test_saliency_equals_the_numerical_derivative_of_the_class_score(class_index):
    model = model64(SMALL, seed=5)
    x = np.random.default_rng(6).standard_normal((1, 6, 6, 2))
    analytic = class_gradients(model, x.copy(), class_index).on_input[0]

    def score():
        return float(model.scores(x.copy())[0, class_index])

    every = [(0,) + tuple(i) for i in np.ndindex(6, 6, 2)]
    numeric = numeric_gradient(score, x, every).reshape(6, 6, 2)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(numeric).max() > 1e-3    # not a vacuous check
    np.testing.assert_allclose(saliency_map(analytic), np.abs(numeric).max(axis=-1),
                               rtol=1e-5, atol=1e-8)


def test_the_predicted_class_is_explained_when_none_is_chosen():
    model = model64(SMALL, seed=5)
    x = np.random.default_rng(7).standard_normal((1, 6, 6, 2))
    best = int(model.scores(x.copy()).argmax())
    np.testing.assert_array_equal(class_gradients(model, x.copy(), None).on_input,
                                  class_gradients(model, x.copy(), best).on_input)


def evidence_model(stride: int):
    """Input → conv (one 1×1 or 2×2/2 filter of ones: A sums the pixels it sees) → ReLU →
    global average → two class scores, +A for class 0 and −A for class 1."""
    f = 1 if stride == 1 else 2
    spec = network("evidence", (8, 8, 1), layer("conv", "conv", filters=1, size=f,
                                                  stride=stride, pad=0),
                   layer("relu"), layer("gap"), layer("fc", "scores", units=2),
                   layer("softmax"))
    model = build(spec, NUMPY)
    conv, scores = model.layers[0], model.layers[3]
    conv.params["W"], conv.params["b"] = np.ones((f, f, 1, 1)), np.zeros(1)
    scores.params["W"], scores.params["b"] = np.array([[1.0, -1.0]]), np.zeros(2)
    for k in (conv, scores):
        k.grads = {name: np.zeros_like(v) for name, v in k.params.items()}
    return model


@pytest.mark.parametrize("stride", [1, 2])
def test_grad_cam_is_zero_where_the_class_evidence_is_absent(stride):
    model = evidence_model(stride)
    x = np.zeros((1, 8, 8, 1))
    x[0, 1:4, 1:3] = 2.0                    # the only evidence, in the top-left quarter
    passed = class_gradients(model, x, 0, cam_layer=0)
    cam = grad_cam(passed.kept[0], passed.on_kept[0], 8, 8)
    assert cam.shape == (8, 8) and cam.min() == 0 and cam.max() == pytest.approx(1)
    if stride == 1:
        np.testing.assert_array_equal(cam > 0, x[0, ..., 0] > 0)
    else:  # 4×4 maps, bilinearly upsampled: rows and columns 5…7 interpolate empty cells only
        assert not cam[5:].any() and not cam[:, 5:].any() and cam[1:4, 1:3].min() > 0
    # Class 1 is the evidence's opposite: nothing speaks for it.
    against = class_gradients(model, x, 1, cam_layer=0)
    assert not grad_cam(against.kept[0], against.on_kept[0], 8, 8).any()


def test_grad_cam_weighs_each_map_by_its_mean_gradient():
    rng = np.random.default_rng(0)
    maps, on_maps = rng.standard_normal((3, 3, 4)), rng.standard_normal((3, 3, 4))
    by_hand = np.zeros((3, 3))
    for k in range(4):
        by_hand += on_maps[..., k].mean() * maps[..., k]
    by_hand = np.maximum(by_hand, 0)
    np.testing.assert_allclose(grad_cam(maps, on_maps, 3, 3), by_hand / by_hand.max())


def test_resizing_keeps_constants_and_same_sized_maps():
    np.testing.assert_allclose(resize(np.full((3, 5), 2.0), 7, 4), np.full((7, 4), 2.0))
    a = np.random.default_rng(1).standard_normal((4, 6))
    np.testing.assert_allclose(resize(a, 4, 6), a)
    np.testing.assert_allclose(resize(np.array([[0.0, 1.0]]), 1, 4), [[0, 0.25, 0.75, 1]])


def test_explaining_an_image_of_a_run():
    spec = net((8, 8, 1), layer("conv", filters=4, pad=1), layer("relu"), layer("pool"),
               layer("conv", filters=4, pad=1), layer("relu"))
    run = fresh_run(spec)
    image = np.random.default_rng(2).integers(0, 255, (8, 8, 1), np.uint8)
    explained = explain(run, image)
    np.testing.assert_allclose(explained.probabilities, run.predict(image[None])[0], rtol=1e-5)
    assert explained.class_index == explained.predicted
    assert explained.cam_layer == last_conv(spec) == spec.layers[4].id
    assert explained.saliency.shape == explained.cam.shape == (8, 8)
    assert explained.saliency.min() >= 0 and 0 <= explained.cam.min() <= explained.cam.max() <= 1
    other = explain(run, image, class_index=1, cam_layer=spec.layers[1].id)
    assert other.class_index == 1 and other.cam_layer == spec.layers[1].id
    with pytest.raises(InsightError, match="There is no class 3; the network has classes 0 to 2"):
        explain(run, image, class_index=3)


def test_a_network_without_convolutions_has_saliency_but_no_grad_cam():
    run = fresh_run(net((8, 8, 1), layer("fc", units=6), layer("relu")))
    explained = explain(run, np.zeros((8, 8, 1), np.uint8))
    assert explained.cam is None and explained.cam_layer is None
    assert explained.saliency.shape == (8, 8)


def test_insight_works_on_a_device_backend_and_agrees_with_numpy():
    """On the stand-in GPU (arrays that refuse NumPy), the same weights give the same fields,
    saliency and Grad-CAM as on NumPy."""
    from engine.insight.receptive import effective_field
    from tests.engine.standin import STANDIN

    spec = net((8, 8, 1), layer("conv", filters=4, pad=1), layer("relu"), layer("pool"),
               layer("conv", filters=4, pad=1), layer("relu"))
    on_host, on_device = fresh_run(spec), fresh_run(spec)
    on_device.model = build(spec, STANDIN, 0)            # the seed's weights, as on the host
    image = np.random.default_rng(4).integers(0, 255, (8, 8, 1), np.uint8)
    a, b = explain(on_host, image, 2), explain(on_device, image, 2)
    np.testing.assert_allclose(b.saliency, a.saliency, rtol=1e-5)
    np.testing.assert_allclose(b.cam, a.cam, rtol=1e-5, atol=1e-6)
    conv2 = spec.layers[4].id
    np.testing.assert_allclose(effective_field(on_device, image, conv2, 1, 2, 3).effective,
                               effective_field(on_host, image, conv2, 1, 2, 3).effective,
                               rtol=1e-5)
