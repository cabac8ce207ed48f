"""The learning-rate finder: Smith's range test as fastai runs it.

The rate grows exponentially from `start` to `end` over `steps` training steps taken on a
copy of a run (its weights, batch-norm statistics, optimizer cache, random generator and
position), with the run's optimizer, batch size and order of images; the run itself is
never touched. The sweep stops early once the smoothed loss exceeds `DIVERGE` times its
best, or the loss is no longer finite.

The suggestion is fastai's "steepest" rule with its "minimum / 10" bound: the rate where
the smoothed loss falls fastest against log(rate), but at most a tenth of the rate of the
smallest smoothed loss, since near the minimum training is already on the edge.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from engine.config import TrainingError
from engine.data import DataSet
from engine.errors import ConvNetError
from engine.model import build
from engine.optim import Optimizer
from engine.run import Run, new_history, new_running
from engine.trainer import Trainer

START, END, STEPS = 1e-6, 1.0, 100
DIVERGE = 4.0        # stop once the smoothed loss exceeds this many times its best
SMOOTHING = 0.9      # weight of the past in the smoothed loss (bias-corrected moving average)
SKIP_START = 5       # the first points: the average has barely started
MIN_STEPS = 10
MAX_STEPS = 10_000
BELOW_MINIMUM = 10   # the suggestion is at most the minimum's rate over this


class LrFinderError(ConvNetError):
    """The sweep cannot run as asked, or found nothing to suggest."""


@dataclass(frozen=True)
class LrSweep:
    """Rates tried, their losses raw and smoothed; the suggested rate (None until the sweep
    has enough points) and the rate of the smallest smoothed loss; `diverged` when the loss
    blew up before `end`."""

    rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float | None
    minimum: float | None
    diverged: bool
    steps: int  # planned


def check_sweep(start: float, end: float, steps: int) -> None:
    if not (math.isfinite(start) and math.isfinite(end) and 0 < start < end):
        raise LrFinderError(f"The sweep must go from a positive rate up to a larger one; "
                            f"{start:g} → {end:g} does not.")
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise LrFinderError(f"The sweep needs from {MIN_STEPS} to {MAX_STEPS:,} steps, "
                            f"not {steps:,}.")


def sweep(run: Run, data: DataSet, start: float = START, end: float = END, steps: int = STEPS,
          progress: Callable[[LrSweep], None] | None = None) -> LrSweep:
    """Sweep the learning rate on a copy of `run`; `progress` hears every step's sweep so far."""
    check_sweep(start, end, steps)
    trial = trial_copy(run)
    trainer = Trainer(trial, data, watch_health=False)
    n, size = len(data.train_x), trial.config.batch_size
    order = trial.epoch_order(n)
    rates, losses, smoothed = [], [], []
    average, diverged = 0.0, False
    for i, lr in enumerate(start * (end / start) ** (np.arange(steps) / (steps - 1))):
        if trial.offset >= n:
            trial.epoch, trial.offset = trial.epoch + 1, 0
            order = trial.epoch_order(n)
        rows = order[trial.offset:trial.offset + size]
        try:
            loss = trainer.train_batch(rows, float(lr))
        except TrainingError:  # the loss or a gradient is no longer finite
            diverged = True
            break
        trial.offset += len(rows)
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        rates.append(float(lr))
        losses.append(loss)
        smoothed.append(average / (1 - SMOOTHING ** (i + 1)))
        if smoothed[-1] > DIVERGE * min(smoothed):
            diverged = True
            break
        if progress:
            progress(result(rates, losses, smoothed, False, steps))
    return result(rates, losses, smoothed, diverged, steps)


def result(rates, losses, smoothed, diverged: bool, steps: int) -> LrSweep:
    rates, smoothed = np.array(rates), np.array(smoothed)
    suggestion, minimum = suggest(rates, smoothed)
    return LrSweep(rates, np.array(losses), smoothed, suggestion, minimum, diverged, steps)


def suggest(rates: np.ndarray, smoothed: np.ndarray) -> tuple[float | None, float | None]:
    """The suggested rate and the rate of the smallest smoothed loss (None, None when there
    are too few points)."""
    if len(rates) < SKIP_START + 3:
        return None, None
    rates, smoothed = rates[SKIP_START:], smoothed[SKIP_START:]
    lowest = int(np.argmin(smoothed))
    slopes = np.gradient(smoothed, np.log(rates))
    steepest = int(np.argmin(slopes[:lowest + 1]))
    return float(min(rates[steepest], rates[lowest] / BELOW_MINIMUM)), float(rates[lowest])


def trial_copy(run: Run) -> Run:
    """A run that trains like `run` from where it is, sharing no array with it."""
    model = build(run.spec, run.backend, 0)
    originals = dict(run.model.buffers())
    originals.update((key, value) for key, value, _ in run.model.parameters())
    for key, value, _ in model.parameters():
        value[...] = originals[key]
    for key, value in model.buffers():
        value[...] = originals[key]
    optimizer = Optimizer(run.optimizer.name, run.backend, run.optimizer.momentum)
    optimizer.slots = [slot.copy() for slot in run.optimizer.slots]
    optimizer.steps = run.optimizer.steps
    return replace(run, model=model, optimizer=optimizer, rng=copy.deepcopy(run.rng),
                   running=new_running(), history=new_history())
