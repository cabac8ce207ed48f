"""MNIST and Fashion-MNIST in the IDX files they are distributed as, gzipped or not.

An IDX file is a big-endian header — magic number (2051 for images, 2049 for labels), then
one 32-bit size per dimension — followed by the uint8 values.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from engine.bounded import open_regular, read_into, shown, unpack_problem
from engine.data.dataset import DataError, Stored, check_labels, check_test_size

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(d) for d in range(10)]


def find(folder: Path, stem: str) -> Path | None:
    """The file for e.g. "train-images-idx3-ubyte", also spelt with ".idx" or ending ".gz"."""
    prefix, _, kind = stem.rpartition("-idx")
    for name in (stem, f"{prefix}.idx{kind}"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def _read(path: Path, magic: int, dims: int) -> np.ndarray:
    with open_regular(path, DataError) as (file, size):
        return read_idx(file, size, path, magic, dims)


def read_idx(file: BinaryIO, size: int, path: Path, magic: int, dims: int) -> np.ndarray:
    """The values of the IDX file open as `file` (`size` bytes; gzipped if `path` ends .gz).

    The size its header announces is checked against the file before it is allocated."""
    gzipped = path.suffix == ".gz"
    stream = gzip.GzipFile(fileobj=file, mode="rb") if gzipped else file
    try:
        header = stream.read(4 + 4 * dims)
        if len(header) < 4 + 4 * dims:
            raise DataError(f"{path} is truncated: it ends inside its IDX header.")
        found, *shape = struct.unpack(f">{1 + dims}I", header)
        if found != magic:
            raise DataError(f"{path} is not an IDX {'image' if dims == 3 else 'label'} "
                            f"file: its magic number is {found}, not {magic}.")
        count = math.prod(shape)
        problem = unpack_problem(len(header) + count, size) if gzipped else None
        if problem:
            raise DataError(f"{path} was not unpacked: {problem}; download it again.")
        if not gzipped and count > size - len(header):
            raise _truncated(path, count, size - len(header))
        values = np.empty(shape, np.uint8)
        got = read_into(stream, values)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} cannot be read ({shown(str(e))}); download it again.") from None
    if got < count:
        raise _truncated(path, count, got)
    return values


def _truncated(path: Path, announced: int, held: int) -> DataError:
    return DataError(f"{path} is truncated: its header announces {announced:,} bytes of data "
                     f"but it holds {held:,}; download it again.")


def _pair(folder: Path, split: str, required: bool):
    images_stem, labels_stem = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
    images, labels = find(folder, images_stem), find(folder, labels_stem)
    if images is None and labels is None and not required:
        return None, None
    for path, stem in ((images, images_stem), (labels, labels_stem)):
        if path is None:
            raise DataError(f"{folder / stem} is missing (also looked for {stem}.gz): MNIST "
                            f"needs an image file and a label file for each split.")
    x = _read(images, IMAGES_MAGIC, 3)
    y = _read(labels, LABELS_MAGIC, 1)
    if len(x) != len(y):
        raise DataError(f"{images} has {len(x):,} images but {labels} has {len(y):,} labels.")
    return x[..., None], check_labels(y, 10, str(labels))


def load_idx(folder: Path) -> Stored:
    # The files are named alike; the folder (or its parent) is what tells Fashion-MNIST apart.
    fashion = any("fashion" in part.lower() for part in folder.resolve().parts[-2:])
    x, y = _pair(folder, "train", required=True)
    test_x, test_y = _pair(folder, "t10k", required=False)
    if test_x is not None:
        check_test_size(x, test_x, str(folder))
    return Stored("Fashion-MNIST" if fashion else "MNIST", "idx",
                  FASHION_CLASSES if fashion else DIGIT_CLASSES, x, y, test_x, test_y)
