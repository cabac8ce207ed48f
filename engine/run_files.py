"""Renaming and deleting run files, and the background tasks (`engine.task`) that list,
rename and delete them for the window's list of runs, each returning a typed result.

A rename rewrites only the training record: every other entry of the archive (weights,
optimizer cache, curves) is copied byte for byte, one entry at a time, into a new file that
replaces the old one atomically. So a rename costs a copy of the file but never the memory
of its weights, and needs no device to load them on.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write, remove_stale_temporaries
from engine.checkpoint import META, CheckpointError, RunSummary, read_run_summary
from engine.run_lock import refuse_if_training_elsewhere
from engine.runs import list_runs
from engine.task import TaskState

RECORD = f"{META}.npy"  # the training record, as np.savez names it in the archive
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RunListing:
    """The runs of `folder`, newest first, and one sentence per file that is not one."""

    folder: Path
    runs: tuple[RunSummary, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class RunRead:
    """A run file read again (it was written since it was listed, or it is new)."""

    summary: RunSummary


@dataclass(frozen=True)
class RunRenamed:
    summary: RunSummary  # the run under its new name, at the same path


@dataclass(frozen=True)
class RunDeleted:
    path: Path


def rename_run(path: str | os.PathLike, name: str) -> RunSummary:
    """Give the run at `path` another name (the file keeps its own); returns its summary."""
    path, name = Path(path), name.strip()
    if not name:
        raise CheckpointError("A run needs a name; type at least one character.")
    refuse_if_training_elsewhere(path, "renamed")
    read_run_summary(path)  # a run file this version reads, or the sentence saying why not
    with np.load(path, allow_pickle=False) as archive:
        record = json.loads(str(archive[META]))
    if record["version"] == 1:
        raise CheckpointError(f"'{path.name}' is a run file of an older format, whose name "
                              "is its file name; rename the file, or continue the run once "
                              "to save it in the current format.")
    record["name"] = name
    text = np.array(json.dumps(record, ensure_ascii=False))

    def write(f) -> None:
        # The source is closed before atomic_write replaces it (Windows cannot replace an
        # open file).
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(f, "w") as target:
            for info in source.infolist():
                with target.open(info.filename, "w", force_zip64=True) as out:
                    if info.filename == RECORD:
                        np.lib.format.write_array(out, text, allow_pickle=False)
                    else:
                        with source.open(info) as entry:
                            shutil.copyfileobj(entry, out, COPY_CHUNK)
    try:
        atomic_write(path, write)
    except zipfile.BadZipFile:
        raise CheckpointError(f"'{path.name}' is damaged (an entry fails its checksum), so "
                              "it was not renamed.") from None
    except OSError as e:
        raise CheckpointError(f"Could not rename the run '{path.name}': {e.strerror or e}.") \
            from None
    return read_run_summary(path)


def delete_run(path: str | os.PathLike) -> None:
    """Delete the run file at `path` (only that file); a file already gone is no error."""
    path = Path(path)
    refuse_if_training_elsewhere(path, "deleted")
    try:
        path.unlink(missing_ok=True)
    except OSError as e:
        raise CheckpointError(f"Could not delete the run file '{path.name}': "
                              f"{e.strerror or e}.") from None
    remove_stale_temporaries(path)


# --- tasks for designer.background.Worker ----------------------------------------------------
def list_task(state: TaskState, folder: Path) -> RunListing:
    runs, problems = list_runs(folder)
    return RunListing(folder, tuple(runs), tuple(problems))


def read_task(state: TaskState, path: Path) -> RunRead:
    return RunRead(read_run_summary(path))


def rename_task(state: TaskState, path: Path, name: str) -> RunRenamed:
    return RunRenamed(rename_run(path, name))


def delete_task(state: TaskState, path: Path) -> RunDeleted:
    delete_run(path)
    return RunDeleted(path)
