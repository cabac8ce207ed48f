"""Writers of small but format-exact data set files, as the official distributions lay them out.

Used by the tests and by tests/benchmarks/data_load.py.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]


class Py2Pickler(pickle._Pickler):
    """Writes bytes and str the way Python 2's cPickle wrote `str`: as (SHORT_)BINSTRING.

    The official CIFAR files were written by Python 2, so they contain no `_codecs.encode`
    calls (Python 3's protocol-2 spelling of bytes), only these opcodes.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_str_as_py2(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_str_as_py2
    dispatch[str] = save_str_as_py2


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    # NumPy 1.x, which wrote the official files, named the module numpy.core.multiarray.
    return buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def planes(x: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) → (N, 3072): the red, green and blue planes, row by row."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), -1)


def write_cifar10_python(folder: Path, x, y, test_x, test_y, names=CIFAR10_NAMES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(x)), 5), start=1):
        batch = {b"batch_label": f"training batch {i} of 5".encode(),
                 b"labels": [int(v) for v in y[part]], b"data": planes(x[part]),
                 b"filenames": [f"image_{j}.png".encode() for j in part]}
        (folder / f"data_batch_{i}").write_bytes(py2_pickle(batch))
    test = {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in test_y],
            b"data": planes(test_x), b"filenames": [b"t.png"] * len(test_y)}
    (folder / "test_batch").write_bytes(py2_pickle(test))
    meta = {b"num_cases_per_batch": len(x) // 5, b"label_names": [n.encode() for n in names],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return folder


def write_cifar100_python(folder: Path, x, fine, test_x, test_fine, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, images, labels in (("train", x, fine), ("test", test_x, test_fine)):
        content = {b"filenames": [b"f.png"] * len(labels), b"batch_label": b"batch",
                   b"fine_labels": [int(v) for v in labels],
                   b"coarse_labels": [int(v) // 5 for v in labels], b"data": planes(images)}
        (folder / name).write_bytes(py2_pickle(content))
    meta = {b"fine_label_names": [n.encode() for n in names],
            b"coarse_label_names": [f"group{i}".encode() for i in range(len(names) // 5 + 1)]}
    (folder / "meta").write_bytes(py2_pickle(meta))
    return folder


def cifar_records(x, y) -> bytes:
    return np.hstack([np.asarray(y, np.uint8)[:, None], planes(x)]).tobytes()


def write_cifar10_binary(folder: Path, x, y, test_x, test_y, names=CIFAR10_NAMES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(x)), 5), start=1):
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_records(x[part], y[part]))
    (folder / "test_batch.bin").write_bytes(cifar_records(test_x, test_y))
    (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    return folder


def idx_bytes(values: np.ndarray) -> bytes:
    magic = 2051 if values.ndim == 3 else 2049
    return struct.pack(f">{1 + values.ndim}I", magic, *values.shape) + values.tobytes()


def write_idx(folder: Path, x, y, test_x, test_y, gz: bool = False) -> Path:
    """x: (N, 28, 28) uint8, y: (N,) uint8, under the official MNIST file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                         ("t10k-images-idx3-ubyte", test_x), ("t10k-labels-idx1-ubyte", test_y)):
        data = idx_bytes(np.asarray(values, np.uint8))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def write_image_folder(folder: Path, images: dict[str, list[np.ndarray]], suffix=".png") -> Path:
    """One sub-folder per class, one file per (H, W) or (H, W, 3) uint8 image."""
    for name, arrays in images.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, array in enumerate(arrays):
            Image.fromarray(array).save(folder / name / f"{i:03d}{suffix}")
    return folder


def random_images(rng, n, height=32, width=32, depth=3) -> np.ndarray:
    return rng.integers(0, 256, (n, height, width, depth), dtype=np.uint8)
