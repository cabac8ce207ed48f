"""A guard against a reference-count bug of PySide6 6.12 on Python 3.11.

Bound methods of that PySide6 return None (and emit() its True/False) without
taking a reference, so every call such as `label.setText(...)` lowers None's
reference count by one; after a few thousand calls Python aborts with "Fatal
Python error: none_dealloc". From Python 3.12 on these objects are immortal and
the bug is harmless. On older Pythons we give them a reference count so large
that no session can use it up (2**40 calls), once, before Qt is used.
"""

from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 40
_done = False


def protect_singletons() -> None:
    """Make None, True and False effectively immortal where Python does not already."""
    global _done
    if _done or sys.version_info >= (3, 12):
        return
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _MARGIN  # ob_refcnt is the first field
    _done = True
