"""Below the inspector's table: the notes' hints for the design, gently (information, not
warnings), and the measured time per layer, with the button that measures it."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from designer.timing_store import ShownTimings
from engine.advice import Hint
from engine.bench import total

Qt = QtCore.Qt
MAX_HINTS_SHOWN = 1  # the others are a tooltip away, on their rows: the table keeps its height
# Translucent blue, as the errors' red, so it reads over light and dark bases alike.
HINT_STYLE = "QFrame#hints { background: rgba(40, 120, 220, 40); border-radius: 3px; }"
MEASURE, STOP = "Measure time per layer", "Stop measuring"


def hints_text(hints: list[Hint], selected: tuple[str, ...]) -> str:
    """The hints, those of the selected layers first, at most `MAX_HINTS_SHOWN` of them."""
    ordered = sorted(hints, key=lambda h: h.layer_id not in selected)
    lines = [f"ℹ {h.text}" for h in ordered[:MAX_HINTS_SHOWN]]
    if len(hints) > MAX_HINTS_SHOWN:
        lines.append(f"{len(hints) - MAX_HINTS_SHOWN} more on the rows marked ℹ.")
    return "\n".join(lines)


def timings_text(shown: ShownTimings) -> tuple[str, str]:
    """What was measured, short for the label and in full for its tooltip."""
    measured = shown.timings
    if measured is None:
        return "Not measured yet.", ("Measure here, finish a training run, or run "
                                     "main.py bench NETWORK.json.")
    if shown.stale:
        return ("Greyed: measured before the last edits.",
                "Measure again for the times of the network as it is now.")
    layers = list(shown.layers.values())
    whole = total(layers)
    seconds = whole.forward_s + whole.backward_s
    slowest = max(layers, key=lambda t: t.forward_s + (t.backward_s or 0.0))
    share = 100 * (slowest.forward_s + (slowest.backward_s or 0.0)) / seconds if seconds else 0
    where = f"batch {measured.batch_size} on the {measured.device.upper()}"
    return (f"At {where}, '{slowest.name}' takes {share:.0f} % of the time.",
            f"Measured {measured.measured.replace('T', ' ')[:16]} at {where}: forward "
            f"{whole.forward_s * 1e3:.3g} ms, backward {whole.backward_s * 1e3:.3g} ms per "
            "batch, the medians of a few steps.")


class AdviceBar(QtWidgets.QWidget):
    """The hints box (hidden when there are none) over a row: Measure, and what was measured."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.hints = QtWidgets.QLabel()
        self.hints.setWordWrap(True)
        self.hints.setTextFormat(Qt.TextFormat.PlainText)
        self.hints.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hints_box = QtWidgets.QFrame()
        self.hints_box.setObjectName("hints")
        self.hints_box.setStyleSheet(HINT_STYLE)
        self.hints_box.setToolTip("Advice from the course notes: a hint, not an error; the "
                                  "network trains as it is.")
        box = QtWidgets.QVBoxLayout(self.hints_box)
        box.setContentsMargins(6, 4, 6, 4)
        box.addWidget(self.hints)
        self.measure = QtWidgets.QPushButton(MEASURE)
        self.measure.setToolTip("Time each layer's forward and backward pass on this machine's "
                                "CPU, at the memory panel's batch size, in the background. "
                                "Also done when a training run ends.")
        self.timings = QtWidgets.QLabel()
        self.timings.setWordWrap(True)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.measure, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.timings, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.addWidget(self.hints_box)
        layout.addLayout(row)

    def show_hints(self, hints: list[Hint], selected: tuple[str, ...]) -> None:
        self.hints.setText(hints_text(hints, selected))
        self.hints_box.setVisible(bool(hints))

    def show_timings(self, shown: ShownTimings, measuring: bool, problem: str,
                     valid: bool) -> None:
        self.measure.setText(STOP if measuring else MEASURE)
        self.measure.setEnabled(measuring or valid)
        if measuring:
            text, tip = "Measuring in the background…", "Press Stop measuring to stop."
        elif problem:
            text, tip = problem, ""
        else:
            text, tip = timings_text(shown)
        self.timings.setText(text)
        self.timings.setToolTip(tip)
