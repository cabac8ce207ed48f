"""Validation split, normalisation fitted on the training split, and batch augmentation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine.data import DataError, Normalizer, augment, dataset, load_data
from engine.data.dataset import Stored, split


def _stored(n=200, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 5, 6, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n) % 256  # tell images apart
    x[:, 0, 0, 1] = np.arange(n) // 256
    y = rng.integers(0, classes, n).astype(np.int64)
    return Stored("t", "npz", [str(c) for c in range(classes)], x, y)


def _ids(x):
    return (x[:, 0, 0, 0].astype(int) + 256 * x[:, 0, 0, 1].astype(int)).tolist()


def test_split_sizes_disjoint_and_complete():
    stored = _stored()
    y = stored.y.copy()
    data = split(stored, 0.1, seed=5)
    assert len(data.val_y) == 20 and len(data.train_y) == 180
    ids = _ids(data.train_x) + _ids(data.val_x)
    assert sorted(ids) == list(range(200))
    np.testing.assert_array_equal(np.concatenate([data.train_y, data.val_y]), y[ids])


def test_split_is_stratified():
    stored = _stored(1000)
    counts = np.bincount(stored.y)
    data = split(stored, 0.2, seed=1)
    assert np.abs(np.bincount(data.val_y, minlength=4) - counts * 0.2).max() <= 1


def test_split_is_seeded():
    a, b, c = (split(_stored(), 0.1, seed=s) for s in (3, 3, 4))
    assert _ids(a.val_x) == _ids(b.val_x) != _ids(c.val_x)


def test_split_copies_no_images():
    data = split(_stored(), 0.25, seed=0)
    assert np.shares_memory(data.train_x, data.val_x) is False
    assert data.train_x.base is data.val_x.base is not None


def test_split_is_the_same_whatever_the_chunk_size(monkeypatch):
    whole = split(_stored(), 0.3, seed=2)
    monkeypatch.setattr(dataset, "CHUNK_BYTES", 7 * 5 * 6 * 3)  # 7 images a chunk
    chunked = split(_stored(), 0.3, seed=2)
    for a, b in ((whole.train_x, chunked.train_x), (whole.val_x, chunked.val_x),
                 (whole.train_y, chunked.train_y), (whole.val_y, chunked.val_y)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2])
def test_split_fraction_out_of_range(fraction):
    with pytest.raises(DataError, match="validation fraction"):
        split(_stored(), fraction, seed=0)


def test_channel_normaliser_statistics():
    x = _stored(300).x
    norm = Normalizer.fit(x, "channel")
    as_float = x.astype(np.float64)
    np.testing.assert_allclose(norm.mean, as_float.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(norm.std, as_float.std(axis=(0, 1, 2)), rtol=1e-5)
    out = norm(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_image_normaliser_subtracts_the_mean_image():
    x = _stored(300).x
    norm = Normalizer.fit(x, "image")
    np.testing.assert_allclose(norm.mean, x.mean(axis=0), rtol=1e-6)
    out = norm(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    assert out.std() == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("mode", ["channel", "image"])
def test_normaliser_fit_holds_a_chunk_in_float_not_the_whole_set(monkeypatch, mode):
    x = np.random.default_rng(3).integers(0, 256, (100, 64, 64, 3), dtype=np.uint8)
    expected = Normalizer.fit(x, mode)
    monkeypatch.setattr(dataset, "CHUNK_BYTES", 2**20)  # the set is 9.4 MiB as float64
    tracemalloc.start()
    try:
        norm = Normalizer.fit(x, mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20  # three chunk-sized temporaries; the whole set took 19 MiB
    np.testing.assert_allclose(norm.mean, expected.mean, rtol=1e-6)
    np.testing.assert_allclose(norm.std, expected.std, rtol=1e-6)


def test_normaliser_is_fitted_on_training_split_only():
    data = load_data("digits")
    norm = Normalizer.fit(data.train_x)
    assert norm.mean[0] == pytest.approx(data.train_x.mean(), rel=1e-6)
    assert norm.mean[0] != pytest.approx(data.val_x.mean(), rel=1e-3)


def test_constant_channel_is_not_divided_by_zero():
    x = np.zeros((4, 2, 2, 3), np.uint8)
    x[..., 1] = 7
    out = Normalizer.fit(x)(x)
    assert np.isfinite(out).all() and (out == 0).all()


@pytest.mark.parametrize("mode", ["channel", "image"])
def test_normaliser_state_round_trip(tmp_path, mode):
    x = _stored().x
    norm = Normalizer.fit(x, mode)
    # Checkpoints store the state with NumPy, never with pickle.
    np.savez(tmp_path / "n.npz", **norm.to_state())
    with np.load(tmp_path / "n.npz", allow_pickle=False) as state:
        again = Normalizer.from_state(dict(state))
    assert again.mode == mode
    np.testing.assert_array_equal(again(x), norm(x))


def test_normaliser_rejects_unknown_mode_and_wrong_images():
    with pytest.raises(DataError, match="channel, image"):
        Normalizer.fit(_stored().x, "global")
    with pytest.raises(DataError, match="fitted"):
        Normalizer.fit(_stored().x, "image")(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="'std'"):
        Normalizer.from_state({"mode": np.array("channel"), "mean": np.zeros(3)})


def _batch(n=64):
    return np.random.default_rng(9).standard_normal((n, 6, 7, 3)).astype(np.float32)


def test_flip_twice_is_identity_and_flips_about_half():
    x = _batch()
    once = augment(x, np.random.default_rng(1), flip=True, crop_pad=0)
    twice = augment(once, np.random.default_rng(1), flip=True, crop_pad=0)
    np.testing.assert_array_equal(twice, x)
    flipped = [not np.array_equal(a, b) for a, b in zip(once, x)]
    assert 16 < sum(flipped) < 48
    for a, b, f in zip(once, x, flipped):
        np.testing.assert_array_equal(a, b[:, ::-1] if f else b)


def test_crop_with_pad_zero_is_identity():
    x = _batch()
    out = augment(x, np.random.default_rng(0), flip=False, crop_pad=0)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_crop_keeps_size_and_is_a_shifted_window_of_the_padded_image():
    x = _batch(200)
    pad = 2
    out = augment(x, np.random.default_rng(3), flip=False, crop_pad=pad)
    assert out.shape == x.shape and out.dtype == np.float32
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = set()
    for image, source in zip(out, padded):
        matches = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                   if np.array_equal(image, source[dy:dy + 6, dx:dx + 7])]
        assert matches
        offsets.add(matches[0])
    assert len(offsets) == (2 * pad + 1) ** 2  # every shift occurs, each image separately


def test_augment_rejects_negative_padding():
    with pytest.raises(DataError, match="crop padding"):
        augment(_batch(), np.random.default_rng(0), flip=False, crop_pad=-1)


def test_a_fit_can_be_stopped_between_chunks(monkeypatch):
    monkeypatch.setattr(dataset, "CHUNK_BYTES", 64 * 3)  # three 8×8×1 images a chunk
    x = np.zeros((30, 8, 8, 1), np.uint8)
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # what a caller's stop raises, here any exception

    with pytest.raises(KeyboardInterrupt):
        Normalizer.fit(x, "channel", check)
    assert len(calls) == 4  # it stopped at the fourth of ten chunks
