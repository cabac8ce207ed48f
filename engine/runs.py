"""Where runs are kept: a `runs` folder beside the network file they were started from, or
the user's data folder for a network that has no file of its own (a template, a new
network) or whose folder cannot be written. `main.py train` and the window use the same
places, so the window lists the runs the command line trained.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from datetime import datetime
from pathlib import Path

from engine.atomic import sweep_stale_temporaries
from engine.checkpoint import EXTENSION, CheckpointError, RunSummary, read_run_summary, save_run
from engine.resources import is_bundled
from engine.run import Run
from engine.run_lock import sweep_stale_locks

RUNS = "runs"
# Overrides the user's data folder (tests, portable setups).
HOME_VARIABLE = "CONVNET_DESIGNER_HOME"
APP_FOLDER = ("ConvNetDesigner", "ConvNet Designer")  # organisation, application


def user_data_folder() -> Path:
    """The designer's own folder in the user's data location (as Qt's AppDataLocation)."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE])
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base.joinpath(*APP_FOLDER)


def runs_folder(network_file: str | os.PathLike | None) -> Path:
    """The folder that keeps the runs of the network saved at `network_file`."""
    if network_file is not None:
        folder = Path(network_file).resolve().parent
        if os.access(folder, os.W_OK) and not is_bundled(folder):
            return folder / RUNS
    return user_data_folder() / RUNS


def keep_new_run(run: Run, folder: Path) -> Path:
    """Save a new run into `folder` (made if need be) under a name no other file there has,
    NETWORK-YYYYMMDD-HHMMSS.ckpt (then -2, -3, …), and return its path. The first save
    claims the name, so runs started in the same second (by two processes, say) never
    share a file and overwrite each other."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"Could not make the folder '{folder}' to keep the run in: "
                              f"{e.strerror or e}.") from None
    stem = re.sub(r"[^\w.-]+", "_", run.spec.name).strip("._") or "run"
    stamp = datetime.fromisoformat(run.created).strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        path = folder / f"{stem}-{stamp}{f'-{n}' if n > 1 else ''}{EXTENSION}"
        try:
            save_run(run, path, exclusive=True)
            return path
        except FileExistsError:
            continue


def list_runs(folder: Path) -> tuple[list[RunSummary], list[str]]:
    """The runs in `folder`, newest first, and one sentence for each file that is not one;
    temporaries that killed saves left in it go, and so do locks that killed trainers left."""
    runs, problems = [], []
    sweep_stale_temporaries(folder, EXTENSION)
    sweep_stale_locks(folder)
    try:
        files = sorted(folder.glob(f"*{EXTENSION}"))
    except OSError:
        return [], []
    for file in files:
        try:
            runs.append(read_run_summary(file))
        except CheckpointError as e:
            problems.append(str(e))
    runs.sort(key=lambda r: r.created, reverse=True)
    return runs, problems
