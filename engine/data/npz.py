"""NumPy .npz archives: `x` (N, H, W, C) or (N, C, H, W) or (N, H, W), `y` (N,);
optionally `x_test`, `y_test` and `class_names`. Read without pickle, sizes checked first
(engine.npzarchive).

Pixels are uint8 0..255 (other integer types within that range are accepted); float arrays
must hold 0..1 and are scaled to 0..255.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from engine.bounded import open_regular, shown
from engine.data.dataset import (
    MAX_CLASSES, DataError, Stored, check_class_count, check_labels, check_test_size,
)
from engine.npzarchive import NpzArchive

_CHANNELS = (1, 3)
_REMEDY = "save the arrays again with numpy.savez"


def _images(arrays: NpzArchive, key: str, path: Path) -> np.ndarray:
    x = arrays[key]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"{key} in {path} has shape {x.shape}; images must be (N, H, W, C), "
                        f"(N, C, H, W) or (N, H, W).")
    if x.shape[3] not in _CHANNELS and x.shape[1] in _CHANNELS:
        x = x.transpose(0, 2, 3, 1)
    if x.shape[3] not in _CHANNELS:
        raise DataError(f"{key} in {path} has shape {x.shape}: neither its second nor its last "
                        f"axis is 1 (grey) or 3 (RGB) channels.")
    return np.ascontiguousarray(_as_uint8(x, key, path))


def _as_uint8(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    integer, floating = np.issubdtype(x.dtype, np.integer), np.issubdtype(x.dtype, np.floating)
    if not (integer or floating):
        raise DataError(f"{key} in {path} holds {x.dtype} values, not pixels; store uint8 "
                        f"pixels 0..255 or floats 0..1.")
    if x.size == 0:
        return x.astype(np.uint8)
    low, high = x.min(), x.max()
    if integer and low >= 0 and high <= 255:
        return x.astype(np.uint8)
    if floating and low >= 0 and high <= 1:
        return np.rint(x * 255).astype(np.uint8)
    raise DataError(f"{key} in {path} holds {x.dtype} values from {low} to {high}; store "
                    f"uint8 pixels 0..255 or floats 0..1.")


def _labels(arrays: NpzArchive, key: str) -> np.ndarray:
    y = arrays[key]
    # Whole floats become labels; beyond MAX_CLASSES they could not be one (nor fit an int64).
    floating = np.issubdtype(y.dtype, np.floating)
    if floating and np.all((y == np.round(y)) & (abs(y) <= MAX_CLASSES)):
        y = y.astype(np.int64)
    return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y


def load_npz(path: Path) -> Stored:
    with open_regular(path, DataError) as (file, size):
        return read_npz(file, size, path)


def read_npz(file: BinaryIO, size: int, path: Path) -> Stored:
    """The data set in the .npz archive open as `file` (`size` bytes); `path` names it."""
    with NpzArchive(file, size, str(path), DataError, _REMEDY) as arrays:
        keys = set(arrays.files)
        for key in ("x", "y"):
            if key not in keys:
                raise DataError(f"{path} has no array {key!r} (it holds "
                                f"{shown(', '.join(sorted(keys))) or 'nothing'}).")
        if ("x_test" in keys) != ("y_test" in keys):
            raise DataError(f"{path} has only one of x_test and y_test; store both or neither.")
        x, y = _images(arrays, "x", path), _labels(arrays, "y")
        test_x = _images(arrays, "x_test", path) if "x_test" in keys else None
        test_y = _labels(arrays, "y_test") if "y_test" in keys else None
        names = _names(arrays, path) if "class_names" in keys else None
    n_classes = len(names) if names is not None else _count_classes(y, test_y, path)
    y = check_labels(y, n_classes, f"y in {path}")
    if len(x) != len(y):
        raise DataError(f"{path} has {len(x):,} images in x but {len(y):,} labels in y.")
    if test_x is not None:
        test_y = check_labels(test_y, n_classes, f"y_test in {path}")
        if len(test_x) != len(test_y):
            raise DataError(f"{path} has {len(test_x):,} images in x_test but {len(test_y):,} "
                            f"labels in y_test.")
        check_test_size(x, test_x, str(path))
    return Stored(path.stem, "npz", names or [str(c) for c in range(n_classes)],
                  x, y, test_x, test_y)


def _names(arrays: NpzArchive, path: Path) -> list[str]:
    values = arrays["class_names"].reshape(-1)
    check_class_count(len(values), f"class_names in {path}")
    if values.dtype.kind == "U" and not _is_text(values):
        raise DataError(f"class_names in {path} holds a name that is not valid Unicode text; "
                        f"store the names as UTF-8.")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in values.tolist()]


def _is_text(values: np.ndarray) -> bool:
    """Whether every code point of a NumPy string array is a Unicode character (UTF-32 can
    hold surrogates and numbers past U+10FFFF, which Python refuses or cannot print)."""
    points = values.view(values.dtype.byteorder + "u4")
    return not np.any((points > 0x10FFFF) | ((points >= 0xD800) & (points <= 0xDFFF)))


def _count_classes(y: np.ndarray, test_y: np.ndarray | None, path: Path) -> int:
    """Without class_names, the classes are 0 … the largest label."""
    both = [a for a in (y, test_y) if a is not None and a.size]
    if not all(np.issubdtype(a.dtype, np.integer) for a in both):
        raise DataError(f"The labels in {path} are not whole numbers.")
    largest = int(max(a.max() for a in both)) if both else 0
    if largest >= MAX_CLASSES:
        raise DataError(f"{path} has the label {largest:,}, but no data set has more than "
                        f"{MAX_CLASSES:,} classes; number the classes from 0.")
    return largest + 1
