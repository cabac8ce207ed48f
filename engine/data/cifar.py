"""CIFAR-10 and CIFAR-100 in their official on-disk layouts.

Python version: pickled dicts (Python 2 pickles) with b"data" (N, 3072) uint8 — the red, green
and blue 32×32 planes of each image, row by row — and b"labels" (CIFAR-100: b"fine_labels").
Binary version: records of one label byte and the same 3072 image bytes.
"""

from __future__ import annotations

import io
import math
import pickle
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from engine.bounded import open_regular, shown
from engine.data.dataset import DataError, Stored, check_class_count, check_labels

SIDE = 32
IMAGE_BYTES = 3 * SIDE * SIDE
RECORD_BYTES = 1 + IMAGE_BYTES
PY10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
PY10_FILES = PY10_TRAIN + ("test_batch", "batches.meta")
PY100_FILES = ("train", "test", "meta")
BIN10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
BIN10_FILES = BIN10_TRAIN + ("test_batch.bin", "batches.meta.txt")

# The function NumPy itself pickles arrays with (numpy.core.multiarray._reconstruct in the
# official files; NumPy 2 renamed the module), so the spelling does not depend on the version.
_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something that CIFAR files never do; the message says what."""


class _Array(np.ndarray):
    """The only array a CIFAR pickle can build: empty, then filled by __setstate__ from bytes
    the pickle holds, so it is never larger than the file. It cannot be called to allocate."""

    def __new__(cls, *args, **kwargs):
        raise _Refused("it calls numpy.ndarray to allocate an array")

    def __setstate__(self, state):
        # ([version,] shape, dtype, is_fortran, raw data), as ndarray.__reduce__ gives it.
        if not (isinstance(state, tuple) and len(state) in (4, 5) and isinstance(state[-1], bytes)
                and isinstance(state[-3], np.dtype) and not state[-3].hasobject):
            raise _Refused("it fills an array with something other than bytes")
        shape, dtype, raw = state[-4], state[-3], state[-1]
        if math.prod(shape) * dtype.itemsize != len(raw):
            raise _Refused("it fills an array with more or fewer bytes than its shape holds")
        super().__setstate__(state)


def _reconstruct(subtype, shape, dtype):
    # NumPy pickles every array as _reconstruct(ndarray, (0,), b"b") and then sets its state.
    if subtype is not _Array or shape != (0,):
        raise _Refused("it asks NumPy for an array that is not empty to start with")
    return _RECONSTRUCT(_Array, shape, dtype)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _Array,
    ("numpy", "dtype"): np.dtype,
}


# The pure-Python unpickler: the C one turns a memo index (five bytes of the file) into an
# allocation of up to 64 GiB, which it also fills.
class _CifarUnpickler(pickle._Unpickler):
    """Builds only dicts, lists, tuples, bytes, numbers and NumPy arrays: nothing can run."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"it asks for {shown(f'{module}.{name}')}") from None


def read_pickle(raw: bytes, path: Path, keys: tuple[bytes, ...]) -> dict:
    """The dict pickled in `raw` (the bytes of `path`), which must hold `keys`."""
    try:
        content = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _Refused as e:
        raise DataError(f"{path} is not an official CIFAR file: {e}, which CIFAR files never "
                        f"do, so it was not loaded; download the official files again.") from None
    except Exception as e:  # a damaged pickle can fail in any way; none of them is a bug here
        detail = f"{type(e).__name__}: {shown(str(e))}" if str(e) else type(e).__name__
        raise DataError(f"{path} is damaged or truncated ({detail}).") from None
    if not isinstance(content, dict) or any(k not in content for k in keys):
        wanted = ", ".join(repr(k) for k in keys)
        raise DataError(f"{path} is not a CIFAR file: it should be a dict with the keys {wanted}.")
    return content


def _unpickle(path: Path, keys: tuple[bytes, ...]) -> dict:
    with open_regular(path, DataError) as (file, size):
        return read_pickle(file.read(size), path, keys)


def _require(folder: Path, names: tuple[str, ...], what: str) -> None:
    for name in names:
        if not (folder / name).exists():
            raise DataError(f"{folder / name} is missing: {what} has the files "
                            f"{', '.join(names)}.")


def _names(values, path: Path) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, (bytes, str)) for v in values):
        raise DataError(f"{path} has class names that are not a list of text.")
    check_class_count(len(values), str(path))
    names = []
    for value in values:
        try:
            name = value.decode("utf-8") if isinstance(value, bytes) else value
            name.encode("utf-8")  # refuses the lone surrogates a pickled str can hold
        except UnicodeError:
            raise DataError(f"{path} has class names that are not UTF-8 text.") from None
        names.append(name)
    return names


def _planes_to_nhwc(data, count: int, path: Path) -> np.ndarray:
    """(N, 3072) R, G, B planes → (N, 32, 32, 3) view, after checking shape and type."""
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != IMAGE_BYTES:
        shape = getattr(data, "shape", None)
        raise DataError(f"{path} holds images of shape {shape}, not N×{IMAGE_BYTES} bytes "
                        f"(32×32×3) as CIFAR does.")
    if len(data) != count:
        raise DataError(f"{path} has {len(data)} images but {count} labels.")
    return data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)


def python_batch(raw: bytes, path: Path, label_key: bytes, n_classes: int):
    """The images (N, 32, 32, 3) and labels of the pickled batch `raw`, the bytes of `path`."""
    batch = read_pickle(raw, path, (b"data", label_key))
    labels = batch[label_key]
    # Only a list of ints: NumPy would stack a list of arrays, and a pickle can list one
    # array a million times for two bytes each.
    if isinstance(labels, list) and all(type(v) is int for v in labels):
        try:
            labels = np.array(labels, np.int64) if labels else np.zeros(0, np.int64)
        except OverflowError:
            raise DataError(f"{path} has a label beyond any class number.") from None
    if not isinstance(labels, np.ndarray):
        raise DataError(f"The labels in {path} are not a list of whole numbers.")
    y = check_labels(labels, n_classes, str(path))
    return _planes_to_nhwc(batch[b"data"], len(y), path), y


def binary_batch(raw: bytes, path: Path, n_classes: int):
    """The images (N, 32, 32, 3) and labels of the records `raw`, the bytes of `path`."""
    if not raw or len(raw) % RECORD_BYTES:
        raise DataError(f"{path} is truncated or damaged: its {len(raw):,} bytes are not a "
                        f"whole number of {RECORD_BYTES:,}-byte CIFAR-10 records.")
    records = np.frombuffer(raw, np.uint8).reshape(-1, RECORD_BYTES)
    y = check_labels(records[:, 0], n_classes, str(path))
    return _planes_to_nhwc(records[:, 1:], len(y), path), y


def _read_batches(paths: list[Path], image_bytes: int, parse):
    """Images and labels of several batch files, copied into one uint8 NHWC buffer.

    `parse(raw, path)` gives the images and labels of one file's bytes. An image costs at
    least `image_bytes` of its file and no more than the file's size is read, so the sizes
    bound the count: the buffer is allocated once instead of concatenating batches (which
    would hold the set twice).
    """
    with ExitStack() as stack:
        files = [stack.enter_context(open_regular(p, DataError)) for p in paths]
        x = np.empty((sum(size // image_bytes for _, size in files), SIDE, SIDE, 3), np.uint8)
        labels, n = [], 0
        for path, (file, size) in zip(paths, files):
            images, y = parse(file.read(size), path)
            x[n:n + len(y)] = images
            labels.append(y)
            n += len(y)
    return x[:n], np.concatenate(labels)


def _read_python_batches(paths: list[Path], label_key: bytes, n_classes: int):
    return _read_batches(paths, IMAGE_BYTES,
                         lambda raw, path: python_batch(raw, path, label_key, n_classes))


def load_cifar10_python(folder: Path) -> Stored:
    _require(folder, PY10_FILES, "the python version of CIFAR-10")
    meta = _unpickle(folder / "batches.meta", (b"label_names",))
    classes = _names(meta[b"label_names"], folder / "batches.meta")
    x, y = _read_python_batches([folder / n for n in PY10_TRAIN], b"labels", len(classes))
    test_x, test_y = _read_python_batches([folder / "test_batch"], b"labels", len(classes))
    return Stored("CIFAR-10", "cifar10-python", classes, x, y, test_x, test_y)


def load_cifar100_python(folder: Path) -> Stored:
    _require(folder, PY100_FILES, "the python version of CIFAR-100")
    meta = _unpickle(folder / "meta", (b"fine_label_names",))
    classes = _names(meta[b"fine_label_names"], folder / "meta")
    x, y = _read_python_batches([folder / "train"], b"fine_labels", len(classes))
    test_x, test_y = _read_python_batches([folder / "test"], b"fine_labels", len(classes))
    return Stored("CIFAR-100", "cifar100-python", classes, x, y, test_x, test_y,
                  notes=["fine labels (100 classes)"])


def _read_binary_batches(paths: list[Path], n_classes: int):
    return _read_batches(paths, RECORD_BYTES,
                         lambda raw, path: binary_batch(raw, path, n_classes))


def load_cifar10_binary(folder: Path) -> Stored:
    _require(folder, BIN10_FILES, "the binary version of CIFAR-10")
    meta = folder / "batches.meta.txt"
    with open_regular(meta, DataError) as (file, size):
        raw = file.read(size)
    try:
        classes = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise DataError(f"{meta} cannot be read as text: {shown(str(e))}.") from None
    if not classes:
        raise DataError(f"{meta} lists no class names.")
    check_class_count(len(classes), str(meta))
    x, y = _read_binary_batches([folder / n for n in BIN10_TRAIN], len(classes))
    test_x, test_y = _read_binary_batches([folder / "test_batch.bin"], len(classes))
    return Stored("CIFAR-10", "cifar10-binary", classes, x, y, test_x, test_y)
