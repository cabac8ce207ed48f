"""Background work, the Qt half: one `Worker` runs tasks (`engine.task`) one after another
on a thread of its own and brings what they report back to the GUI thread.

Every payload is a typed object (a frozen dataclass); whoever receives it dispatches on its
type. `forget()` makes everything submitted so far stale: those tasks are cancelled and
nothing they report or return reaches the GUI any more.

The thread is a plain Python thread that never calls into Qt: it leaves what tasks report
and return in a queue that a timer on the GUI thread empties. A thread that emitted Qt
signals could hold the interpreter lock while waiting for a lock of Qt's that the GUI
thread holds while it waits for the interpreter lock (as when a receiver is deleted): a
hang that nothing, not even a test's timeout, can interrupt. For the same reason Python's
cycle collector runs only on the GUI thread once a worker exists: it runs on whichever
thread happens to allocate, and on a worker thread it would destroy the GUI's Qt objects
caught in reference cycles there, which Qt does not allow.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
import weakref
from typing import Any, Callable

from PySide6 import QtCore
from pyqtgraph.util.garbage_collector import GarbageCollector

from engine.task import Cancelled, TaskState, failure_sentence

POLL_MS = 10   # how often the GUI thread collects results while tasks are under way
DELIVER_BUDGET_S = 0.012   # results handled per poll before the event loop gets its turn
GC_INTERVAL_S = 0.5   # how often the GUI thread looks for reference cycles to collect

_collector: GarbageCollector | None = None


def collect_garbage_on_the_gui_thread() -> None:
    """Turn off Python's automatic cycle collection and collect on a timer of the GUI
    thread instead (called on the GUI thread)."""
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=GC_INTERVAL_S)
    gc.disable()

_REPORTED, _FINISHED, _FAILED = range(3)


class _Line:
    """The thread's side, free of Qt: jobs in, results out, and a count of unfinished jobs.
    The thread starts with the first job and ends at `close()`."""

    def __init__(self) -> None:
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._unfinished = 0
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, generation: int, state: TaskState, task: Callable[..., Any],
            args: tuple) -> None:
        with self._done:
            self._unfinished += 1
        self._jobs.put((generation, state, task, args))
        if self._thread is None:
            # A daemon, so a worker nobody shut down cannot keep the program from exiting.
            self._thread = threading.Thread(target=self._serve, name="worker", daemon=True)
            self._thread.start()

    def wait(self, timeout_s: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self._unfinished == 0, timeout_s)

    def close(self) -> None:
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            generation, state, task, args = job
            try:
                state.check()
                outcome, payload = _FINISHED, task(state, *args)
            except Cancelled:
                outcome, payload = _FINISHED, None
            except Exception as error:  # every failure must reach the GUI, or it waits forever
                outcome, payload = _FAILED, failure_sentence(error)
            self.results.put((generation, outcome, (state, payload)))
            with self._done:
                self._unfinished -= 1
                self._done.notify_all()


class Worker(QtCore.QObject):
    """Runs one task at a time, in the order submitted, on one thread that lives until
    `shutdown()` (so tasks may keep thread-bound state such as a training run between them)."""

    reported = QtCore.Signal(object)   # a partial result
    finished = QtCore.Signal(object)   # a task's return value (None included)
    failed = QtCore.Signal(str)        # a task's failure, as one sentence

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        collect_garbage_on_the_gui_thread()
        self._line = _Line()
        self._generation = 0
        self._states: list[TaskState] = []
        self._pending = 0
        self._closed = False
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._deliver)
        weakref.finalize(self, self._line.close)   # a worker dropped without shutdown()

    @property
    def busy(self) -> bool:
        """Whether a task of the current generation is queued or running."""
        return self._pending > 0

    def submit(self, task: Callable[..., Any], *args: Any) -> TaskState | None:
        """Queue `task(state, *args)`; None once the worker is shut down."""
        if self._closed:
            return None
        generation, results = self._generation, self._line.results
        state = TaskState(lambda result: results.put((generation, _REPORTED, result)))
        self._states.append(state)
        self._pending += 1
        self._line.put(generation, state, task, args)
        self._poll.start()
        return state

    def forget(self) -> None:
        """Cancel everything submitted so far and drop whatever it still reports."""
        for state in self._states:
            state.cancel()
        self._states.clear()
        self._generation += 1
        self._pending = 0

    def wait(self, timeout_ms: int | None = 2000) -> bool:
        """Wait for the thread to finish what it is doing (None: however long that takes);
        False if it took longer."""
        return self._line.wait(None if timeout_ms is None else timeout_ms / 1000)

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Cancel everything, accept nothing new, and wait for the thread to go idle; the
        thread then ends."""
        if not self._closed:
            self._closed = True
            self._line.close()
        self.forget()
        return self.wait(timeout_ms)

    def _deliver(self) -> None:
        """Hand the results waiting to their receivers, in order; once they have taken the
        budget, the rest waits for the next poll, so that a burst of results (a run shown,
        its first steps and pictures) does not hold up the event loop all at once."""
        results, started = self._line.results, time.perf_counter()
        while not results.empty() and time.perf_counter() - started < DELIVER_BUDGET_S:
            generation, outcome, payload = results.get()
            if generation != self._generation:
                continue
            if outcome == _REPORTED:
                self.reported.emit(payload)
                continue
            state, result = payload
            if state in self._states:
                self._states.remove(state)
            self._pending -= 1
            if outcome == _FAILED:
                self.failed.emit(result)
            else:
                self.finished.emit(result)
        if self._pending <= 0 and results.empty():
            self._poll.stop()
