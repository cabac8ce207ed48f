"""Per-layer bar chart of activation memory (for the batch) against parameter memory.

Bars are horizontal with the layers top to bottom, in the order of the stack and
of the canvas, so every layer name stays readable in a narrow side panel. The
bar items are created once and updated with `setOpts`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from engine.shapes import format_bytes

ACTIVATION_COLOUR = (70, 130, 220)
PARAMETER_COLOUR = (235, 140, 40)
BAR = 0.4
KIB_LOG2 = 10  # log-scale bars start at 1 KiB
MIB = 1024 ** 2


class LayerMemoryChart(pg.PlotWidget):
    """Two series per layer: activation bytes for the batch and parameter bytes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.log_scale = False
        self._x_max = 0.0
        self.layer_names: list[str] = []
        self._label_step = 0  # every how many rows a layer's name is written
        self.activation_bytes = np.zeros(0)
        self.parameter_bytes = np.zeros(0)
        item = self.getPlotItem()
        item.invertY(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        # Follow the widget palette rather than pyqtgraph's black, for light and dark themes.
        palette = self.palette()
        self.setBackground(palette.color(palette.ColorRole.Base))
        text = palette.color(palette.ColorRole.Text)
        for name in ("left", "bottom"):
            self.getAxis(name).setPen(text)
            self.getAxis(name).setTextPen(text)
        self.getAxis("bottom").setStyle(hideOverlappingLabels=False)  # keep the last tick's label
        self.activation_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR, brush=ACTIVATION_COLOUR, pen=None)
        self.parameter_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR, brush=PARAMETER_COLOUR, pen=None)
        for bars in (self.activation_bars, self.parameter_bars):
            item.addItem(bars)
        item.vb.sigResized.connect(lambda _: self._label_rows())
        # Any height from this one up: the chart must not make the panel taller than its dock.
        self.setMinimumHeight(180)
        policy = self.sizePolicy()
        policy.setVerticalPolicy(policy.Policy.Ignored)
        self.setSizePolicy(policy)

    def set_layers(self, names: list[str], activation_bytes, parameter_bytes) -> None:
        if list(names) != self.layer_names:
            self.layer_names = list(names)
            self._label_step = 0
            self._label_rows()
            self.setYRange(-0.6, len(self.layer_names) - 0.4, padding=0)
        self.activation_bytes = np.asarray(activation_bytes, dtype=float)
        self.parameter_bytes = np.asarray(parameter_bytes, dtype=float)
        self._draw()

    def _label_rows(self) -> None:
        """Every layer's name where each row has a line's height, else every second, third…
        name: a short dock must not write them over each other."""
        room = max(self.getPlotItem().vb.height(), 1)
        step = max(1, math.ceil(len(self.layer_names) * self.fontMetrics().height() / room))
        if step != self._label_step:
            self._label_step = step
            self.getAxis("left").setTicks([list(enumerate(self.layer_names))[::step], []])

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = on
        self._x_max = 0.0
        self._draw()

    def _lengths(self, values: np.ndarray) -> np.ndarray:
        if self.log_scale:
            return np.maximum(np.log2(np.maximum(values, 1)) - KIB_LOG2, 0)
        return values / MIB

    def _draw(self) -> None:
        rows = np.arange(len(self.layer_names), dtype=float)
        base = np.zeros_like(rows)
        self.activation_bars.setOpts(x0=base, y=rows - BAR / 2, width=self._lengths(self.activation_bytes))
        self.parameter_bars.setOpts(x0=base, y=rows + BAR / 2, width=self._lengths(self.parameter_bytes))
        top = max(self.activation_bytes.max(initial=0), self.parameter_bytes.max(initial=0))
        x_max = float(self._lengths(np.array([top]))[0])
        x_max = 10 * max(math.ceil(x_max / 10), 1) if self.log_scale else _nice_ceiling(x_max)
        if x_max != self._x_max:  # a new range repaints both axes: only when it changes
            self._x_max = x_max
            self._label_bottom_axis()
            self.setXRange(0, x_max, padding=0.04)

    def _label_bottom_axis(self) -> None:
        bottom = self.getAxis("bottom")
        if self.log_scale:
            decades = round(self._x_max / 10)
            bottom.setTicks([
                [(10 * k, format_bytes(1024 ** (k + 1)).replace(".0", "")) for k in range(decades + 1)],
                [(10 * k + 5, "") for k in range(decades)]])
            bottom.setLabel("bytes (log scale)")
        else:
            bottom.setTicks(None)
            bottom.setLabel("MiB")


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × a power of ten that is at least `value` (and at least 1)."""
    if value <= 1:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 5, 10) if m * scale >= value)
