"""Background work, the Qt half: one `Worker` runs tasks (`engine.task`) one after another
on a thread of its own and brings what they report back to the GUI thread.

Every payload is a typed object (a frozen dataclass); whoever receives it dispatches on its
type. `forget()` makes everything submitted so far stale: those tasks are cancelled and
nothing they report or return reaches the GUI any more.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6 import QtCore

from engine.task import Cancelled, TaskState, failure_sentence


class Worker(QtCore.QObject):
    """Runs one task at a time, in the order submitted, on one thread that never expires
    (so tasks may keep thread-bound state such as a training run between them)."""

    reported = QtCore.Signal(object)   # a partial result
    finished = QtCore.Signal(object)   # a task's return value (None included)
    failed = QtCore.Signal(str)        # a task's failure, as one sentence
    _posted = QtCore.Signal(int, int, object)

    _REPORTED, _FINISHED, _FAILED = range(3)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._pool = QtCore.QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)
        self._generation = 0
        self._states: list[TaskState] = []
        self._pending = 0
        self._closed = False
        self._posted.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        """Whether a task of the current generation is queued or running."""
        return self._pending > 0

    def submit(self, task: Callable[..., Any], *args: Any) -> TaskState | None:
        """Queue `task(state, *args)`; None once the worker is shut down."""
        if self._closed:
            return None
        generation = self._generation
        state = TaskState(lambda result: self._posted.emit(generation, self._REPORTED, result))
        self._states.append(state)
        self._pending += 1

        def work() -> None:
            try:
                state.check()
                outcome, payload = self._FINISHED, task(state, *args)
            except Cancelled:
                outcome, payload = self._FINISHED, None
            except Exception as error:  # every failure must reach the GUI, or it waits forever
                outcome, payload = self._FAILED, failure_sentence(error)
            self._posted.emit(generation, outcome, (state, payload))

        self._pool.start(work)
        return state

    def forget(self) -> None:
        """Cancel everything submitted so far and drop whatever it still reports."""
        for state in self._states:
            state.cancel()
        self._states.clear()
        self._generation += 1
        self._pending = 0

    def wait(self, timeout_ms: int = 2000) -> bool:
        """Wait for the thread to finish what it is doing; False if it took longer."""
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Cancel everything, accept nothing new, and wait for the thread to go idle."""
        self._closed = True
        self.forget()
        return self.wait(timeout_ms)

    @QtCore.Slot(int, int, object)
    def _deliver(self, generation: int, outcome: int, payload: Any) -> None:
        if generation != self._generation:
            return
        if outcome == self._REPORTED:
            self.reported.emit(payload)
            return
        state, result = payload
        if state in self._states:
            self._states.remove(state)
        self._pending -= 1
        if outcome == self._FAILED:
            self.failed.emit(result)
        else:
            self.finished.emit(result)
