"""The embedded sets: real UCI digits and the generated shapes, loaded with no network access."""

from __future__ import annotations

import time

import numpy as np

from engine.data import Normalizer, load_data
from engine.data.generated import CLASS_NAMES, generate
from engine.netfile import load_network
from engine.resources import embedded_digits_file, network_template
from engine.spec import Volume


def test_digits_are_the_uci_set():
    data = load_data()
    assert (data.name, data.format) == ("UCI digits (embedded)", "embedded")
    assert data.volume == Volume(8, 8, 1) and data.test_x is None
    y = np.concatenate([data.train_y, data.val_y])
    assert len(y) == 1797 and len(data.val_y) == 180
    # The published class counts of the UCI test set that scikit-learn ships.
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    pixels = np.concatenate([data.train_x, data.val_x])
    assert pixels.dtype == np.uint8 and pixels.max() == 255
    # Scaled from 0..16: every value is a multiple of 255/16, rounded.
    assert set(np.unique(pixels)) <= {round(v * 255 / 16) for v in range(17)}


def test_digits_fit_the_default_network():
    volume = load_network(network_template("default")).input_volume
    assert load_data("digits", volume).volume == volume


def test_attribution_names_source_and_licence():
    text = embedded_digits_file().with_name("ATTRIBUTION.md").read_text()
    for fragment in ("Alpaydin", "Kaynak", "UCI", "CC BY 4.0"):
        assert fragment in text


def test_shapes_are_fixed_balanced_and_seed_only_moves_the_split():
    a, b = load_data("shapes", seed=0), load_data("shapes", seed=1)
    assert a.format == "generated" and a.class_names == CLASS_NAMES
    assert a.volume == Volume(32, 32, 3) and a.train_x.dtype == np.uint8
    assert (len(a.train_y), len(a.val_y), len(a.test_y)) == (9000, 1000, 2000)
    assert np.bincount(a.val_y).tolist() == [100] * 10
    assert np.bincount(a.test_y).tolist() == [200] * 10
    np.testing.assert_array_equal(a.test_x, b.test_x)
    assert not np.array_equal(a.val_x, b.val_x)


def test_shapes_colour_says_nothing_about_the_class():
    x, y, _, _ = generate()
    means = np.stack([x[y == c].mean(axis=(0, 1, 2)) for c in range(10)])
    assert np.ptp(means, axis=0).max() < 12  # every class has the same average colour


def test_embedded_sets_load_quickly():
    for name in ("digits", "shapes"):
        start = time.perf_counter()
        load_data(name)
        # Measured ~0.01 s (digits) and ~0.3 s (shapes); generous for a busy CI machine.
        assert time.perf_counter() - start < 5


def _ridge_accuracy(train, train_y, test, test_y, lam):
    a = np.hstack([train, np.ones((len(train), 1), np.float32)])
    b = np.hstack([test, np.ones((len(test), 1), np.float32)])
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1], dtype=np.float32),
                        a.T @ np.eye(10, dtype=np.float32)[train_y])
    return float((np.argmax(b @ w, axis=1) == test_y).mean())


def _conv_features(z, filters):
    """Fixed random 5×5 filters, rectified, max-pooled over a 4×4 grid: a conv net's first
    stage without training (zero-mean filters respond to edges and texture, not colour)."""
    n = len(z)
    padded = np.pad(z, ((0, 0), (2, 2), (2, 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(1, 2))
    responses = np.abs(windows.transpose(0, 1, 2, 4, 5, 3).reshape(n, 32, 32, 75) @ filters)
    pooled = responses.reshape(n, 4, 8, 4, 8, -1).max(axis=(2, 4)).reshape(n, -1)
    return np.hstack([pooled, responses.mean(axis=(1, 2))])


def test_shapes_need_convolution():
    """A linear classifier on pixels does little better than chance; the same least-squares
    fit on convolution + pooling features does far better."""
    data = load_data("shapes")
    norm = Normalizer.fit(data.train_x)
    train, train_y = norm(data.train_x[:1500]), data.train_y[:1500]
    val, val_y = norm(data.val_x[:500]), data.val_y[:500]
    linear = _ridge_accuracy(train.reshape(1500, -1), train_y, val.reshape(500, -1), val_y, 1e3)
    filters = np.random.default_rng(0).standard_normal((75, 32)).astype(np.float32)
    filters -= filters.mean(axis=0)
    f_train, f_val = _conv_features(train, filters), _conv_features(val, filters)
    mu, sd = f_train.mean(axis=0), f_train.std(axis=0) + 1e-6
    conv = _ridge_accuracy((f_train - mu) / sd, train_y, (f_val - mu) / sd, val_y, 1e2)
    assert 0.1 < linear < 0.35
    assert conv > 0.55 and conv > linear + 0.3
