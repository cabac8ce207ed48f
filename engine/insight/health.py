"""Training health per layer, the checks the notes advise while babysitting a run.

The update ratio ‖Δw‖/‖w‖ of every trained layer at every step (about 1e-3 is healthy);
the fraction of dead ReLUs, units (position × channel) never active on any batch of an
epoch; and the mean and standard deviation of each layer's output and of the gradient on
it, sampled on as few steps as keep their cost within `SAMPLE_BUDGET` of the training time.
None of them depends on where a pixel lies, so the layers' arrays are read in the order
they hold them (`engine.model.Observer`): a unit's place in the masks of dead ReLUs is
the same on every step.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.layers.activation import LeakyReLU, ReLU
from engine.layers.base import Layer
from engine.model import Model
from engine.optim import pieces

RATIO_GUIDE = 1e-3            # the notes' rule of thumb for ‖Δw‖/‖w‖
RATIO_HIGH, RATIO_LOW = 1e-1, 1e-5   # beyond these a layer is clearly wrong
SAMPLE_BUDGET = 0.02          # sampled statistics may cost this share of the training time
RECENT = 10                   # a layer's ratio is judged by the median of this many steps


@dataclass(frozen=True)
class LayerStats:
    """Mean and standard deviation of a layer's output and of the loss gradient on it
    (NaN for the gradient below the first trained layer, where none is computed)."""

    layer: str
    activation_mean: float
    activation_std: float
    gradient_mean: float
    gradient_std: float


@dataclass(frozen=True)
class HealthReport:
    """What the monitor found, as the trainer's events carry it: `trained` names the layers whose ratios each StepEvent's
    `update_ratios` holds, in that order; `stats` were sampled at step `sampled_step`;
    `dead` is, per ReLU layer, the fraction of its units never active on the last finished
    epoch (on the epoch in progress until one has finished)."""

    step: int
    trained: tuple[str, ...]
    stats: tuple[LayerStats, ...]
    sampled_step: int
    dead: tuple[tuple[str, float], ...]
    problems: tuple[str, ...]


class HealthMonitor:
    """Fed by the trainer: `begin_step()` before a step's forward pass, the model's observer
    calls (`output`, `gradient`) during it, `after_update()` once the weights changed, and
    `end_epoch()`. `saved` holds the parameters as they were before the update, laid out
    like `model.store.values` (`LastGood.values`), so the step's actual change costs no copy
    of its own."""

    def __init__(self, model: Model, saved: Any, budget: float = SAMPLE_BUDGET):
        self.model = model
        self.saved = saved
        self.budget = budget
        self.trained: list[Layer] = [layer for layer in model.layers if "W" in layer.params]
        self._relu_ids = {layer.id for layer in model.layers
                          if isinstance(layer, (ReLU, LeakyReLU))}
        self.ratios: list[float] = []        # of the last step, in the order of `trained`
        self._recent = {layer.id: deque(maxlen=RECENT) for layer in self.trained}
        self._active: dict[str, Any] = {}    # OR over the epoch's batches of (H, W, D) masks
        self._dead: dict[str, float] = {}    # of the last finished epoch
        self._pending: dict[str, list] = {}  # device scalars of the step being sampled
        self.stats: tuple[LayerStats, ...] = ()
        self.sampled_step = 0
        self.sampling = False
        self._spent = self._elapsed = 0.0
        self._started = 0.0

    # --- fed by the trainer -------------------------------------------------------------
    def begin_step(self) -> None:
        """Decide whether this step's statistics are sampled: whenever the time they took so
        far is within the budget of the time trained so far (so the first step always is).
        Times are the training thread's CPU time: a window's turns with the interpreter lock
        would otherwise count as sampling cost and starve the sampling for long after."""
        self.sampling = self._spent <= self.budget * self._elapsed
        self._started = time.thread_time()

    def output(self, layer: Layer, y: Any) -> None:
        """A layer's output `y` (N, H, W, D) in the forward pass of a training step."""
        if layer.id in self._relu_ids:
            active = (y > 0).any(axis=0)
            held = self._active.get(layer.id)
            if held is None:
                self._active[layer.id] = active
            else:
                held |= active
        if self.sampling:
            began = time.thread_time()
            if getattr(layer, "left_to_pool", False):
                # in training this ReLU hands on its input; the max pool above applies it
                y = self.model.xp.maximum(y, 0)
            self._pending[layer.id] = [y.mean(), y.std()]
            self._spent += time.thread_time() - began

    def gradient(self, layer: Layer, dy: Any) -> None:
        """The loss gradient `dy` on a layer's output, before the layer's backward pass."""
        if self.sampling:
            began = time.thread_time()
            self._pending[layer.id] += [dy.mean(), dy.std()]
            self._spent += time.thread_time() - began

    def after_update(self, step: int) -> None:
        """The update of step `step` was applied: measure its ratios (and its statistics)."""
        xp, backend, store = self.model.xp, self.model.backend, self.model.store
        squares = []
        for layer in self.trained:
            w = layer.params["W"].reshape(-1)
            before = store.view(self.saved, f"{layer.id}/W").reshape(-1)
            change = norm = 0.0
            # VGG-16's fc6 alone is 400 MiB, and CuPy's vdot (through CUB) holds the
            # products of its whole arguments at once
            for part in pieces(len(w)):
                delta = w[part] - before[part]
                change = change + xp.vdot(delta, delta)
                norm = norm + xp.vdot(w[part], w[part])
            squares += [change, norm]
        sampled = ([v for layer in self.model.layers for v in self._pending.get(layer.id, ())]
                   if self.sampling else [])
        # one transfer from the device for all layers and their sampled statistics
        wanted = squares + sampled
        values = backend.to_numpy(xp.stack(wanted)).astype(float) if wanted else np.zeros(0)
        with np.errstate(invalid="ignore", over="ignore"):  # a diverging step: the guard tells
            self.ratios = [float(np.sqrt(values[i] / max(values[i + 1], 1e-60)))
                           for i in range(0, len(squares), 2)]
        for layer, ratio in zip(self.trained, self.ratios):
            self._recent[layer.id].append(ratio)
        if self.sampling:
            began = time.thread_time()
            self._collect(step, values[len(squares):].tolist())
            self._spent += time.thread_time() - began
        self._elapsed += time.thread_time() - self._started
        self.sampling = False

    def end_epoch(self) -> None:
        """The epoch is over: its dead fractions become the ones reported."""
        self._dead = {layer_id: _dead_fraction(mask) for layer_id, mask in self._active.items()}
        self._active = {}

    # --- what it reports ----------------------------------------------------------------
    def dead_fractions(self) -> dict[str, float]:
        """Per ReLU layer id: units never active on the last finished epoch's batches (on
        the epoch in progress before any finished)."""
        if self._dead:
            return dict(self._dead)
        return {layer_id: _dead_fraction(mask) for layer_id, mask in self._active.items()}

    def problems(self) -> list[str]:
        """One sentence for each layer that is clearly wrong, naming it."""
        found = []
        names = {layer.id: layer.spec.name for layer in self.model.layers}
        for layer_id, dead in self.dead_fractions().items():
            if dead >= 1.0:
                found.append(f"Layer '{names[layer_id]}' has only dead units: none was active "
                             "on any batch of the epoch; lower the learning rate or check the "
                             "biases below it.")
        for layer in self.trained:
            recent = self._recent[layer.id]
            if not recent:
                continue
            ratio = statistics.median(recent)
            if ratio > RATIO_HIGH:
                found.append(f"Layer '{layer.spec.name}' changes by {ratio:.0e} of its weights "
                             f"per step, far above the {RATIO_GUIDE:.0e} that trains well; "
                             "lower the learning rate.")
            elif ratio < RATIO_LOW:
                found.append(f"Layer '{layer.spec.name}' changes by only {ratio:.0e} of its "
                             f"weights per step, far below the {RATIO_GUIDE:.0e} that trains "
                             "well; raise the learning rate.")
        return found

    def report(self, step: int) -> HealthReport:
        names = {layer.id: layer.spec.name for layer in self.model.layers}
        return HealthReport(step, tuple(layer.spec.name for layer in self.trained), self.stats,
                           self.sampled_step,
                           tuple((names[i], f) for i, f in self.dead_fractions().items()),
                           tuple(self.problems()))

    def _collect(self, step: int, values: list[float]) -> None:
        """The sampled statistics from `values`, read from the device in `_pending`'s order."""
        nan = float("nan")
        stats = []
        read = iter(values)
        for layer in self.model.layers:
            got = [next(read) for _ in self._pending.get(layer.id, ())]
            got += [nan] * (4 - len(got))
            stats.append(LayerStats(layer.spec.name, *got))
        self.stats, self.sampled_step = tuple(stats), step
        self._pending = {}


def _dead_fraction(active: Any) -> float:
    return 1.0 - float(active.sum()) / active.size
