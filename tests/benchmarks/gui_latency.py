"""How responsive the window stays while a network trains with every live view open.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/gui_latency.py [--seconds 30]

Trains the CIFAR-10 template (cifar10) on the generated CIFAR-shaped set in the window's
Train workspace, with the curves and the whole-network view shown (every layer's
activations, live; the confusion matrix asked for every 3 s), while a 10 ms timer on the GUI
thread records how late each of its ticks is, from the moment the run is shown: a stall is
the time the event loop could not answer. The run is kept in a temporary data folder, not
among the user's. Ends with two lines, `event-loop stall p99: … ms` and
`event-loop stall max: … ms`; exits 1 when they miss the targets (p99 ≤ 16 ms, max ≤ 50 ms).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_DATA = tempfile.TemporaryDirectory(prefix="gui-latency-")
os.environ["XDG_DATA_HOME"] = _DATA.name   # where the window keeps runs of unsaved networks
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore  # noqa: E402

from designer.app import create_application  # noqa: E402
from designer.training.network_pictures import NetworkPicture  # noqa: E402
from designer.training.session import (  # noqa: E402
    ConfusionRequest, RunShown, StepBatch, TrainingEnded,
)
from engine.resources import network_template  # noqa: E402

TICK_MS = 10
TARGET_P99_MS, TARGET_MAX_MS = 16.0, 50.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class StallClock(QtCore.QObject):
    """A precise 10 ms timer; each tick records how much later than due it came."""

    def __init__(self):
        super().__init__()
        self.stalls: list[float] = []
        self._last = None
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.stalls.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--switch-interval-ms", type=float, default=None,
                        help="override the window's interpreter switch interval "
                             "(designer.app.SWITCH_INTERVAL_S)")
    args = parser.parse_args()
    app = create_application(sys.argv[:1])
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    from designer.main_window import MainWindow
    window = MainWindow()
    window.open_template(network_template("cifar10"))
    window.resize(1600, 900)
    window.show()
    window.set_mode("train")
    ws = window.workspace
    ws.settings.widgets["epochs"].setValue(1000)     # longer than the measurement
    assert ws.picker.source == "shapes"
    clock = StallClock()
    counts = {"steps": 0, "updates": 0, "pictures": 0}
    last_step = []

    def on_result(result):
        if isinstance(result, StepBatch):
            counts["steps"] += len(result.events)
            counts["updates"] += 1
            last_step[:] = result.events[-1:]
        elif isinstance(result, NetworkPicture):
            counts["pictures"] += 1
        elif isinstance(result, RunShown) and not clock.stalls:
            clock.start()
            QtCore.QTimer.singleShot(int(args.seconds * 1000), finish)
            confusion.start()

    def finish():
        clock.stop()
        confusion.stop()
        ws.stop()

    ws.worker.reported.connect(on_result)
    confusion = QtCore.QTimer()     # the confusion matrix asked for on demand, every 3 s
    confusion.setInterval(3000)
    confusion.timeout.connect(lambda: ws._ask(ConfusionRequest()))
    ws.worker.finished.connect(lambda r: isinstance(r, TrainingEnded) and app.quit())
    ws.worker.failed.connect(lambda text: (print(f"failed: {text}", file=sys.stderr),
                                           app.quit()))
    QtCore.QTimer.singleShot(0, ws.train)
    app.exec()
    ws.shutdown()

    stalls = clock.stalls
    rate = last_step[0].images_per_s if last_step else 0.0
    print(f"trained {counts['steps']} steps ({rate:,.0f} images/s at the end) in "
          f"{args.seconds:g} s; {counts['updates']} metric updates "
          f"({counts['updates'] / args.seconds:.1f}/s), {counts['pictures']} pictures; "
          f"{len(stalls)} timer ticks; switch interval {sys.getswitchinterval() * 1000:g} ms")
    p99, worst = percentile(stalls, 0.99), max(stalls)
    print(f"event-loop stall p99: {p99:.1f} ms")
    print(f"event-loop stall max: {worst:.1f} ms")
    return 0 if p99 <= TARGET_P99_MS and worst <= TARGET_MAX_MS else 1


if __name__ == "__main__":
    sys.exit(main())
