"""Atomic file writes: a crash, a kill or a full disk leaves either the old file or the new
one, never a mix, and no temporary file outlives the next save.

The new content goes to a hidden temporary file beside the target, named after the target
and the writing process (`.NAME.PID.RANDOM.tmp`), which is flushed to disk and renamed over
the target. The temporary file takes the old file's permissions (a new file gets the
user's umask, as any other new file would), and a symbolic link is written through: the
file it points to is replaced and the link stays.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

_SUFFIX = ".tmp"
_writing: set[Path] = set()  # this process's temporaries being written right now
_writing_lock = threading.Lock()


def atomic_write(path: str | os.PathLike, content: bytes | Callable[[BinaryIO], None],
                 exclusive: bool = False) -> None:
    """Write `content` (bytes, or a function that writes to a binary file) to `path`. With
    `exclusive`, a file already at `path` is left alone: FileExistsError, nothing written."""
    target = Path(os.path.realpath(path))
    old_mode = _mode_of(target)
    with temporary_beside(target) as tmp:
        # 0o666 lets the umask decide a new file's mode, as for any file the user creates.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                if old_mode is not None:
                    os.chmod(f.fileno() if os.chmod in os.supports_fd else tmp, old_mode)
                if callable(content):
                    content(f)
                else:
                    f.write(content)
                f.flush()
                os.fsync(f.fileno())
            (_place_new if exclusive else os.replace)(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _sync_folder(target.parent)


@contextmanager
def temporary_beside(target: Path) -> Iterator[Path]:
    """A new hidden name beside `target` (`.NAME.PID.RANDOM.tmp`) for a file or folder that
    is renamed onto it when whole; while the block runs, `remove_stale_temporaries` knows it
    as this process's work in progress. Temporaries that killed writers left go first."""
    remove_stale_temporaries(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{_SUFFIX}")
    with _writing_lock:
        _writing.add(tmp)
    try:
        yield tmp
    finally:
        with _writing_lock:
            _writing.discard(tmp)


def remove_stale_temporaries(target: Path) -> int:
    """Remove temporary files (or folders) of earlier saves of `target` whose process is gone
    (killed mid-save); returns how many. Another live process's save in progress is left
    alone."""
    removed = 0
    try:
        candidates = list(target.parent.glob(f".{_glob_escape(target.name)}.*{_SUFFIX}"))
    except OSError:
        return 0
    for tmp in candidates:
        pid = tmp.name[len(target.name) + 2:-len(_SUFFIX)].split(".")[0]
        if pid.isdigit() and not _alive(int(pid), tmp):
            try:
                if tmp.is_dir() and not tmp.is_symlink():  # a project export's folder
                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def sweep_stale_temporaries(folder: Path, extension: str) -> int:
    """`remove_stale_temporaries` for every `*extension` file in `folder` that has left one,
    whether or not the file itself is there: a run killed mid-save and never saved again
    would otherwise keep its hidden, possibly large, temporary for good."""
    try:
        strays = list(folder.glob(f".*{_glob_escape(extension)}.*{_SUFFIX}"))
    except OSError:
        return 0
    # .NAME.PID.RANDOM.tmp, where NAME may hold dots itself
    names = {stray.name[1:-len(_SUFFIX)].rsplit(".", 2)[0] for stray in strays}
    return sum(remove_stale_temporaries(folder / name) for name in names
               if name.endswith(extension))


def _place_new(tmp: Path, target: Path) -> None:
    """Give the finished `tmp` the name `target` unless another file has it: the check and
    the naming are one step, so two processes can never both take the name."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT): claim the name, then fill it
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.replace(tmp, target)
    else:
        tmp.unlink()


def _mode_of(target: Path) -> int | None:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return None


def _alive(pid: int, tmp: Path) -> bool:
    if pid == os.getpid():
        with _writing_lock:
            return tmp in _writing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or a platform that cannot tell: leave it
    return True


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
