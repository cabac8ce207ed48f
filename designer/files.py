"""What the designer keeps between runs: recent files (in QSettings) and recovery copies.

Recovery copies live in QStandardPaths' AppDataLocation, so tests redirect them.
A recovery copy is a JSON file next to a QLockFile held by the running window: a
copy whose lock can be taken belongs to a window that crashed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6 import QtCore

from designer.document import NetworkDocument
from engine.errors import NetworkFileError
from engine.atomic import atomic_write
from engine.netfile import spec_from_dict, spec_to_dict
from engine.spec import NetworkSpec

AUTOSAVE_DELAY_MS = 1_000  # an edit is in the recovery copy this long after it is made
MAX_RECENT_FILES = 8
_RECENT_KEY = "recent_files"
_Paths = QtCore.QStandardPaths


def recovery_folder() -> Path:
    location = _Paths.writableLocation(_Paths.StandardLocation.AppDataLocation)
    return Path(location) / "recovery"


# --- recent files -------------------------------------------------------------------------
def recent_files() -> list[Path]:
    value = QtCore.QSettings().value(_RECENT_KEY, [])
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [Path(p) for p in items if p and isinstance(p, str)]


def _store_recent(paths: list[Path]) -> None:
    QtCore.QSettings().setValue(_RECENT_KEY, [str(p) for p in paths[:MAX_RECENT_FILES]])


def add_recent_file(path: Path) -> None:
    path = Path(path).resolve()
    _store_recent([path] + [p for p in recent_files() if p != path])


def remove_recent_file(path: Path) -> None:
    gone = Path(path).resolve()
    _store_recent([p for p in recent_files() if p != gone])


# --- recovery copies ----------------------------------------------------------------------
def _lock_for(copy: Path) -> QtCore.QLockFile:
    lock = QtCore.QLockFile(str(copy.with_suffix(".lock")))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    return lock


@dataclass
class Recovery:
    """A recovery copy left by a window that did not close normally."""

    file: Path
    source: Path | None  # the network file it was a modified copy of, if any
    saved: datetime
    spec: NetworkSpec
    lock: QtCore.QLockFile

    def describe(self) -> str:
        name = self.source.name if self.source else self.spec.name
        return f"'{name}', autosaved {self.saved:%Y-%m-%d %H:%M}"

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        self.lock.unlock()


def orphaned_recoveries() -> list[Recovery]:
    """Recovery copies of crashed windows, newest first; unreadable ones are removed."""
    folder = recovery_folder()
    if not folder.exists():
        return []
    found = []
    for file in sorted(folder.glob("recovery-*.json")):
        lock = _lock_for(file)
        if not lock.tryLock(0):
            continue  # its window is still running
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            spec = spec_from_dict(data["network"], "the recovery copy")
            source = Path(data["source"]) if data.get("source") else None
            found.append(Recovery(file, source, datetime.fromisoformat(data["saved"]), spec, lock))
        except (OSError, ValueError, KeyError, TypeError, NetworkFileError):
            file.unlink(missing_ok=True)
            lock.unlock()
    for stray in folder.glob("recovery-*.lock"):
        lock = _lock_for(stray)
        if not stray.with_suffix(".json").exists() and lock.tryLock(0):
            lock.unlock()  # a crash before the first autosave left only the lock
    return sorted(found, key=lambda r: r.saved, reverse=True)


class Autosaver(QtCore.QObject):
    """Writes the document to its own recovery copy a second after an edit, so a crash or
    a kill loses at most the last second's work. While edits go on (a value dragged for a
    minute) it writes once a second, not once per edit: the copy is small (a network's
    JSON, 1-2 ms to write here), but each write waits for the disk."""

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(parent)
        self.document = document
        folder = recovery_folder()
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / f"recovery-{uuid.uuid4().hex[:12]}.json"
        self._lock = _lock_for(self.file)
        self._lock.tryLock(0)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(AUTOSAVE_DELAY_MS)
        self.timer.timeout.connect(self.save_now)
        document.spec_changed.connect(self._edited)
        document.dirty_changed.connect(lambda dirty: self._edited() if dirty else self.discard())

    def _edited(self) -> None:
        if not self.timer.isActive():  # not restarted: a steady stream of edits still saves
            self.timer.start()

    def save_now(self) -> None:
        """Write the recovery copy if there are unsaved changes, else remove it."""
        if not self.document.dirty:
            self.discard()
            return
        path = self.document.path
        data = {"source": str(path) if path else None, "saved": datetime.now().isoformat(),
                "network": spec_to_dict(self.document.spec)}
        try:
            atomic_write(self.file, json.dumps(data, ensure_ascii=False).encode("utf-8"))
        except OSError:
            pass  # a failed safety copy must not interrupt editing; the next tick retries

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)

    def close(self) -> None:
        """A clean exit: no recovery copy is left behind."""
        self.timer.stop()
        self.discard()
        self._lock.unlock()
