"""Image folders: one sub-folder per class, holding PNG, JPEG (or other Pillow-readable) files.

Optionally split: a folder holding just `train/` and `test/`, each with the class sub-folders.
Resize policy: every image is turned upright (EXIF orientation), converted to grey or RGB for
the input depth, centre-cropped to the input's aspect ratio (a square for W = H) and resized
to W×H with Pillow's bilinear filter (antialiased when shrinking).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.bounded import open_regular, shown, unpack_problem
from engine.data.dataset import DataError, Stored, check_room, shown_path
from engine.spec import Volume

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
# Without a network to say otherwise, images are read at CIFAR's size.
DEFAULT_VOLUME = Volume(32, 32, 3)


def _visible(entries) -> list[Path]:
    return sorted(p for p in entries if not p.name.startswith("."))


def class_folders(folder: Path) -> list[Path]:
    return [p for p in _visible(folder.iterdir()) if p.is_dir()]


def image_files(folder: Path) -> list[Path]:
    return [p for p in _visible(folder.iterdir())
            if p.suffix.lower() in SUFFIXES and p.is_file()]


def looks_like_image_folder(folder: Path) -> bool:
    return any(image_files(sub) for sub in class_folders(folder)) or _split_layout(folder)


def _split_layout(folder: Path) -> bool:
    subs = {p.name for p in class_folders(folder)}
    return subs == {"train", "test"} and all(
        any(image_files(c) for c in class_folders(folder / s)) for s in subs)


def _files_by_class(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for sub in class_folders(folder):
        if sub.name not in classes:
            raise DataError(f"{shown_path(sub, folder)} is not one of the classes of the "
                            f"training images ({shown(', '.join(classes))}).")
        found = image_files(sub)
        if not found:
            raise DataError(f"The class folder {shown_path(sub, folder)} holds no images "
                            f"({', '.join(sorted(SUFFIXES))}); add some or remove it.")
        files += found
        labels += [classes.index(sub.name)] * len(found)
    return files, np.array(labels, np.int64)


def _read_images(files: list[Path], volume: Volume, sizes: set, folder: Path) -> np.ndarray:
    x = np.empty((len(files), volume.height, volume.width, volume.depth), np.uint8)
    for i, path in enumerate(files):
        x[i] = read_image_file(path, volume, sizes, shown_path(path, folder))
    return x


def read_image_file(path: Path, volume: Volume, sizes: set | None = None,
                    name: str | None = None) -> np.ndarray:
    """One image file prepared the way training prepares every image (the module's resize
    policy), as uint8 (H, W, D); Classify prepares the images it is given with it too.
    The image's stored size is added to `sizes`; `name` is how messages name the file
    (default: the path as given)."""
    if volume.depth not in (1, 3):
        raise DataError(f"Images can be read in grey (depth 1) or RGB (depth 3), but the "
                        f"network's input is {volume}.")
    name = str(path) if name is None else name
    with open_regular(path, DataError, name) as (file, size):
        return _read_image(file, size, name, volume, set() if sizes is None else sizes)


def _read_image(file: BinaryIO, size: int, name: str, volume: Volume, sizes: set) -> np.ndarray:
    """The image in `file` (`size` bytes) fitted to `volume`; its stored size goes in `sizes`;
    `name` names the file in messages."""
    try:
        with Image.open(file) as image:
            problem = unpack_problem(image.width * image.height * len(image.getbands()), size)
            if problem:
                raise DataError(f"{name} was not decoded: {problem}; save it smaller or "
                                f"remove it.")
            sizes.add(image.size)
            image = ImageOps.exif_transpose(image).convert("L" if volume.depth == 1 else "RGB")
            image = ImageOps.fit(image, (volume.width, volume.height),
                                 method=Image.Resampling.BILINEAR)
            return np.asarray(image).reshape(volume.height, volume.width, volume.depth)
    except UnidentifiedImageError:
        raise DataError(f"{name} is not an image Pillow can read.") from None
    except Image.DecompressionBombError:
        raise DataError(f"{name} was not decoded: Pillow refuses it as a possible "
                        f"decompression bomb; save it smaller or remove it.") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{name} cannot be read as an image: {shown(str(e))}.") from None


def load_image_folder(folder: Path, volume: Volume | None) -> Stored:
    notes = []
    if volume is None:
        volume = DEFAULT_VOLUME
        notes.append(f"no network given: images read at {volume}")
    split = _split_layout(folder)
    train_dir = folder / "train" if split else folder
    classes = [p.name for p in class_folders(train_dir)]
    if not classes:
        raise DataError(f"{folder} has no class sub-folders of images.")
    name = folder.resolve().name
    files, y = _files_by_class(train_dir, classes)
    test_files, test_y = _files_by_class(folder / "test", classes) if split else ([], None)
    check_room(len(files) + len(test_files), volume, name)
    sizes: set = set()
    x = _read_images(files, volume, sizes, folder)
    test_x = _read_images(test_files, volume, sizes, folder) if split else None
    widths, heights = zip(*sizes)
    if sizes != {(volume.width, volume.height)}:
        notes.append(f"stored sizes from {min(widths)}×{min(heights)} to {max(widths)}×"
                     f"{max(heights)}, centre-cropped and resized (bilinear) to "
                     f"{volume.width}×{volume.height}")
    return Stored(name, "image-folder", classes, x, y, test_x, test_y, notes)
