"""CIFAR-10 and CIFAR-100 in their official on-disk layouts.

Python version: pickled dicts (Python 2 pickles) with b"data" (N, 3072) uint8 — the red, green
and blue 32×32 planes of each image, row by row — and b"labels" (CIFAR-100: b"fine_labels").
Binary version: records of one label byte and the same 3072 image bytes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from engine.data.dataset import DataError, Stored, check_labels

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
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _Refused(pickle.UnpicklingError):
    """The pickle named a global that CIFAR files never use."""


class _CifarUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, tuples, bytes, numbers and NumPy arrays: nothing can run."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def _unpickle(path: Path, keys: tuple[bytes, ...]) -> dict:
    try:
        with open(path, "rb") as f:
            content = _CifarUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(f"{path} cannot be read: {e.strerror or e}.") from None
    except _Refused as e:
        raise DataError(f"{path} is not an official CIFAR file: it asks for {e}, which CIFAR "
                        f"files never do, so it was not loaded.") from None
    except Exception as e:  # a damaged pickle can fail in any way; none of them is a bug here
        raise DataError(f"{path} is damaged or truncated ({type(e).__name__}: {e}).") from None
    if not isinstance(content, dict) or any(k not in content for k in keys):
        wanted = ", ".join(repr(k) for k in keys)
        raise DataError(f"{path} is not a CIFAR file: it should be a dict with the keys {wanted}.")
    return content


def _require(folder: Path, names: tuple[str, ...], what: str) -> None:
    for name in names:
        if not (folder / name).is_file():
            raise DataError(f"{folder / name} is missing: {what} has the files "
                            f"{', '.join(names)}.")


def _names(values, path: Path) -> list[str]:
    try:
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
    except (TypeError, UnicodeDecodeError):
        raise DataError(f"{path} has class names that are not text.") from None


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


def _read_python_batches(paths: list[Path], label_key: bytes, n_classes: int):
    """Images and labels of several pickled batches, copied into one uint8 NHWC buffer."""
    # Each image costs 3072 bytes of the file, so the file sizes bound the count: the buffer is
    # allocated once instead of concatenating batches (which would hold the set twice).
    bound = sum(p.stat().st_size // IMAGE_BYTES for p in paths)
    x = np.empty((bound, SIDE, SIDE, 3), np.uint8)
    labels, n = [], 0
    for path in paths:
        batch = _unpickle(path, (b"data", label_key))
        y = check_labels(np.asarray(batch[label_key]), n_classes, str(path))
        images = _planes_to_nhwc(batch[b"data"], len(y), path)
        x[n:n + len(y)] = images
        labels.append(y)
        n += len(y)
    return x[:n], np.concatenate(labels)


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
    sizes = []
    for path in paths:
        size = path.stat().st_size
        if size == 0 or size % RECORD_BYTES:
            raise DataError(f"{path} is truncated or damaged: its {size:,} bytes are not a whole "
                            f"number of {RECORD_BYTES:,}-byte CIFAR-10 records.")
        sizes.append(size // RECORD_BYTES)
    x = np.empty((sum(sizes), SIDE, SIDE, 3), np.uint8)
    y = np.empty(sum(sizes), np.int64)
    n = 0
    for path, count in zip(paths, sizes):
        try:
            records = np.fromfile(path, np.uint8).reshape(count, RECORD_BYTES)
        except (OSError, ValueError) as e:
            raise DataError(f"{path} cannot be read: {e}.") from None
        y[n:n + count] = check_labels(records[:, 0], n_classes, str(path))
        x[n:n + count] = _planes_to_nhwc(records[:, 1:], count, path)
        n += count
    return x, y


def load_cifar10_binary(folder: Path) -> Stored:
    _require(folder, BIN10_FILES, "the binary version of CIFAR-10")
    meta = folder / "batches.meta.txt"
    try:
        classes = [line.strip() for line in meta.read_text("utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{meta} cannot be read as text: {e}.") from None
    if not classes:
        raise DataError(f"{meta} lists no class names.")
    x, y = _read_binary_batches([folder / n for n in BIN10_TRAIN], len(classes))
    test_x, test_y = _read_binary_batches([folder / "test_batch.bin"], len(classes))
    return Stored("CIFAR-10", "cifar10-binary", classes, x, y, test_x, test_y)
