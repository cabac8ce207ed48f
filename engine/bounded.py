"""Reading the files people name, within bounds.

Only regular files are read: a FIFO can block forever and a device (/dev/zero) never ends.
Nothing is unpacked to much more than it was packed from, so a crafted file cannot make the
app allocate much more than the file's own size.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

import numpy as np

from engine.errors import ConvNetError
from engine.shapes import format_bytes

# The official data sets pack 1.1× (CIFAR) to 5× (MNIST, gzip); deflate reaches 1,032× only on
# runs of one byte, which is what a decompression bomb is made of.
MAX_INFLATION = 32
# Unpacking up to this much is cheap whatever the ratio, which a small blank test set (1,000×)
# or a flat 2,000×1,500 PNG (9 MiB from a few KiB) can exceed.
INFLATION_ALLOWANCE = 16 * 1024 * 1024
# Unpacked data is copied in steps of this size, so no step holds a second full copy.
_STEP = 1024 * 1024
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


def unpack_problem(unpacked: int, packed: int) -> str | None:
    """Why `packed` bytes should not be unpacked into `unpacked`, or None if they may be."""
    if unpacked <= max(INFLATION_ALLOWANCE, MAX_INFLATION * packed):
        return None
    return (f"{format_bytes(packed)} would unpack into {format_bytes(unpacked)}, more than "
            f"{MAX_INFLATION} times as much, which only a damaged file or a decompression "
            f"bomb does")


def read_into(file: BinaryIO, out: np.ndarray) -> int:
    """Fill the C-contiguous array `out` from `file`; the number of bytes read."""
    view = memoryview(out.reshape(-1).view(np.uint8))
    got = 0
    while got < len(view):
        n = file.readinto(view[got:got + _STEP])
        if not n:
            break
        got += n
    return got


def shown(text: str) -> str:
    """`text` from a file as a one-line message may quote it: cut to SHOWN_CHARS, with what
    cannot be printed (newlines, lone surrogates) escaped."""
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + "…"
    return printable(text)


def printable(text: str) -> str:
    """`text` with what cannot be printed (control characters such as a terminal's escape,
    newlines, lone surrogates) escaped, whole."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def is_text(value: Any) -> bool:
    """Whether `value` is a str of Unicode text: a JSON escape such as \\ud800 can put a lone
    surrogate in a string, which can then be neither printed to a UTF-8 terminal nor saved
    again."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_controls(text: str) -> bool:
    """Whether `text` holds control characters (C0, DEL, C1), which a terminal acts on."""
    return any(unicodedata.category(c) == "Cc" for c in text)
