"""How long the designer takes to follow one edit of VGG-16, against a 60 Hz frame.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/inspector_refresh.py [--edits N]

Each edit changes one convolution's filter count through the document, as the
properties editor does. "edit → views" is everything that runs synchronously on
that edit: the analysis and undo step, the properties editor, the inspector's
model update and the memory panel (numbers and chart), each also shown alone.
"edit → views → paint" also lets Qt paint what changed, as the event loop does
after an edit; "full repaint" paints all three panels from scratch (a resize or
expose, not an edit). Exits 1 when the p95 of "edit → views → paint" is over a frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtWidgets  # noqa: E402

from designer.document import NetworkDocument  # noqa: E402
from designer.inspector import InspectorPanel  # noqa: E402
from designer.memory_panel import MemoryPanel  # noqa: E402
from designer.properties import PropertiesPanel  # noqa: E402
from engine.netfile import load_network  # noqa: E402
from engine.resources import network_template  # noqa: E402

FRAME_MS = 1000 / 60


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def p95(samples: list[float]) -> float:
    return sorted(samples)[round(0.95 * (len(samples) - 1))]


def summary(name: str, samples: list[float]) -> str:
    median, worst = statistics.median(samples), p95(samples)
    return (f"{name:<28} median {median:6.2f} ms   p95 {worst:6.2f} ms   "
            f"({100 * worst / FRAME_MS:4.0f} % of a {FRAME_MS:.1f} ms frame)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200)
    args = parser.parse_args()

    QtCore.QStandardPaths.setTestModeEnabled(True)
    app = QtWidgets.QApplication([])
    app.setOrganizationName(f"convnet-designer-bench-{os.getpid()}")
    document = NetworkDocument(load_network(network_template("vgg16")))
    # Probes on spec_changed between the panels' own connections time each panel's part
    # of the real edit (Qt calls slots in the order they were connected).
    marks: list[float] = []
    probe = lambda: marks.append(time.perf_counter())  # noqa: E731
    document.spec_changed.connect(probe)
    panels = []
    for make in (PropertiesPanel, InspectorPanel, MemoryPanel):
        panels.append(make(document))
        document.spec_changed.connect(probe)
    window = QtWidgets.QSplitter()
    for panel in panels:
        window.addWidget(panel)
    window.resize(1500, 850)
    window.show()
    convs = [l.id for l in document.spec.layers if l.type == "conv"]
    document.select([convs[0]])
    app.processEvents()

    parts: dict[str, list[float]] = {k: [] for k in (
        "edit → views", "  analysis + undo step", "  properties refresh", "  inspector refresh",
        "  memory panel refresh", "edit → views → paint", "full repaint")}
    for n in range(args.edits):
        layer_id = convs[n % len(convs)]
        filters = document.spec.layer(layer_id)["filters"] + (1 if n % 2 == 0 else -1)
        marks.clear()
        start = time.perf_counter()
        document.set_params(layer_id, filters=filters)
        end = time.perf_counter()
        parts["edit → views"].append((end - start) * 1000)
        for name, (a, b) in zip(list(parts)[1:5], zip([start, *marks], marks)):
            parts[name].append((b - a) * 1000)
        app.processEvents()

        def edit_and_paint():
            document.set_params(layer_id, filters=filters - 1 if n % 2 == 0 else filters + 1)
            app.processEvents()
        parts["edit → views → paint"].append(timed(edit_and_paint))
        parts["full repaint"].append(timed(window.repaint))

    print(f"VGG-16, {len(document.spec.layers)} layers, {args.edits} edits "
          f"(Qt platform: {app.platformName()})")
    for name, samples in parts.items():
        print(summary(name, samples))
    settings = QtCore.QSettings()
    settings.clear()
    settings.sync()
    Path(settings.fileName()).unlink(missing_ok=True)
    return 0 if p95(parts["edit → views → paint"]) <= FRAME_MS else 1


if __name__ == "__main__":
    sys.exit(main())
