"""load_data: the embedded sets by name, or a data set on disk in the format found there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.bounded import shown
from engine.data import cifar, idx
from engine.data.dataset import DataError, DataSet, Stored, fit_volume, shown_path, split
from engine.data.folder import class_folders, load_image_folder, looks_like_image_folder
from engine.data.generated import CLASS_NAMES, TEST_PER_CLASS, TRAIN_PER_CLASS, generate
from engine.data.npz import load_npz
from engine.resources import embedded_digits_file
from engine.spec import Volume

VAL_FRACTION = 0.1  # of each class's training images, kept for validation
SPLIT_SEED = 0


@dataclass(frozen=True)
class EmbeddedSet:
    """What is known of an embedded data set without loading it."""

    title: str
    volume: Volume
    class_names: tuple[str, ...]
    train_count: int  # as stored, before the validation split
    test_count: int


EMBEDDED = {
    "digits": EmbeddedSet("UCI digits (embedded)", Volume(8, 8, 1),
                          tuple(str(d) for d in range(10)), 1797, 0),
    "shapes": EmbeddedSet("Generated shapes (embedded)", Volume(32, 32, 3), tuple(CLASS_NAMES),
                          TRAIN_PER_CLASS * len(CLASS_NAMES), TEST_PER_CLASS * len(CLASS_NAMES)),
}
# Folder names the official archives extract to; their parent works too if it holds no other.
OFFICIAL_FOLDERS = ("cifar-10-batches-py", "cifar-10-batches-bin", "cifar-100-python")
ARCHIVE_SUFFIXES = (".tar", ".gz", ".tgz", ".zip")


def data_source(data: str | None) -> str | None:
    """What a run keeps of the data set it was given: nothing (the embedded digits) or an
    embedded set's name as given, a path made absolute, so that it is found again from
    any folder."""
    if data is None or data in EMBEDDED:
        return data
    return str(Path(data).expanduser().resolve())


def load_data(source: str | os.PathLike | None = None, volume: Volume | None = None,
              val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED) -> DataSet:
    """The data set at `source` with a seeded validation split of `val_fraction`.

    None or "digits": the embedded UCI digits (8×8×1); "shapes": the generated 32×32×3 set;
    a path: the format found there. `volume` is the network's input: image folders are resized
    to it; other formats are converted grey↔RGB and zero-padded when smaller, and any other
    mismatch raises DataError.
    """
    return split(fit_volume(read_stored(source, volume), volume), val_fraction, seed)


def read_stored(source: str | os.PathLike | None, volume: Volume | None = None) -> Stored:
    """The data set as stored, before any volume check or validation split."""
    if source is None or str(source) == "digits":
        return _digits()
    if str(source) == "shapes":
        x, y, test_x, test_y = generate()
        return Stored(EMBEDDED["shapes"].title, "generated", list(CLASS_NAMES),
                      x, y, test_x, test_y)
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            return _detect(path, volume)
        if path.exists():  # a device or a pipe too: reading it refuses it in a sentence
            return _read_file(path)
    except OSError as e:  # a folder on the way that may not be entered, a name too long
        raise DataError(f"{shown_path(e.filename or path, path)} cannot be read: "
                        f"{shown(e.strerror or str(e))}; check the path and that you may "
                        f"open the folders on it.") from None
    raise DataError(f"{path} does not exist (or name an embedded set: "
                    f"{' or '.join(EMBEDDED)}).")


def _digits() -> Stored:
    path = embedded_digits_file()
    if not path.is_file():
        raise DataError(f"The embedded digits file {path} is missing; reinstall the app.")
    stored = load_npz(path)
    stored.name, stored.format = EMBEDDED["digits"].title, "embedded"
    return stored


def _read_file(path: Path) -> Stored:
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise DataError(f"{path} is an archive: extract it and give the folder it creates.")
    raise DataError(f"{path} is not a data set file: give an .npz file or a folder "
                    f"(CIFAR, MNIST IDX files, or one sub-folder of images per class).")


def _detect(folder: Path, volume: Volume | None) -> Stored:
    def has(*names: str) -> bool:
        return any((folder / n).is_file() for n in names)

    if has("batches.meta", "data_batch_1", "test_batch"):
        return cifar.load_cifar10_python(folder)
    if has("meta") and has("train", "test"):
        return cifar.load_cifar100_python(folder)
    if has("batches.meta.txt", "data_batch_1.bin", "test_batch.bin"):
        return cifar.load_cifar10_binary(folder)
    if idx.find(folder, "train-images-idx3-ubyte") or idx.find(folder, "train-labels-idx1-ubyte"):
        return idx.load_idx(folder)
    subfolders = class_folders(folder)
    if len(subfolders) == 1 and subfolders[0].name in OFFICIAL_FOLDERS:
        return _detect(subfolders[0], volume)
    if looks_like_image_folder(folder):
        return load_image_folder(folder, volume)
    npz = sorted(folder.glob("*.npz"))
    if len(npz) == 1:
        return load_npz(npz[0])
    if not any(folder.iterdir()):
        raise DataError(f"The folder {folder} is empty.")
    raise DataError(f"No data set found in {folder}: expected CIFAR-10 batches (python or "
                    "binary), CIFAR-100 in its python layout, MNIST IDX files, an .npz file, "
                    "or one sub-folder of images per class.")
