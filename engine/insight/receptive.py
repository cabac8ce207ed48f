"""What a unit sees: its theoretical receptive field, the r×r window of input pixels the
analysis (`engine.shapes`) gives it, and its effective receptive field, how strongly each
input pixel actually moves it, |∂unit/∂pixel| (Luo et al., 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.insight.gradients import (
    InsightError, gradients, hidden_index, model_input, one_hot, per_pixel,
)
from engine.run import Run
from engine.shapes import Analysis

@dataclass(frozen=True)
class Window:
    """A unit's theoretical field: `size`×`size` input pixels from (`top`, `left`), which
    may lie in the padding; `rows` and `cols` are its part on the image, [first, last + 1)."""

    size: int
    top: int
    left: int
    rows: tuple[int, int]
    cols: tuple[int, int]

    @property
    def clipped(self) -> bool:
        """Whether part of the window falls on padding (or beyond the image)."""
        return (self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]) != (self.size,) * 2

    def contains(self, row: int, col: int) -> bool:
        return self.rows[0] <= row < self.rows[1] and self.cols[0] <= col < self.cols[1]


@dataclass(frozen=True)
class UnitField:
    """Both fields of unit (row, col, channel) of a layer for one image."""

    layer_id: str
    row: int
    col: int
    channel: int | None     # None: all the channels at (row, col) together
    value: float            # the unit's value for the image
    window: Window
    effective: np.ndarray   # (H, W) |∂unit/∂pixel|, summed over the image's channels
    core: int               # the fewest pixels that hold half of it (`half_weight`)


def theoretical_window(analysis: Analysis, layer_id: str, row: int, col: int) -> Window:
    """The window of input pixels unit (row, col) of a layer sees, from the analysis's
    receptive field size, jump and start, and its part on the image."""
    info = analysis.info(layer_id)
    check_unit(analysis, layer_id, row, col)
    image = analysis.spec.input_volume
    top, left = info.start + row * info.jump, info.start + col * info.jump
    r = info.receptive_field
    return Window(r, top, left, _clip(top, r, image.height), _clip(left, r, image.width))


def check_unit(analysis: Analysis, layer_id: str, row: int, col: int,
               channel: int | None = None) -> None:
    """One sentence when (row, col, channel) is not a unit of the layer."""
    info = analysis.info(layer_id)
    v = info.output
    if not (0 <= row < v.height and 0 <= col < v.width
            and (channel is None or 0 <= channel < v.depth)):
        where = f"({row}, {col}" + ("" if channel is None else f", {channel}") + ")"
        raise InsightError(f"Unit {where} is outside the {v} output of '{info.layer.name}'; "
                           "rows, columns and channels count from 0.")


def effective_field(run: Run, image: np.ndarray, layer_id: str, row: int, col: int,
                    channel: int | None = None) -> UnitField:
    """Both fields of unit (row, col, channel) of a hidden layer of `run`'s network for one
    uint8 (H, W, D) image, in evaluation mode."""
    model = run.model
    top = hidden_index(model, layer_id)
    window = theoretical_window(model.analysis, layer_id, row, col)
    check_unit(model.analysis, layer_id, row, col, channel)
    passed = gradients(model, model_input(run, image), top, one_hot(model.xp, row, col, channel))
    output = run.backend.to_numpy(passed.output)[0, row, col]
    value = float(output.sum() if channel is None else output[channel])
    effective = np.abs(per_pixel(run, passed.on_input)).sum(axis=-1)
    return UnitField(layer_id, row, col, channel, value, window, effective,
                     half_weight(effective))


def half_weight(field: np.ndarray) -> int:
    """How concentrated a non-negative field is: the fewest of its pixels that together hold
    half of its sum (0 when it is all zero). Luo et al. found effective fields far smaller
    than theoretical ones, peaked at their centre."""
    total = field.sum()
    if total <= 0:
        return 0
    strongest = np.sort(field, axis=None)[::-1]
    return int(np.searchsorted(np.cumsum(strongest), total / 2) + 1)


def _clip(first: int, size: int, length: int) -> tuple[int, int]:
    return max(first, 0), min(first + size, length)
