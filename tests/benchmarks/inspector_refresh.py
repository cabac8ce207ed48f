"""How long the designer takes to follow one edit of VGG-16, against a 60 Hz frame.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/inspector_refresh.py [--edits N]

Each edit changes one convolution's filter count through the document, as the
properties editor does. "edit → views" is everything that runs synchronously
on that edit: the analysis, the inspector's model update, the memory panel
(numbers and chart) and the properties editor. "edit → views → paint" also
lets Qt paint what changed, as the event loop does after an edit; "full
repaint" paints all three panels from scratch (a resize or expose, not an
edit). The parts are timed separately over the same edits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from designer.pyside_guard import protect_singletons  # noqa: E402

protect_singletons()

from PySide6 import QtCore, QtWidgets  # noqa: E402

from designer.document import NetworkDocument  # noqa: E402
from designer.inspector import InspectorPanel  # noqa: E402
from designer.memory_panel import MemoryPanel  # noqa: E402
from designer.properties import PropertiesPanel  # noqa: E402
from engine.netfile import load_network  # noqa: E402
from engine.shapes import analyse  # noqa: E402

FRAME_MS = 1000 / 60


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{name:<28} median {median:6.2f} ms   p95 {p95:6.2f} ms   "
            f"({100 * p95 / FRAME_MS:4.0f} % of a {FRAME_MS:.1f} ms frame)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200)
    args = parser.parse_args()

    QtCore.QStandardPaths.setTestModeEnabled(True)
    app = QtWidgets.QApplication([])
    app.setOrganizationName(f"convnet-designer-bench-{os.getpid()}")
    document = NetworkDocument(load_network(ROOT / "resources" / "networks" / "vgg16.json"))
    window = QtWidgets.QSplitter()
    properties, inspector, memory = (PropertiesPanel(document), InspectorPanel(document),
                                     MemoryPanel(document))
    for panel in (properties, inspector, memory):
        window.addWidget(panel)
    window.resize(1500, 850)
    window.show()
    convs = [l.id for l in document.spec.layers if l.type == "conv"]
    document.select([convs[0]])
    app.processEvents()

    parts: dict[str, list[float]] = {k: [] for k in (
        "edit → views", "edit → views → paint", "  analysis", "  inspector refresh",
        "  memory panel refresh", "  properties refresh", "full repaint")}
    for n in range(args.edits):
        layer_id = convs[n % len(convs)]
        filters = document.spec.layer(layer_id)["filters"] + (1 if n % 2 == 0 else -1)
        parts["edit → views"].append(timed(lambda: document.set_params(layer_id, filters=filters)))
        parts["  analysis"].append(timed(lambda: analyse(document.spec)))
        parts["  inspector refresh"].append(timed(inspector.refresh))
        parts["  memory panel refresh"].append(timed(memory.refresh))
        parts["  properties refresh"].append(timed(properties.refresh))

        app.processEvents()

        def edit_and_paint():
            document.set_params(layer_id, filters=filters - 1 if n % 2 == 0 else filters + 1)
            app.processEvents()
        parts["edit → views → paint"].append(timed(edit_and_paint))
        parts["full repaint"].append(timed(window.repaint))

    print(f"VGG-16, {len(document.spec.layers)} layers, {args.edits} edits "
          f"({'offscreen' if app.platformName() == 'offscreen' else app.platformName()})")
    for name, samples in parts.items():
        print(summary(name, samples))
    settings = QtCore.QSettings()
    settings.clear()
    settings.sync()
    Path(settings.fileName()).unlink(missing_ok=True)
    worst = sorted(parts["edit → views → paint"])[round(0.95 * (args.edits - 1))]
    return 0 if worst <= FRAME_MS else 1


if __name__ == "__main__":
    sys.exit(main())
