"""Every broken data set gives one plain sentence naming the file, and nothing is written."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from data_files import (
    idx_bytes, py2_pickle, random_images, write_cifar10_binary, write_cifar10_python,
    write_idx, write_image_folder,
)

from engine.data import DataError, dataset, load_data
from engine.errors import ConvNetError
from engine.spec import Volume

ESCAPE = "\x1b[31mred"  # a terminal escape code: a name from a file must not reach a terminal


def _snapshot(folder):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _fails(source, *fragments, volume=None):
    """load_data raises a one-sentence DataError containing every fragment; nothing written."""
    before = _snapshot(source if source.is_dir() else source.parent)
    with pytest.raises(DataError) as caught:
        load_data(source, volume)
    message = str(caught.value)
    assert isinstance(caught.value, ConvNetError)
    assert "\n" not in message and "Traceback" not in message and message.endswith(".")
    for fragment in fragments:
        assert str(fragment) in message
    assert _snapshot(source if source.is_dir() else source.parent) == before
    return message


@pytest.fixture
def cifar_py(tmp_path):
    rng = np.random.default_rng(1)
    x = random_images(rng, 20)
    return write_cifar10_python(tmp_path / "cifar-10-batches-py", x, np.arange(20) % 10,
                                x[:5], np.arange(5))


@pytest.fixture
def cifar_bin(tmp_path):
    rng = np.random.default_rng(2)
    x = random_images(rng, 20)
    return write_cifar10_binary(tmp_path / "cifar-10-batches-bin", x, np.arange(20) % 10,
                                x[:5], np.arange(5))


@pytest.fixture
def mnist(tmp_path):
    x = random_images(np.random.default_rng(3), 12, 28, 28, 1)[..., 0]
    return write_idx(tmp_path / "mnist", x, np.arange(12) % 10, x[:4], np.arange(4))


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "nowhere")


def test_missing_cifar_batch(cifar_py):
    (cifar_py / "data_batch_3").unlink()
    _fails(cifar_py, cifar_py / "data_batch_3", "missing")


def test_missing_cifar_binary_meta(cifar_bin):
    (cifar_bin / "batches.meta.txt").unlink()
    _fails(cifar_bin, "batches.meta.txt", "missing")


def test_missing_mnist_labels(mnist):
    (mnist / "t10k-labels-idx1-ubyte").unlink()
    _fails(mnist, "t10k-labels-idx1-ubyte", "missing")


def test_truncated_cifar_python_batch(cifar_py):
    path = cifar_py / "data_batch_2"
    path.write_bytes(path.read_bytes()[:5000])
    _fails(cifar_py, path, "truncated")


def test_truncated_cifar_binary_batch(cifar_bin):
    path = cifar_bin / "data_batch_4.bin"
    path.write_bytes(path.read_bytes()[:-100])
    _fails(cifar_bin, path, "truncated", "3,073-byte")


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
def test_truncated_idx_file(mnist, name):
    path = mnist / name
    path.write_bytes(path.read_bytes()[:-7])
    _fails(mnist, path, "truncated")


def test_truncated_gzipped_idx_file(tmp_path):
    x = random_images(np.random.default_rng(4), 4, 28, 28, 1)[..., 0]
    folder = write_idx(tmp_path / "mnist", x, np.arange(4), x, np.arange(4), gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    _fails(folder, path)


def test_idx_wrong_magic(mnist):
    path = mnist / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros((12, 2, 2), np.uint8)))
    _fails(mnist, path, "magic number is 2051, not 2049")


def test_idx_count_mismatch(mnist):
    (mnist / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    _fails(mnist, "12 images", "11 labels")


def test_cifar_label_out_of_range(cifar_py):
    path = cifar_py / "data_batch_5"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    batch[b"labels"][0] = 10
    path.write_bytes(py2_pickle(batch))
    _fails(cifar_py, path, "label 10", "10 classes")


def test_cifar_binary_label_out_of_range(cifar_bin):
    path = cifar_bin / "test_batch.bin"
    data = bytearray(path.read_bytes())
    data[0] = 200
    path.write_bytes(bytes(data))
    _fails(cifar_bin, path, "label 200")


def test_idx_test_images_of_another_size(tmp_path):
    x = random_images(np.random.default_rng(5), 4, 28, 28, 1)[..., 0]
    folder = write_idx(tmp_path / "mnist", x, np.arange(4), x[:, :14, :14], np.arange(4))
    _fails(folder, folder, "mixes image sizes", "28×28×1", "14×14×1")


def test_idx_label_out_of_range(mnist):
    (mnist / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(12, 11, np.uint8)))
    _fails(mnist, "train-labels-idx1-ubyte", "label 11")


def test_npz_label_out_of_range(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 4, 4, 1), np.uint8), y=np.array([0, 1, 2]),
             class_names=np.array(["a", "b"]))
    _fails(tmp_path / "a.npz", "a.npz", "label 2", "2 classes")


def test_npz_negative_label(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0, -1]))
    _fails(tmp_path / "a.npz", "label -1")


def test_npz_images_of_mixed_sizes_as_objects(tmp_path):
    mixed = np.empty(2, object)
    mixed[0], mixed[1] = np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5, 3), np.uint8)
    np.savez(tmp_path / "m.npz", x=mixed, y=np.array([0, 1]))
    _fails(tmp_path / "m.npz", "m.npz", "mixed sizes")


def test_npz_train_and_test_of_mixed_sizes(tmp_path):
    np.savez(tmp_path / "m.npz", x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0, 1]),
             x_test=np.zeros((1, 5, 5, 3), np.uint8), y_test=np.array([0]))
    _fails(tmp_path / "m.npz", "m.npz", "mixes image sizes")


@pytest.mark.parametrize("arrays, fragment", [
    ({"x": np.zeros((2, 4, 4, 3), np.uint8)}, "no array 'y'"),
    ({"x": np.zeros((2, 4, 4, 5), np.uint8), "y": np.zeros(2, int)}, "neither its second"),
    ({"x": np.full((2, 4, 4, 3), 300, np.int32), "y": np.zeros(2, int)}, "from 300 to 300"),
    ({"x": np.zeros((3, 4, 4, 3), np.uint8), "y": np.zeros(2, int)}, "3 images in x but 2"),
    ({"x": np.zeros((2, 4, 4, 3), np.uint8), "y": np.array([0.5, 1])}, "not whole numbers"),
])
def test_npz_malformed(tmp_path, arrays, fragment):
    np.savez(tmp_path / "bad.npz", **arrays)
    _fails(tmp_path / "bad.npz", "bad.npz", fragment)


def test_not_a_zip_npz(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"hello")
    _fails(tmp_path / "junk.npz", "junk.npz")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    _fails(tmp_path / "empty", "empty")


def test_folder_with_nothing_recognisable(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    _fails(tmp_path, "No data set found", str(tmp_path))


def test_class_folder_without_images(tmp_path):
    folder = write_image_folder(tmp_path / "p", {"cat": [np.zeros((4, 4, 3), np.uint8)]})
    (folder / "dog").mkdir()
    (folder / "dog" / "readme.txt").write_text("no images here")
    _fails(folder, folder / "dog", "holds no images")


def test_class_folder_with_unreadable_image(tmp_path):
    folder = write_image_folder(tmp_path / "p", {"cat": [np.zeros((4, 4, 3), np.uint8)],
                                                 "dog": [np.zeros((4, 4, 3), np.uint8)]})
    (folder / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    _fails(folder, folder / "dog" / "broken.jpg")


def test_class_folder_with_truncated_png(tmp_path):
    folder = write_image_folder(tmp_path / "p", {"cat": [np.arange(768, dtype=np.uint8)
                                                         .reshape(16, 16, 3)] * 2})
    path = folder / "cat" / "001.png"
    path.write_bytes(path.read_bytes()[:60])
    _fails(folder, path)


def test_image_folder_of_unsupported_depth(tmp_path):
    folder = write_image_folder(tmp_path / "p", {"cat": [np.zeros((4, 4, 3), np.uint8)]})
    _fails(folder, "4×4×4", volume=Volume(4, 4, 4))


def test_archive_is_not_extracted(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(gzip.compress(b"x"))
    _fails(tmp_path / "cifar-10-python.tar.gz", "extract it")


def test_crafted_pickle_cannot_run_code(tmp_path, cifar_py):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = cifar_py / "data_batch_1"
    path.write_bytes(py2_pickle({b"data": Exploit(), b"labels": [0]}))
    message = _fails(cifar_py, path, "not an official CIFAR file", "system")
    assert not marker.exists()
    assert "not loaded" in message


@pytest.mark.parametrize("payload, asked", [
    (py2_pickle({b"data": print, b"labels": [0]}), "__builtin__.print"),
    (b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.", "posix.system"),
    # NumPy 2 pickles arrays at protocol 5 out of band, with a function CIFAR files never use.
    (pickle.dumps({b"data": np.zeros(3), b"labels": [0]}, protocol=5),
     "numpy._core.numeric._frombuffer"),
])
def test_unpickler_accepts_only_official_globals(cifar_py, payload, asked):
    path = cifar_py / "data_batch_1"
    path.write_bytes(payload)
    _fails(cifar_py, path, "is not an official CIFAR file", f"it asks for {asked}")


def test_unpickler_accepts_numpy_2s_spelling_of_the_official_global(cifar_py):
    """NumPy 2 writes numpy._core.multiarray._reconstruct where NumPy 1 wrote numpy.core."""
    path = cifar_py / "data_batch_1"
    official = load_data(cifar_py)
    payload = pickle.dumps(pickle.loads(path.read_bytes(), encoding="bytes"), protocol=4)
    assert b"numpy._core.multiarray" in payload and b"numpy.core" not in payload
    path.write_bytes(payload)
    assert np.array_equal(load_data(cifar_py).train_x, official.train_x)


def test_cifar_batch_of_wrong_image_size(cifar_py):
    path = cifar_py / "data_batch_1"
    path.write_bytes(py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    _fails(cifar_py, path, "3072")


def _free_memory(monkeypatch, free):
    monkeypatch.setattr(dataset, "host_free_memory", lambda: free)


def test_padding_to_a_large_input_is_refused_before_it_is_allocated(monkeypatch):
    _free_memory(monkeypatch, 64 * 2**20)  # 16 MiB for images; padded, they take 112 MiB
    with pytest.raises(DataError, match=r"The 1,797 images of UCI digits \(embedded\) at the "
                                        r"network's input 256×256×1 would take 112\.3 MiB, "
                                        r"more than the 16\.0 MiB \(of 64\.0 MiB free\)"):
        load_data("digits", Volume(256, 256, 1))


def test_resizing_an_image_folder_to_a_large_input_is_refused_before_it_is_read(
        tmp_path, monkeypatch):
    folder = write_image_folder(tmp_path / "p", {"cat": [np.zeros((4, 4, 3), np.uint8)] * 3})
    _free_memory(monkeypatch, 2**20)
    _fails(folder, "The 3 images of p at the network's input 512×512×3 would take 2.2 MiB",
           "make the input layer smaller", volume=Volume(512, 512, 3))


def test_unknown_free_memory_does_not_refuse(monkeypatch):
    _free_memory(monkeypatch, None)
    assert load_data("digits", Volume(10, 10, 1)).volume == Volume(10, 10, 1)


def _escaped(message):
    assert "\x1b" not in message and "\\x1b[31mred" in message


def test_data_set_name_is_escaped_in_messages(tmp_path):
    path = tmp_path / f"{ESCAPE}.npz"
    np.savez(path, x=np.zeros((2, 4, 4, 3), np.uint8), y=np.array([0, 1]))
    _escaped(_fails(path, "images are 4×4×3", volume=Volume(2, 2, 3)))


def test_class_folder_names_are_escaped_in_messages(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    folder = write_image_folder(tmp_path / "p", {"cat": [image], ESCAPE: [image]})
    (folder / ESCAPE / "broken.png").write_bytes(b"not a png")
    _escaped(_fails(folder, "broken.png", "is not an image"))
    (folder / ESCAPE / "broken.png").unlink()
    (folder / ESCAPE / "000.png").unlink()
    _escaped(_fails(folder, "holds no images"))


def test_test_class_names_are_escaped_in_messages(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    folder = tmp_path / "split"
    write_image_folder(folder / "train", {ESCAPE: [image], "cat": [image]})
    write_image_folder(folder / "test", {"dog": [image]})
    _escaped(_fails(folder, "dog is not one of the classes of the training images"))
