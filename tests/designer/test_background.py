"""The Worker: tasks in order on one thread of their own, results on the GUI thread, stale
results dropped, and a thread that never waits on Qt."""

import threading
import time

import shiboken6
from PySide6 import QtCore

from designer.background import Worker


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "worker"]


def test_reports_then_the_result_arrive_in_order_on_the_gui_thread(qtbot):
    worker = Worker()
    seen, threads = [], []

    def task(state, n):
        threads.append(threading.current_thread())
        for i in range(n):
            state.report(i)
        return "done"

    worker.reported.connect(lambda r: seen.append((r, threading.current_thread())))
    with qtbot.waitSignal(worker.finished, timeout=5000) as second:
        worker.submit(task, 3)
        worker.submit(task, 2)
        assert worker.busy
    assert second.args == ["done"] and not worker.busy
    assert [r for r, _ in seen] == [0, 1, 2, 0, 1]
    assert {t for _, t in seen} == {threading.main_thread()}
    assert threads[0] is threads[1] is not threading.main_thread()   # one thread, kept
    assert worker.shutdown()


def test_a_failure_arrives_as_one_sentence(qtbot):
    worker = Worker()

    def task(state):
        raise ValueError("bad value")

    with qtbot.waitSignal(worker.failed, timeout=5000) as failure:
        worker.submit(task)
    assert failure.args[0].startswith("Something went wrong (ValueError: bad value)")
    worker.shutdown()


def test_forgotten_tasks_are_cancelled_and_what_they_report_is_dropped(qtbot):
    worker = Worker()
    release = threading.Event()
    got = []
    worker.reported.connect(got.append)
    worker.finished.connect(got.append)

    def slow(state):
        release.wait(5)
        state.report("stale")
        state.check()
        return "stale result"

    stale = worker.submit(slow)
    worker.forget()
    assert stale.cancelled and not worker.busy
    release.set()
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit(lambda state: "fresh")
    assert got == ["fresh"]
    worker.shutdown()


def test_shutdown_refuses_new_work_and_ends_the_thread(qtbot):
    before = len(worker_threads())
    worker = Worker()
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit(lambda state: None)
    assert len(worker_threads()) == before + 1
    assert worker.shutdown()
    assert worker.submit(lambda state: None) is None
    qtbot.waitUntil(lambda: len(worker_threads()) == before, timeout=5000)


def test_deleting_a_worker_whose_task_still_reports_neither_hangs_nor_leaks_its_thread(qtbot):
    """Its task goes on reporting while the worker and its parent are deleted from Python,
    then ends; its thread ends once the worker is gone."""
    before = len(worker_threads())
    parent = QtCore.QObject()
    worker = Worker(parent)
    started = threading.Event()

    def chatty(state):
        started.set()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            state.report("tick")

    worker.submit(chatty)
    assert started.wait(5)
    shiboken6.delete(parent)
    del worker, parent
    qtbot.wait(50)
    qtbot.waitUntil(lambda: len(worker_threads()) == before, timeout=5000)


def test_reference_cycles_are_collected_on_the_gui_thread_only(qtbot):
    """A cycle holding a Qt object, left by the GUI, is never collected on a worker thread
    (Qt objects must die on their own thread), yet it is collected."""
    import gc

    worker = Worker()
    assert not gc.isenabled()
    collected_on = []

    class Cycle:
        def __init__(self):
            self.me = self
            self.qt = QtCore.QObject()

        def __del__(self):
            collected_on.append(threading.current_thread())

    Cycle()

    def churn(state):   # keeps enough new objects to set the collector off, were it automatic
        return [[i] for i in range(5_000)]

    with qtbot.waitSignal(worker.finished, timeout=10_000) as kept:
        worker.submit(churn)
    assert len(kept.args[0]) == 5_000
    qtbot.waitUntil(lambda: bool(collected_on), timeout=10_000)
    assert collected_on == [threading.main_thread()]
    worker.shutdown()


def test_a_burst_of_results_leaves_the_event_loop_turns_between_them(qtbot):
    worker = Worker()
    seen = []

    def burst(state):
        for i in range(20):
            state.report(i)

    def receive(i):
        if i == 0:   # due at the event loop's next turn
            QtCore.QTimer.singleShot(0, lambda: seen.append("turn"))
        seen.append(i)
        time.sleep(0.005)   # a receiver that redraws something

    worker.reported.connect(receive)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.submit(burst)
    worker.shutdown()
    assert [s for s in seen if s != "turn"] == list(range(20))   # all of them, in order
    assert seen.index("turn") < 10   # not after the whole burst


def test_the_application_leaves_a_core_to_the_window_and_switches_threads_often(qapp):
    import sys

    from threadpoolctl import threadpool_info, threadpool_limits

    from designer.app import SWITCH_INTERVAL_S, create_application
    from engine.backend import cpu_cores

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    before, interval = blas_threads(), sys.getswitchinterval()
    try:
        assert create_application([]) is qapp
        assert blas_threads() == {max(1, cpu_cores() - 1)}
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    finally:
        threadpool_limits(max(before), user_api="blas")
        sys.setswitchinterval(interval)
