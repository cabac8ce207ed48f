"""What the whole-network view costs: computing its pictures, painting an update, and the
event loop's stalls while a network trains with the view open.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/network_view.py [--seconds 20]

1. Computing: `network_picture` (one forward pass and every layer's picture) and
   `filter_pictures` for default.json and lenet5.json on the digits and cifar10.json on the
   generated shapes, after a few training steps: minimum and median of 40 runs.
2. Painting: a `NetworkView` of 1366×400 px gets a picture of another image each update;
   `show_activations` alone, then with the painting of what changed that the event loop
   does next (`processEvents()`); and painting the whole view, as an expose or a resize
   does (`grab()`; `repaint()` would leave out the columns).
3. Live, a quarter of `--seconds` each, the view shown: nothing (the machine's own noise);
   a thread sends it a picture every 0.4 s (as the training worker would) without
   training; cifar10.json trains on the thread without pictures; both. A 10 ms timer on
   the GUI thread records how late its ticks are (the stalls of gui_latency.py); training
   holds the GIL in its pure-Python stretches, so the second line is the view's own share.
Exits 1 when the p99 stall of the last (training with pictures) is over 16 ms or its
maximum over 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtWidgets  # noqa: E402

from designer.training.network_pictures import filter_pictures, network_picture  # noqa: E402
from designer.training.network_view import NetworkView  # noqa: E402
from engine.config import TrainConfig  # noqa: E402
from engine.data import load_data  # noqa: E402
from engine.netfile import load_network  # noqa: E402
from engine.resources import network_template  # noqa: E402
from engine.run import Run  # noqa: E402
from engine.trainer import Trainer  # noqa: E402
from gui_latency import StallClock, percentile  # noqa: E402

NETWORKS = (("default", "digits"), ("lenet5", "digits"), ("cifar10", "shapes"))
LIVE_INTERVAL = 0.4      # s, as the training worker recomputes live pictures
TARGET_P99_MS, TARGET_MAX_MS = 16.0, 50.0


def trainer_for(name: str, source: str, steps: int = 20) -> Trainer:
    """A run of the template `name` on `source`, `steps` steps into training."""
    spec = load_network(network_template(name))
    data = load_data(source, spec.input_volume)
    trainer = Trainer(Run.start(spec, data, TrainConfig(epochs=1000), source), data)
    for _, _ in zip(range(steps), trainer.train()):
        pass
    return trainer


def timed(work, repeats: int) -> list[float]:
    """Milliseconds each of `repeats` calls of `work()` took."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> str:
    return f"min {min(times):.2f} ms, median {statistics.median(times):.2f} ms"


def live(app, view: NetworkView, trainer: Trainer, seconds: float, training: bool,
         pictures: bool) -> tuple[list[float], int]:
    """Stalls (ms) of the GUI thread for `seconds` while a thread trains (`training`) and
    sends the view a picture every LIVE_INTERVAL (`pictures`); also how many it sent."""
    run, data = trainer.run, trainer.data
    stop = threading.Event()
    sent = []

    class Feed(QtCore.QObject):
        picture = QtCore.Signal(object)

    feed = Feed()
    feed.picture.connect(view.show_activations, QtCore.Qt.ConnectionType.QueuedConnection)

    def events():
        if training:
            yield from trainer.train()
        while True:
            time.sleep(0.01)
            yield None

    def work():
        last = 0.0
        for _ in events():
            if stop.is_set():
                return
            now = time.monotonic()
            if pictures and now - last >= LIVE_INTERVAL:
                last = now
                sample = len(sent) % 2
                feed.picture.emit(network_picture(run, data.val_x[sample], sample,
                                                  run_key="bench"))
                sent.append(sample)

    clock = StallClock()
    thread = threading.Thread(target=work)
    QtCore.QTimer.singleShot(int(seconds * 1000), app.quit)
    clock.start()
    thread.start()
    app.exec()
    clock.stop()
    stop.set()
    thread.join()
    return clock.stalls, len(sent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])

    print("computing the pictures (on the worker thread):")
    trainers = {name: trainer_for(name, source) for name, source in NETWORKS}
    for name, trainer in trainers.items():
        run, image = trainer.run, trainer.data.val_x[0]
        forward = timed(lambda: run.layer_outputs(image), 40)
        whole = timed(lambda: network_picture(run, image, 0), 40)
        filters = timed(lambda: filter_pictures(run), 40)
        print(f"  {name:8} network_picture {summary(whole)} (of which the forward pass "
              f"{statistics.median(forward):.2f} ms); filter_pictures {summary(filters)}")

    print("painting an update (GUI thread, view 1366×400):")
    view = NetworkView()
    view.resize(1366, 400)
    view.show()
    for name, trainer in trainers.items():
        run, data = trainer.run, trainer.data
        view.set_run(run.spec, len(data.val_x), name)
        both = [network_picture(run, data.val_x[i], 0, run_key=name) for i in (0, 1)]
        view.show_activations(both[1])
        app.processEvents()
        updates = iter(range(10**6))
        show = timed(lambda: view.show_activations(both[next(updates) % 2]), 40)
        painted = timed(lambda: (view.show_activations(both[next(updates) % 2]),
                                 app.processEvents()), 40)
        everything = timed(view.grab, 20)
        print(f"  {name:8} show_activations {summary(show)}; and painting what changed "
              f"{summary(painted)}, max {max(painted):.2f} ms; painting the whole view "
              f"{summary(everything)}")

    trainer = trainers["cifar10"]
    view.set_run(trainer.run.spec, len(trainer.data.val_x), "bench")
    app.processEvents()
    print(f"live, cifar10, {args.seconds / 4:g} s each:")
    for training, pictures in ((False, False), (False, True), (True, False), (True, True)):
        stalls, sent = live(app, view, trainer, args.seconds / 4, training, pictures)
        what = (("training" if training else "idle") + " + "
                + (f"{sent} pictures" if pictures else "no pictures"))
        print(f"  {what:24} event-loop stall p99 {percentile(stalls, 0.99):.1f} ms, "
              f"max {max(stalls):.1f} ms ({len(stalls)} ticks)")
    return 0 if (percentile(stalls, 0.99) <= TARGET_P99_MS
                 and max(stalls) <= TARGET_MAX_MS) else 1


if __name__ == "__main__":
    sys.exit(main())
