"""The DataSet handed to the trainer, the stored form loaders return, and the validation split.

Images stay uint8 NHWC (batch, height, width, depth) until a batch is formed: CIFAR-10 costs
~180 MiB in memory this way instead of ~700 MiB as float32.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.backend import host_free_memory
from engine.bounded import shown
from engine.errors import ConvNetError
from engine.shapes import format_bytes
from engine.spec import Volume

# Work over the whole set (reordering, grey conversion, statistics) goes a chunk of about
# this many bytes at a time, so that its temporaries stay small whatever size the images are.
CHUNK_BYTES = 64 * 1024 * 1024
# Images fitted to the network may fill at most this share of the free memory: fitting holds
# them beside the images it converts, and training needs the rest for its batches.
MEMORY_SHARE = 0.25
# ITU-R 601 luma weights (0.299, 0.587, 0.114) in Pillow's 16-bit fixed point, so a grey
# CIFAR image matches the same image converted by Pillow (as image folders are).
_LUMA = np.array([19595, 38470, 7471], dtype=np.uint32)
# More classes than any image data set has (ImageNet-21k: 21,841): a larger class count is
# a damaged file, and would cost a list entry per class.
MAX_CLASSES = 100_000


class DataError(ConvNetError):
    """A data set that cannot be found or read; the message names the file."""


@dataclass
class DataSet:
    """Images and labels split for training, validation and (where the format has one) test.

    `notes` says what loading changed for the user (grey↔RGB conversion, resizing).
    """

    name: str
    format: str
    class_names: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def volume(self) -> Volume:
        return image_volume(self.train_x)


@dataclass
class Stored:
    """A data set as it is stored: the training images before the validation split."""

    name: str
    format: str
    class_names: list[str]
    x: np.ndarray
    y: np.ndarray
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def volume(self) -> Volume:
        return image_volume(self.x)


def image_volume(x: np.ndarray) -> Volume:
    """The W×H×D of a (N, H, W, D) image array."""
    _, height, width, depth = x.shape
    return Volume(width, height, depth)


def check_class_count(count: int, where: str) -> None:
    """A DataError naming `where` if it lists more classes than a data set can have."""
    if count > MAX_CLASSES:
        raise DataError(f"{where} lists {count:,} classes, more than any data set has "
                        f"({MAX_CLASSES:,}).")


def chunk_rows(x: np.ndarray, itemsize: int = 1) -> int:
    """How many images of `x` make a chunk of CHUNK_BYTES once each value takes `itemsize`
    bytes."""
    return max(1, CHUNK_BYTES // max(1, math.prod(x.shape[1:]) * itemsize))


def check_room(count: int, volume: Volume, name: str) -> None:
    """A DataError, before anything is allocated, if `count` images of `volume` would fill
    more than MEMORY_SHARE of the free memory."""
    need = count * volume.size
    free = host_free_memory()
    if free is not None and need > free * MEMORY_SHARE:
        raise DataError(f"The {count:,} images of {shown(name)} at the network's input "
                        f"{volume} would take {format_bytes(need)}, more than the "
                        f"{format_bytes(int(free * MEMORY_SHARE))} (of {format_bytes(free)} "
                        f"free) that images may take; make the input layer smaller or use "
                        f"fewer images.")


def shown_path(path: str | os.PathLike, root: Path) -> str:
    """`path` as a message names it: `root` as the user gave it, then the names found inside
    it, which are data (class folders, file names), through shown()."""
    path = Path(path)
    if not path.is_relative_to(root):
        return shown(str(path))
    return str(root / shown(str(path.relative_to(root))))


def check_test_size(x: np.ndarray, test_x: np.ndarray, where: str) -> None:
    """A DataError naming `where` if the test images are not the size of the training ones."""
    if test_x.shape[1:] != x.shape[1:]:
        raise DataError(f"{where} mixes image sizes: the training images are "
                        f"{image_volume(x)} but the test images {image_volume(test_x)}; "
                        f"store both at one size.")


def check_labels(y: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    """`y` as int64, or a DataError naming `where` if a label is not a class index."""
    y = np.asarray(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise DataError(f"The labels in {where} are not a list of whole numbers.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise DataError(f"{where} has the label {bad}, but the data set has {n_classes} "
                        f"classes, numbered 0 to {n_classes - 1}.")
    return y.astype(np.int64)


def fit_volume(stored: Stored, volume: Volume | None) -> Stored:
    """Fit the stored images to the network's input volume.

    Grey↔RGB is converted, and images smaller than the input get a centred zero border (as
    LeNet-5 padded MNIST's 28×28 digits to 32×32); anything else is an error naming both,
    as is a fitted set too large for the free memory (checked before it is allocated).
    """
    if volume is None or volume == stored.volume:
        return stored
    have = stored.volume
    pad_w, pad_h = volume.width - have.width, volume.height - have.height
    if pad_w < 0 or pad_h < 0 or {have.depth, volume.depth} not in ({1, 3}, {volume.depth}):
        raise DataError(f"The {shown(stored.name)} images are {have} but the network's "
                        f"input is {volume}; change the input layer to {have} or choose a "
                        f"data set of {volume} images.")
    check_room(len(stored.x) + (0 if stored.test_x is None else len(stored.test_x)), volume,
               stored.name)
    steps = []
    if have.depth != volume.depth:
        steps.append(_to_rgb if volume.depth == 3 else _to_grey)
        kind = "grey to RGB" if volume.depth == 3 else "RGB to grey"
        stored.notes.append(f"converted {kind} to match the network's input {volume}")
    if pad_w or pad_h:
        border = ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2),
                  (0, 0))
        steps.append(lambda x: np.pad(x, border))
        stored.notes.append(f"padded {have.width}×{have.height} to {volume.width}×"
                            f"{volume.height} with a centred zero border")
    for step in steps:
        stored.x = step(stored.x)
        if stored.test_x is not None:
            stored.test_x = step(stored.test_x)
    return stored


def _to_rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, axis=3)


def _to_grey(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[:3] + (1,), np.uint8)
    step = chunk_rows(x, 4)
    for start in range(0, len(x), step):
        rows = x[start:start + step].astype(np.uint32) @ _LUMA
        out[start:start + step, ..., 0] = (rows + 0x8000) >> 16
    return out


def split(stored: Stored, val_fraction: float, seed: int) -> DataSet:
    """Take a seeded validation split, stratified by class, out of the stored training images.

    The images are reordered in place so that training and validation are two views of one
    buffer: the split copies no images, which keeps a CIFAR-10-sized set at its stored size.
    """
    if not 0 <= val_fraction < 1:
        raise DataError(f"The validation fraction must be at least 0 and below 1, "
                        f"not {val_fraction}.")
    x, y = stored.x, stored.y
    is_val = _validation_rows(y, val_fraction, seed)
    keep = np.flatnonzero(~is_val)
    val_x, val_y = x[is_val], y[is_val]
    # keep[i] >= i, so each chunk reads rows that no earlier chunk has overwritten.
    n_train, step = len(keep), chunk_rows(x)
    for start in range(0, n_train, step):
        rows = keep[start:start + step]
        x[start:start + len(rows)] = x[rows]
    x[n_train:n_train + len(val_x)] = val_x
    return DataSet(
        name=stored.name, format=stored.format, class_names=list(stored.class_names),
        train_x=x[:n_train], train_y=y[keep],
        val_x=x[n_train:n_train + len(val_y)], val_y=val_y,
        test_x=stored.test_x, test_y=stored.test_y, notes=list(stored.notes),
    )


def _validation_rows(y: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of round(fraction × N) random images, shared out in proportion to the
    classes (largest remainders get the odd ones), so small sets keep their class balance."""
    order = np.random.default_rng(seed).permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]
    counts = np.bincount(y, minlength=1)
    quota = counts * val_fraction
    take = np.floor(quota).astype(np.int64)
    extra = int(round(len(y) * val_fraction)) - int(take.sum())
    take[np.argsort(take - quota, kind="stable")[:extra]] += 1
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(y)) - np.repeat(starts, counts)
    mask = np.zeros(len(y), bool)
    mask[order[rank < np.repeat(take, counts)]] = True
    return mask
