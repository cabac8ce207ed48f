"""Background work, the Qt-free half: a task is a plain function `task(state, *args)` that
reports partial results through its `TaskState` and calls `state.check()` between units of
work, so it can be tested without a thread and stopped without being killed."""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from engine.errors import ConvNetError


class Cancelled(Exception):
    """Raised by `TaskState.check()` in a task whose result nobody wants any more."""


class TaskState:
    """The task's side of its runner: where partial results go and whether to go on."""

    def __init__(self, sink: Callable[[Any], None] | None = None):
        self._sink = sink or (lambda result: None)
        self._cancelled = threading.Event()

    def report(self, result: Any) -> None:
        """Hand a partial result (a typed object) to whoever runs the task."""
        self._sink(result)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self) -> None:
        """Stop here (raise Cancelled) if the task was cancelled."""
        if self._cancelled.is_set():
            raise Cancelled


def failure_sentence(error: BaseException) -> str:
    """The one sentence a user sees for a failure in a background task."""
    if isinstance(error, ConvNetError):
        return str(error)
    if isinstance(error, MemoryError):
        return ("This machine ran out of memory; try a smaller batch size, a smaller network "
                "or a smaller data set.")
    traceback.print_exception(error)
    return f"Something went wrong ({type(error).__name__}: {error}); please report it."
