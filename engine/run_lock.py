"""One process at a time trains a run file.

Two processes that continue the same run each save their own progress over the other's,
and the last save wins: the epochs the other trained are lost without a word. So whoever
trains a run into its file holds a lock on it meanwhile: an advisory lock (`flock`, or
`msvcrt.locking` on Windows) on a hidden file beside it, `.NAME.lock`, which holds the
holder's process id. The operating system drops the lock when its process ends however it
ends, so a killed run never leaves its file locked; a lock file left behind is taken over
by the next trainer.

A lock alone does not stop a window that opened a run, waited while the command line
trained it further and then continued its own older copy: `holds_as_is` compares the
file's progress with the copy's before training starts.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from engine.checkpoint import EXTENSION, CheckpointError, read_run_summary
from engine.run import Run

_PID_BYTES = 32  # a process id, read back from a lock file of any size

if os.name == "nt":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # a file system without locks (some network mounts): trained unguarded
            pass
        return True


class RunBusy(CheckpointError):
    """The run file is being trained by another process (or another task of this one)."""


def lock_path(run_file: str | os.PathLike) -> Path:
    target = Path(os.path.realpath(run_file))
    return target.with_name(f".{target.name}.lock")


@contextmanager
def training_lock(run_file: str | os.PathLike) -> Iterator[bool]:
    """Hold the lock of `run_file` while the block trains it; RunBusy if another holds it.
    The block gets whether the lock is held and its file written: where no lock file can be
    made (a folder that cannot be written) it runs unguarded, and where the process id
    cannot be written in it (a full disk) saving the run is likely to fail too."""
    path = lock_path(run_file)
    fd = _locked(path, Path(run_file))
    if fd is None:
        yield False
        return
    try:
        yield _write_pid(fd)
    finally:
        if os.name != "nt":  # Windows cannot remove a file that is open
            path.unlink(missing_ok=True)
        os.close(fd)


def _locked(path: Path, run_file: Path) -> int | None:
    """A descriptor of the lock file at `path`, locked; None where it cannot be made."""
    while True:
        fd = _open(path, os.O_CREAT)
        if fd is None:
            return None
        if not _try_lock(fd):
            holder = _read_pid(fd)
            os.close(fd)
            raise RunBusy(_busy_sentence(run_file, holder))
        if _same_file(fd, path):
            return fd
        os.close(fd)  # the holder before us removed the file after we opened it: lock anew


def training_holder(run_file: str | os.PathLike) -> int | None:
    """The process id of whoever trains `run_file` now, or None where nobody does."""
    fd = _open(lock_path(run_file))
    if fd is None:
        return None
    try:
        if _try_lock(fd):
            return None  # its lock is free: dropping our descriptor releases it again
        return _read_pid(fd) or 0
    finally:
        os.close(fd)


def sweep_stale_locks(folder: Path) -> None:
    """Remove the lock files of run files in `folder` that nobody holds, which killed
    trainers left. Each is removed while locked here, so a trainer that opened it just
    before finds it gone and locks a new one (`_locked`). Not on Windows, which cannot
    remove a file that is open."""
    if os.name == "nt":
        return
    try:
        locks = list(folder.glob(f".*{EXTENSION}.lock"))
    except OSError:
        return
    for lock in locks:
        fd = _open(lock)
        if fd is None:
            continue
        try:
            if _try_lock(fd):
                lock.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)


def refuse_if_training_elsewhere(run_file: str | os.PathLike, doing: str) -> None:
    """RunBusy, naming what was asked (`doing`: "renamed", "deleted"), while another process
    trains `run_file`: its next save would undo a rename or bring a deleted file back."""
    holder = training_holder(run_file)
    if holder is not None and holder != os.getpid():
        raise RunBusy(f"'{Path(run_file).name}' cannot be {doing} while another process "
                      f"({_process(holder)}) trains it; stop that training first.")


def holds_as_is(run_file: str | os.PathLike, run: Run) -> bool:
    """Whether `run_file` holds `run` as far as it has been trained. RunBusy where it holds
    the run trained further (by another process since `run` was read), which training `run`
    would save over. A missing or unreadable file, or one that holds another run, is not
    `run` as it is, and is saved over as asked."""
    try:
        saved = read_run_summary(run_file)
    except CheckpointError:
        return False
    if saved.created != run.created:
        return False
    if saved.step > run.step:
        raise RunBusy(f"'{Path(run_file).name}' was trained further elsewhere since it was "
                      f"opened here (it is at step {saved.step:,}, this copy at "
                      f"{run.step:,}); open it again to continue from where it is now.")
    return saved.step == run.step


def _busy_sentence(run_file: Path, holder: int | None) -> str:
    if holder == os.getpid():
        return f"'{run_file.name}' is already being trained here; stop that training first."
    return (f"'{run_file.name}' is being trained by another process ({_process(holder)}); "
            "wait for it to finish or stop it, then continue the run.")


def _process(pid: int | None) -> str:
    return f"process {pid}" if pid else "its process id unknown"


def _open(path: Path, create: int = 0) -> int | None:
    """A descriptor of the lock file, or None where there is none or it is not a plain file
    (a link is not followed: locking must never write into the file it points to)."""
    flags = os.O_RDWR | create | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o666)  # a FIFO: no wait
    except OSError:
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def _write_pid(fd: int) -> bool:
    """Whether this process's id could be written in its lock file (the lock holds without
    it; others are then told the holder is unknown)."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
    except OSError:
        return False
    return True


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, _PID_BYTES)
    except OSError:
        return None
    return int(text) if text.strip().isdigit() else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = path.stat()
    except OSError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
