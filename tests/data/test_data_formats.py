"""Each on-disk format, written format-exact into a temp folder, loads back unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from data_files import (
    CIFAR10_NAMES, random_images, write_cifar10_binary, write_cifar10_python,
    write_cifar100_python, write_idx, write_image_folder,
)
from PIL import Image

from engine.data import DataError, data_source, load_data
from engine.data.load import read_stored
from engine.spec import Volume


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _cifar_arrays(rng, n=50, n_test=20, classes=10):
    x, test_x = random_images(rng, n), random_images(rng, n_test)
    y, test_y = np.arange(n) % classes, rng.integers(0, classes, n_test)
    return x, y, test_x, test_y


def _sorted_rows(x):
    return sorted(map(bytes, x.reshape(len(x), -1)))


def _assert_same_set(data, x, y, test_x, test_y):
    """The split holds every stored image exactly once, with its label, in NHWC uint8."""
    both_x = np.concatenate([data.train_x, data.val_x])
    both_y = np.concatenate([data.train_y, data.val_y])
    assert both_x.dtype == np.uint8 and both_y.dtype == np.int64
    lookup = {bytes(img): int(label) for img, label in zip(x.reshape(len(x), -1), y)}
    assert {bytes(img): int(label) for img, label in
            zip(both_x.reshape(len(both_x), -1), both_y)} == lookup
    np.testing.assert_array_equal(data.test_x, test_x)
    np.testing.assert_array_equal(data.test_y, test_y)
    assert data.test_y.dtype == np.int64


def test_cifar10_python_round_trip(tmp_path, rng):
    x, y, test_x, test_y = _cifar_arrays(rng)
    folder = write_cifar10_python(tmp_path / "cifar-10-batches-py", x, y, test_x, test_y)
    data = load_data(folder, Volume(32, 32, 3), val_fraction=0.2, seed=3)
    assert (data.format, data.name, data.class_names) == ("cifar10-python", "CIFAR-10",
                                                          CIFAR10_NAMES)
    assert data.train_x.shape == (40, 32, 32, 3) and data.val_x.shape == (10, 32, 32, 3)
    assert data.volume == Volume(32, 32, 3)
    _assert_same_set(data, x, y, test_x, test_y)


def test_cifar_pixel_layout_is_planes_to_nhwc(tmp_path):
    """One red pixel at (row 0, column 1) must land at train_x[0, 0, 1, 0]."""
    x = np.zeros((5, 32, 32, 3), np.uint8)
    x[:, 0, 1, 0] = 200
    x[:, 31, 0, 2] = 100
    for writer, name in ((write_cifar10_python, "py"), (write_cifar10_binary, "bin")):
        folder = writer(tmp_path / name, x, np.zeros(5, int), x[:1], np.zeros(1, int))
        stored = read_stored(folder)
        np.testing.assert_array_equal(stored.x, x)


def test_parent_of_official_folder_is_accepted_when_it_holds_nothing_else(tmp_path, rng):
    x, y, test_x, test_y = _cifar_arrays(rng)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", x, y, test_x, test_y)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"the archive it came from")
    assert load_data(tmp_path).format == "cifar10-python"
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="No data set found"):
        load_data(tmp_path)


def test_cifar100_python_uses_fine_labels(tmp_path, rng):
    names = [f"class{i}" for i in range(100)]
    x, y, test_x, test_y = _cifar_arrays(rng, n=200, n_test=30, classes=100)
    folder = write_cifar100_python(tmp_path / "cifar-100-python", x, y, test_x, test_y, names)
    data = load_data(folder, val_fraction=0.0)
    assert data.format == "cifar100-python" and data.class_names == names
    assert len(data.val_y) == 0 and data.val_x.shape == (0, 32, 32, 3)
    _assert_same_set(data, x, y, test_x, test_y)


def test_cifar10_binary_round_trip(tmp_path, rng):
    x, y, test_x, test_y = _cifar_arrays(rng)
    folder = write_cifar10_binary(tmp_path / "cifar-10-batches-bin", x, y, test_x, test_y)
    data = load_data(folder)
    assert data.format == "cifar10-binary" and data.class_names == CIFAR10_NAMES
    assert len(data.train_y) == 45 and len(data.val_y) == 5
    _assert_same_set(data, x, y, test_x, test_y)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_round_trip(tmp_path, rng, gz):
    x, test_x = random_images(rng, 30, 28, 28, 1), random_images(rng, 10, 28, 28, 1)
    y, test_y = np.arange(30) % 10, np.arange(10)
    folder = write_idx(tmp_path / "mnist", x[..., 0], y, test_x[..., 0], test_y, gz=gz)
    data = load_data(folder, Volume(28, 28, 1))
    assert data.format == "idx" and data.name == "MNIST"
    assert data.class_names == [str(d) for d in range(10)]
    assert data.volume == Volume(28, 28, 1)
    _assert_same_set(data, x, y, test_x, test_y)


def test_fashion_mnist_is_named_by_its_folder(tmp_path, rng):
    x = random_images(rng, 20, 28, 28, 1)[..., 0]
    folder = write_idx(tmp_path / "fashion-mnist", x, np.arange(20) % 10, x[:5], np.arange(5))
    data = load_data(folder)
    assert data.name == "Fashion-MNIST" and data.class_names[0] == "T-shirt/top"


def test_idx_grey_is_converted_to_an_rgb_network(tmp_path, rng):
    x = random_images(rng, 20, 28, 28, 1)
    folder = write_idx(tmp_path / "mnist", x[..., 0], np.arange(20) % 10, x[:5, ..., 0],
                       np.arange(5))
    data = load_data(folder, Volume(28, 28, 3))
    assert data.volume == Volume(28, 28, 3)
    np.testing.assert_array_equal(data.test_x[..., 2], x[:5, ..., 0])
    assert any("grey to RGB" in note for note in data.notes)


def test_mnist_gets_a_zero_border_for_lenet5(tmp_path, rng):
    x = random_images(rng, 20, 28, 28, 1)
    folder = write_idx(tmp_path / "mnist", x[..., 0], np.arange(20) % 10, x[:5, ..., 0],
                       np.arange(5))
    data = load_data(folder, Volume(32, 32, 1))
    assert data.volume == Volume(32, 32, 1)
    np.testing.assert_array_equal(data.test_x[:, 2:30, 2:30], x[:5])
    assert data.test_x.sum() == x[:5].sum()  # the border is zero
    assert any("padded 28×28 to 32×32" in note for note in data.notes)


def test_rgb_is_converted_to_grey_like_pillow(tmp_path, rng):
    x, y, test_x, test_y = _cifar_arrays(rng)
    folder = write_cifar10_binary(tmp_path / "bin", x, y, test_x, test_y)
    data = load_data(folder, Volume(32, 32, 1))
    expected = np.stack([np.asarray(Image.fromarray(img).convert("L")) for img in test_x])
    np.testing.assert_array_equal(data.test_x[..., 0], expected)


def test_image_folder_resizes_with_centre_crop(tmp_path):
    # A 40×20 (W×H) image whose centre 20×20 square is white and whose sides are black.
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255
    small = np.full((8, 8), 90, np.uint8)
    folder = write_image_folder(tmp_path / "photos", {"cat": [wide, wide], "dog": [small]})
    data = load_data(folder, Volume(10, 10, 3), val_fraction=0.0)
    assert data.format == "image-folder" and data.class_names == ["cat", "dog"]
    assert data.train_x.shape == (3, 10, 10, 3)
    cats = data.train_x[data.train_y == 0]
    # The black sides were cropped away; the filter only blends a little across the edge.
    assert (cats[:, :, 1:-1] == 255).all() and cats.min() > 200
    dog = data.train_x[data.train_y == 1][0]
    assert (dog == 90).all()  # grey stored, RGB read, upscaled bilinearly: still flat
    assert any("centre-cropped" in note for note in data.notes)


def test_image_folder_jpeg_and_grey_depth(tmp_path, rng):
    images = {"a": [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(3)],
              "b": [np.full((16, 16, 3), 200, np.uint8) for _ in range(2)]}
    folder = write_image_folder(tmp_path / "jpegs", images, suffix=".jpg")
    (folder / "b" / ".DS_Store").write_bytes(b"\0\1")
    (folder / "a" / "notes.txt").write_text("not an image")
    data = load_data(folder, Volume(8, 8, 1), val_fraction=0.0)
    assert data.train_x.shape == (5, 8, 8, 1)
    b = data.train_x[data.train_y == 1]
    assert np.abs(b.astype(int) - 200).max() <= 2  # JPEG of flat grey stays flat grey


def test_image_folder_train_test_layout(tmp_path, rng):
    img = lambda: rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # noqa: E731
    write_image_folder(tmp_path / "set" / "train", {"x": [img(), img()], "y": [img(), img()]})
    write_image_folder(tmp_path / "set" / "test", {"y": [img()]})
    data = load_data(tmp_path / "set", Volume(8, 8, 3), val_fraction=0.0)
    assert data.class_names == ["x", "y"] and len(data.train_y) == 4
    np.testing.assert_array_equal(data.test_y, [1])


def test_image_folder_without_network_reads_cifar_size(tmp_path, rng):
    folder = write_image_folder(tmp_path / "p", {"a": [rng.integers(0, 256, (50, 60, 3),
                                                                     dtype=np.uint8)]})
    assert load_data(folder, val_fraction=0.0).volume == Volume(32, 32, 3)


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "nhw"])
def test_npz_layouts(tmp_path, rng, layout):
    x = random_images(rng, 20, 6, 5, 1 if layout == "nhw" else 3)
    stored = {"nhwc": x, "nchw": x.transpose(0, 3, 1, 2), "nhw": x[..., 0]}[layout]
    y = np.arange(20) % 4
    np.savez(tmp_path / "arrays.npz", x=stored, y=y, x_test=stored[:3], y_test=y[:3],
             class_names=np.array(["a", "b", "c", "d"]))
    data = load_data(tmp_path / "arrays.npz", val_fraction=0.2)
    assert data.format == "npz" and data.class_names == ["a", "b", "c", "d"]
    assert data.volume == Volume(5, 6, x.shape[3])
    assert len(data.val_y) == 4 and np.bincount(data.val_y).tolist() == [1, 1, 1, 1]
    _assert_same_set(data, x, y, x[:3], y[:3])


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_arrays_read_as_numpy_reads_them(tmp_path, rng, save):
    """Fortran order and a big-endian type, stored or deflated, as numpy.load gives them."""
    x = np.asfortranarray(random_images(rng, 7, 5, 6, 3))
    y = (np.arange(7) % 3).astype(">i4")
    save(tmp_path / "arrays.npz", x=x, y=y)
    data = load_data(tmp_path / "arrays.npz", val_fraction=0.0)
    assert _sorted_rows(data.train_x) == _sorted_rows(x)
    assert sorted(data.train_y.tolist()) == sorted(y.tolist())


def test_npz_float_pixels_are_scaled_and_classes_counted(tmp_path, rng):
    x = rng.random((10, 4, 4, 1))
    np.savez(tmp_path / "f.npz", x=x, y=np.array([0, 2] * 5))
    data = load_data(tmp_path / "f.npz", val_fraction=0.0)
    assert data.class_names == ["0", "1", "2"] and data.test_x is None
    assert _sorted_rows(data.train_x) == _sorted_rows(np.rint(x * 255).astype(np.uint8))


@pytest.mark.parametrize("volume", [Volume(8, 8, 1), Volume(32, 31, 3), Volume(32, 32, 4)])
def test_fixed_size_mismatch_names_both_volumes(tmp_path, rng, volume):
    x, y, test_x, test_y = _cifar_arrays(rng)
    folder = write_cifar10_binary(tmp_path / "bin", x, y, test_x, test_y)
    with pytest.raises(DataError, match=f"images are 32×32×3 but the network's input is "
                                        f"{volume};"):
        load_data(folder, volume)


def test_a_run_keeps_its_data_set_where_any_folder_finds_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert data_source("sets/mnist") == str(tmp_path / "sets" / "mnist")
    assert data_source(None) is None and data_source("shapes") == "shapes"
