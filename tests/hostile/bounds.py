"""What a hostile input must get: a result, or one plain sentence, within time and memory.

`check(read, raw)` is the hook for any reader of bytes: `read(raw)` must return or raise
ConvNetError with one plain sentence, within TIME_LIMIT_S and memory_limit(len(raw)). A
reader of paths is checked the same way with a closure and the file's size, as
test_crafted_files.refused does.
"""

from __future__ import annotations

import gc
import signal
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from engine.bounded import INFLATION_ALLOWANCE
from engine.errors import ConvNetError

# The bound: every file is read or refused within 5 s.
TIME_LIMIT_S = 5.0
# What one case may allocate: a floor, as any file may unpack into INFLATION_ALLOWANCE and
# arrays are then made from that, or a few times the file's own size.
MEMORY_FLOOR = 4 * INFLATION_ALLOWANCE
MEMORY_PER_FILE_BYTE = 8


@dataclass
class Outcome:
    message: str | None  # None: the reader returned
    seconds: float
    peak_bytes: int


class Escaped(AssertionError):
    """A reader broke a bound: a foreign exception, a bad message, too slow or too greedy."""


def memory_limit(size: int) -> int:
    return max(MEMORY_FLOOR, MEMORY_PER_FILE_BYTE * size)


@contextmanager
def many_cases():
    """Around a run of many small cases: what exists before is frozen out of garbage
    collection, or every collection the cases trigger would scan the whole test session."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def no_hang(seconds: float = 2 * TIME_LIMIT_S):
    """Turn a read that blocks (a FIFO waiting for a writer) into a failure, not a hung run."""
    def interrupt(*_):
        raise Escaped(f"the read blocked for more than {seconds:g} s")

    if not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(read: Callable[[bytes], Any], raw: bytes, size: int | None = None) -> Outcome:
    """Run `read(raw)` and check every bound; `size`: the file's size if `raw` is not the
    file itself (default len(raw)). Memory is what tracemalloc sees allocated meanwhile,
    NumPy's arrays included."""
    size = len(raw) if size is None else size
    tracemalloc.start()
    start = time.perf_counter()
    try:
        read(raw)
        message = None
    except ConvNetError as e:
        message = str(e)
    except Exception as e:
        raise Escaped(f"{type(e).__name__} escaped: {e}") from e
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    outcome = Outcome(message, seconds, peak)
    if message is not None and not is_one_sentence(message):
        raise Escaped(f"not one plain sentence: {message!r}")
    if seconds > TIME_LIMIT_S:
        raise Escaped(f"took {seconds:.1f} s")
    if peak > memory_limit(size):
        raise Escaped(f"allocated {peak:,} bytes for a file of {size:,}")
    return outcome


def is_one_sentence(message: str) -> bool:
    return (bool(message) and message.endswith(".") and message.isprintable()
            and "Traceback" not in message)
