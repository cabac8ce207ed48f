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
        self.log_scale = True
        self.layer_names: list[str] = []
        self.activation_bytes = np.zeros(0)
        self.parameter_bytes = np.zeros(0)
        item = self.getPlotItem()
        item.invertY(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, alpha=0.25)
        item.setMouseEnabled(x=False, y=False)
        legend = item.addLegend(offset=(-10, 10))
        self.activation_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR, brush=ACTIVATION_COLOUR, pen=None,
            name="Activations (batch)")
        self.parameter_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR, brush=PARAMETER_COLOUR, pen=None,
            name="Parameters")
        for bars in (self.activation_bars, self.parameter_bars):
            item.addItem(bars)
        legend.setLabelTextColor(self.getAxis("left").textPen().color())
        self.setMinimumHeight(220)

    def set_layers(self, names: list[str], activation_bytes, parameter_bytes) -> None:
        self.layer_names = list(names)
        self.activation_bytes = np.asarray(activation_bytes, dtype=float)
        self.parameter_bytes = np.asarray(parameter_bytes, dtype=float)
        self._draw()

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = on
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
        self.getAxis("left").setTicks([list(enumerate(self.layer_names)), []])
        top = max(self.activation_bytes.max(initial=0), self.parameter_bytes.max(initial=0))
        bottom = self.getAxis("bottom")
        if self.log_scale:
            decades = max(math.ceil(self._lengths(np.array([top]))[0] / 10), 1)
            bottom.setTicks([[(10 * k, format_bytes(1024 ** (k + 1)).replace(".0", ""))
                              for k in range(decades + 1)], []])
            bottom.setLabel("bytes (log scale)")
            x_max = 10 * decades
        else:
            bottom.setTicks(None)
            bottom.setLabel("MiB")
            x_max = max(top / MIB, 1)
        self.setXRange(0, x_max * 1.02, padding=0)
        self.setYRange(-0.6, len(self.layer_names) - 0.4, padding=0)
