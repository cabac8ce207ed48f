"""A unit's theoretical receptive field is exactly the input pixels that can move it, and its
effective receptive field (|∂unit/∂input|) lies inside it."""

from __future__ import annotations

import numpy as np
import pytest

from engine.insight.gradients import InsightError, gradients, one_hot
from engine.insight.receptive import effective_field, half_weight, theoretical_window
from engine.spec import make_layer as layer
from tests.engine.insight_helpers import fresh_run, model64, net

# Networks whose every input pixel in a unit's window moves it (smooth activations, average
# pools), so "moves the unit" can be found by perturbing pixels one at a time.
SMOOTH = {
    "pad 1, pool, pad 1": net((8, 8, 1), layer("conv", filters=3, size=3, pad=1), layer("tanh"),
                              layer("pool", mode="avg"), layer("conv", filters=2, pad=1),
                              layer("tanh")),
    "stride 2, pad 2": net((9, 9, 2), layer("conv", filters=2, size=5, stride=2, pad=2),
                           layer("sigmoid"), layer("conv", filters=2, size=3, stride=2)),
    "overlapping pool with padding": net((7, 7, 1), layer("conv", filters=2, size=5, pad=2),
                                         layer("tanh"),
                                         layer("pool", mode="avg", size=3, stride=2, pad=1),
                                         layer("gap")),
}

# Networks with kinks: ReLUs, max pools, padding at every border, a stride-2 convolution.
KINKED = {
    "default-like": net((8, 8, 1), layer("conv", filters=4, pad=1), layer("relu"),
                        layer("pool"), layer("conv", filters=4, pad=1), layer("relu"),
                        layer("pool")),
    "stride 2": net((13, 13, 3), layer("conv", filters=4, size=3, stride=2, pad=1),
                    layer("relu"), layer("conv", filters=3, size=3, stride=2, pad=1),
                    layer("leaky_relu"), layer("pool", size=3, stride=1, pad=1),
                    layer("batchnorm")),
}


def random_image(spec, seed: int) -> np.ndarray:
    v = spec.input_volume
    return np.random.default_rng(seed).standard_normal((1, v.height, v.width, v.depth))


def hidden_layers(spec):
    return [(k, l) for k, l in enumerate(spec.layers[1:-1])]


def moved_units(model, x, layer_id):
    """For every input pixel, which units of the layer change when that pixel changes:
    (H, W) pixels × (h, w) units of booleans."""
    base, _ = model.forward(x.copy(), train=False, upto=layer_id)
    h, w = x.shape[1:3]
    moved = np.zeros((h, w) + base.shape[1:3], bool)
    for r in range(h):
        for c in range(w):
            nudged = x.copy()
            nudged[0, r, c, :] += 0.5
            out, _ = model.forward(nudged, train=False, upto=layer_id)
            moved[r, c] = np.abs(out - base)[0].max(axis=-1) > 1e-12
    return moved


@pytest.mark.parametrize("name", SMOOTH)
def test_the_theoretical_window_is_the_pixels_that_move_the_unit(name):
    spec = SMOOTH[name]
    model = model64(spec)
    x = random_image(spec, 1)
    for _, hidden in hidden_layers(spec):
        moved = moved_units(model, x, hidden.id)
        for row in range(moved.shape[2]):
            for col in range(moved.shape[3]):
                window = theoretical_window(model.analysis, hidden.id, row, col)
                inside = np.zeros(moved.shape[:2], bool)
                inside[slice(*window.rows), slice(*window.cols)] = True
                assert np.array_equal(moved[:, :, row, col], inside), \
                    f"{name}: {hidden.name} unit ({row}, {col}), {window}"


@pytest.mark.parametrize("name", [*SMOOTH, *KINKED])
def test_the_effective_field_lies_inside_the_theoretical_window(name):
    spec = {**SMOOTH, **KINKED}[name]
    model = model64(spec)
    x = random_image(spec, 2)
    for k, hidden in hidden_layers(spec):
        v = model.analysis.info(hidden.id).output
        corners = {(0, 0), (v.height - 1, v.width - 1), (v.height // 2, v.width // 2),
                   (0, v.width - 1)}
        reached = 0
        for row, col in corners:
            for channel in (None, v.depth - 1):
                passed = gradients(model, x.copy(), k, one_hot(np, row, col, channel))
                field = np.abs(passed.on_input[0]).sum(axis=-1)
                window = theoretical_window(model.analysis, hidden.id, row, col)
                outside = field.copy()
                outside[slice(*window.rows), slice(*window.cols)] = 0
                assert not outside.any(), f"{name}: {hidden.name} ({row}, {col}, {channel})"
                reached += field.any()
        assert reached, f"{name}: no unit of {hidden.name} depends on the input at all"


def test_a_window_at_the_border_is_clipped_where_it_falls_on_padding():
    spec = KINKED["default-like"]
    analysis = model64(spec).analysis
    conv2 = spec.layers[4]
    assert (analysis.info(conv2.id).receptive_field, analysis.info(conv2.id).jump) == (8, 2)
    corner = theoretical_window(analysis, conv2.id, 0, 0)
    assert (corner.top, corner.left, corner.rows, corner.cols) == (-3, -3, (0, 5), (0, 5))
    assert corner.clipped and corner.contains(4, 4) and not corner.contains(5, 0)
    inner = theoretical_window(analysis, conv2.id, 2, 1)
    assert (inner.top, inner.left, inner.rows, inner.cols) == (1, -1, (1, 8), (0, 7))
    whole = theoretical_window(analysis, spec.layers[-2].id, 0, 0)    # the scores see it all
    assert (whole.rows, whole.cols) == ((0, 8), (0, 8))


def test_the_effective_field_of_a_run_is_its_gradient_on_the_image_pixels():
    spec = KINKED["default-like"]
    run = fresh_run(spec)
    image = np.random.default_rng(3).integers(0, 255, (8, 8, 1), np.uint8)
    conv2 = spec.layers[4].id
    field = effective_field(run, image, conv2, 0, 3, channel=2)
    assert field.window.size == 8 and field.window.clipped
    assert field.effective.shape == (8, 8) and field.effective.max() > 0
    outside = field.effective.copy()
    outside[slice(*field.window.rows), slice(*field.window.cols)] = 0
    assert not outside.any()
    assert field.value == pytest.approx(float(run.activations(conv2, image[None])[0, 0, 3, 2]),
                                        rel=1e-5)
    on_image = (field.window.rows[1] - field.window.rows[0]) * (
        field.window.cols[1] - field.window.cols[0])
    assert 0 < field.core < on_image
    # The chain rule through the normaliser: one grey level moves the unit by ∂unit/∂pixel.
    r, c = np.unravel_index(field.effective.argmax(), field.effective.shape)
    brighter = image.copy()
    brighter[r, c] += 1 if image[r, c] < 255 else -1
    moved = run.activations(conv2, brighter[None])[0, 0, 3, 2] - field.value
    assert abs(moved) == pytest.approx(field.effective[r, c], rel=0.05)


def test_the_core_is_the_fewest_pixels_holding_half_the_field():
    assert half_weight(np.array([[1.0, 4.0], [1.0, 2.0]])) == 1       # 4 of 8
    assert half_weight(np.array([[1.0, 3.0], [1.0, 3.0]])) == 2       # 3 < 4 ≤ 3 + 3
    assert half_weight(np.ones((3, 3))) == 5                          # 4.5 needs 5
    assert half_weight(np.zeros((3, 3))) == 0


def test_a_unit_outside_its_layer_is_refused_in_one_sentence():
    spec = KINKED["default-like"]
    run = fresh_run(spec)
    image = np.zeros((8, 8, 1), np.uint8)
    with pytest.raises(InsightError, match=r"Unit \(4, 0\) is outside the 4×4×4 output"):
        effective_field(run, image, spec.layers[4].id, 4, 0)
    with pytest.raises(InsightError, match="not a hidden layer"):
        effective_field(run, image, spec.layers[0].id, 0, 0)
