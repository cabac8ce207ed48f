"""Background work, the Qt-free half: a task is a plain function `task(state, *args)` that
reports partial results through its `TaskState` and calls `state.check()` between units of
work, so it can be tested without a thread and stopped without being killed."""

from __future__ import annotations

import threading
from typing import Any, Callable


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
