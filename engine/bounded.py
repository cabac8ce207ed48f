"""Reading the files people name, within bounds.

Only regular files are read: a FIFO can block forever and a device (/dev/zero) never ends.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from engine.errors import ConvNetError

# Messages quote at most this many characters of a name, value or error read from a file.
SHOWN_CHARS = 60
# Opening a FIFO for reading waits for a writer unless non-blocking; Windows has no FIFOs.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@contextmanager
def open_regular(path: str | os.PathLike, error: type[ConvNetError],
                 name: str | None = None) -> Iterator[tuple[BinaryIO, int]]:
    """`path` open for reading, with its size in bytes; `error` if it is not a regular file.

    `name` is how messages name the file (default: the path as given). Read no more than
    the size: a file that grows meanwhile must not make the read unbounded.
    """
    name = str(path) if name is None else name
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise error(f"{name} does not exist; check the path.") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise error(f"{name} cannot be read: {getattr(e, 'strerror', None) or e}.") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
        raise error(f"{name} is {kind}, not a file; give a file stored on disk.")
    with os.fdopen(fd, "rb") as file:
        yield file, info.st_size


def shown(text: str) -> str:
    """`text` from a file as a one-line message may quote it: cut to SHOWN_CHARS, with what
    cannot be printed (newlines, lone surrogates) escaped."""
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
