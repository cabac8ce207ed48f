"""The headless training loop: it advances a `Run` through epochs of shuffled mini-batches,
reports step and epoch events, validates, obeys pause/resume/stop between batches, guards
against NaN, and keeps the run on disk.

`Trainer.train()` is a generator of `StepEvent`s and `EpochEvent`s; the CLI prints them
and the GUI's worker forwards them. The trainer is not thread-safe: only its
`TrainControl` may be used from another thread.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NoReturn

import numpy as np

from engine.backend import blas_threads
from engine.bounded import shown
from engine.checkpoint import save_run
from engine.config import TrainingError
from engine.data import DataSet, augment
from engine.insight.health import HealthMonitor, HealthReport
from engine.losses import weight_decay
from engine.rollback import LastGood
from engine.run import Run, check_data, new_running
from engine.run_lock import holds_as_is, training_lock
from engine.step_team import StepTeam, step_shares

SPLITS = ("train", "val", "test")
KEEP_EVERY_S = 120   # within an epoch, the run is saved this often: a kill loses at most this
KEEP_SHARE = 0.05    # … or less often, so that saving a large network takes at most this share


class TrainControl:
    """Pause, resume and stop a run from another thread; the trainer polls it between batches."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._paused = False
        self._stopped = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    def pause(self) -> None:
        with self._changed:
            self._paused = True

    def resume(self) -> None:
        with self._changed:
            self._paused = False
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def wait_while_paused(self) -> None:
        with self._changed:
            while self._paused and not self._stopped:
                self._changed.wait()


@dataclass(frozen=True)
class StepEvent:
    """After each training step. `epoch` counts from 1, `step` is the step number of the run,
    `batch` the step's number within its epoch, of `batches`."""

    epoch: int
    step: int
    batch: int
    batches: int
    loss: float
    lr: float
    images_per_s: float
    eta_s: float
    update_ratios: tuple[float, ...] = ()  # ‖Δw‖/‖w‖ per trained layer (HealthReport.trained)
    health: HealthReport | None = None  # on the steps whose statistics were sampled


@dataclass(frozen=True)
class EpochEvent:
    """After each epoch: accuracy and loss on the training batches seen and on validation
    (NaN when the data set has no validation images)."""

    epoch: int
    train_acc: float
    val_acc: float
    train_loss: float
    val_loss: float
    health: HealthReport | None = None  # with the epoch's dead ReLUs


class Trainer:
    """Advances `run` on `data`. With `keep_at`, the run is saved there (atomically) at the
    end of every epoch and whenever training stops early: by `control.stop()`, by the NaN
    guard (the state from before the bad update), or by an error. With `watch_health`, a
    `HealthMonitor` watches every step and its reports ride on the events."""

    def __init__(self, run: Run, data: DataSet, control: TrainControl | None = None,
                 keep_at: str | Path | None = None, watch_health: bool = True):
        check_data(run.spec, data, run.model.analysis)
        if run.offset > len(data.train_x):
            raise TrainingError(f"The run stopped after {run.offset:,} images of an epoch but "
                                f"'{shown(data.name)}' has only {len(data.train_x):,} training "
                                "images; continue it on the data set it was trained on.")
        self.run = run
        self.data = data
        self.control = control or TrainControl()
        self.keep_at = Path(keep_at) if keep_at else None
        self.last_good = LastGood(run.model, run.optimizer)
        self.good_step = run.step  # the last good weights are those after this many steps
        self.health = HealthMonitor(run.model, self.last_good.values) if watch_health else None
        self._updating = False
        self._team: StepTeam | None = None
        self._kept_at = time.monotonic()   # when the run was last saved, and how long it took
        self._keep_took = 0.0

    def train(self) -> Iterator[StepEvent | EpochEvent]:
        """Train from the run's position to `config.epochs`; stops early on `control.stop()`.
        While it trains, a helper process may take half of each step (`engine.step_team`),
        and no other process may train into its file (`engine.run_lock`)."""
        with self._holding_file():
            yield from self._train()

    @contextmanager
    def _holding_file(self) -> Iterator[None]:
        """The run's file locked for this trainer. It is written first unless it holds the
        run as it is and the lock file could be written beside it, so a place where the run
        cannot be saved (read-only, full) is found before it trains."""
        if self.keep_at is None:
            yield
            return
        with training_lock(self.keep_at) as writable:
            if not (writable and holds_as_is(self.keep_at, self.run)):
                self.keep()
            yield

    def _train(self) -> Iterator[StepEvent | EpochEvent]:
        try:
            self._team = self._start_team()
            yield from self._epochs()
        except BaseException:
            if self._updating:  # a half-done update is not worth keeping
                self.last_good.restore()
            self.keep()
            raise
        finally:
            if self._team is not None:
                self._team.close()
                self._team = None
        if self.control.stopped:
            self.keep()

    def _start_team(self) -> StepTeam | None:
        """A team for the steps where they are taken in shares, with a helper process where
        there is a second core and it starts (else the shares are taken here in turn)."""
        run = self.run
        if step_shares(run.spec, run.backend, run.config.batch_size) < 2:
            return None
        cores = blas_threads()
        try:
            return StepTeam(run.spec, run.model, run.config.batch_size, cores)
        except (OSError, RuntimeError):
            return StepTeam(run.spec, run.model, run.config.batch_size, cores=1)

    def keep(self) -> None:
        """Save the run where the trainer keeps it (if anywhere)."""
        if self.keep_at is not None:
            started = time.monotonic()
            save_run(self.run, self.keep_at)
            self._kept_at = time.monotonic()
            self._keep_took = self._kept_at - started

    def _keep_due(self) -> bool:
        """Whether to save the run now, within an epoch: KEEP_EVERY_S after the last save
        (longer where saving is slow), and only with finite weights, since a step's update
        is checked by the next step."""
        every = max(KEEP_EVERY_S, self._keep_took / KEEP_SHARE)
        return (self.keep_at is not None and time.monotonic() - self._kept_at >= every
                and _all_finite(self.run.model.store.values))

    def _epochs(self) -> Iterator[StepEvent | EpochEvent]:
        run, n = self.run, len(self.data.train_x)
        seconds_per_step = None
        while not run.finished:
            size = run.config.batch_size
            order = run.epoch_order(n)
            batches = run.running["steps"] + math.ceil((n - run.offset) / size)
            while run.offset < n:
                self.control.wait_while_paused()
                if self.control.stopped:
                    return
                started = time.perf_counter()
                rows = order[run.offset:run.offset + size]
                lr = run.learning_rate(n)
                loss = self.train_batch(rows, lr, last=run.offset + len(rows) >= n)
                run.offset += len(rows)
                run.step += 1
                for key, value in (("step", run.step), ("loss", loss), ("lr", lr)):
                    run.history[key].append(value)
                took = time.perf_counter() - started
                seconds_per_step = took if seconds_per_step is None else (
                    0.9 * seconds_per_step + 0.1 * took)
                if run.offset < n and self._keep_due():
                    self.keep()   # not counted in the step's time: the rate is training's
                batch = run.running["steps"]
                left = (run.config.epochs - run.epoch - 1) * math.ceil(n / size) + batches - batch
                health = self.health
                sampled = health is not None and health.sampled_step == run.step
                yield StepEvent(run.epoch + 1, run.step, batch, batches, loss, lr,
                                len(rows) / seconds_per_step, left * seconds_per_step,
                                tuple(health.ratios) if health else (),
                                health.report(run.step) if sampled else None)
            if self.health:
                self.health.end_epoch()
            event = self._finish_epoch()
            self.keep()  # before the event: whoever hears of the epoch finds it on disk
            yield event

    def train_batch(self, rows: np.ndarray, lr: float, last: bool = False) -> float:
        """One step on the training images `rows` at learning rate `lr`; its data loss, which
        leaves out the weight decay's penalty ½·λ·Σw² (the update minimizes both) so that it
        compares with the validation's and with PyTorch's and the exported project's. A loss or
        gradient that is not finite puts the weights back and raises a TrainingError. The
        next step checks this step's update, so the `last` step of an epoch, which the
        validation follows, checks its own: the loss of its batch after the update."""
        run, health = self.run, self.health
        c, backend, model = run.config, run.backend, run.model
        x = run.normalizer(self.data.train_x[rows])
        if c.flip or c.crop_pad:
            x = augment(x, run.rng, c.flip, c.crop_pad)
        labels = backend.asarray(self.data.train_y[rows], np.int64)
        with np.errstate(over="ignore", invalid="ignore"):  # the guard below reports it
            if health:
                health.begin_step()
            step = model.train_step if self._team is None else self._team.train_step
            loss, scores = step(backend.asarray(x), labels, health)
            store = model.store
            penalty = weight_decay(backend.xp, store.values[store.decayed],
                                   store.grads[store.decayed], c.weight_decay)
            broken = "loss" if not math.isfinite(loss + penalty) else (
                None if _all_finite(store.grads) else "gradient")
        if broken:
            value = "NaN" if math.isnan(loss + penalty) or broken == "gradient" else "infinite"
            self._diverged(f"The {broken} became {value} at step {run.step + 1}", lr)
        self.last_good.save()
        self.good_step = run.step
        self._updating = True
        run.optimizer.step(model.store.values, model.store.grads, lr)
        self._updating = False
        if last:
            with np.errstate(over="ignore", invalid="ignore"):
                after, _ = model.loss(model.scores(backend.asarray(x)), labels)
            if not math.isfinite(after):
                value = "NaN" if math.isnan(after) else "infinite"
                self._diverged(f"The loss became {value} after step {run.step + 1}'s update", lr)
        if health:
            health.after_update(run.step + 1)
        run.running["loss"] += loss * len(rows)
        run.running["correct"] += int((scores.argmax(axis=1) == labels).sum())
        run.running["seen"] += len(rows)
        run.running["steps"] += 1
        return loss

    def _diverged(self, what: str, lr: float) -> NoReturn:
        """Put back the last good weights and say what to do."""
        self.last_good.restore()
        kept = (f"the weights after step {self.good_step}" if self.good_step
                else "the initial weights")
        raise TrainingError(
            f"{what}; the learning rate {lr:g} is probably too high — try {lr / 10:g}. "
            f"{kept.capitalize()}, the last that gave a finite loss, were kept.")

    def _finish_epoch(self) -> EpochEvent:
        run = self.run
        seen = max(run.running["seen"], 1)
        train_loss, train_acc = run.running["loss"] / seen, run.running["correct"] / seen
        val_loss, val_acc = self.evaluate("val")
        run.epoch += 1
        run.offset = 0
        run.running = new_running()
        for key, value in (("epoch", run.epoch), ("train_acc", train_acc), ("val_acc", val_acc),
                           ("train_loss", train_loss), ("val_loss", val_loss)):
            run.history[key].append(value)
        return EpochEvent(run.epoch, train_acc, val_acc, train_loss, val_loss,
                          self.health.report(run.step) if self.health else None)

    # --- the data's splits ----------------------------------------------------------------
    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in SPLITS:
            raise TrainingError(f"There is no '{split}' split; use one of {', '.join(SPLITS)}.")
        x, y = getattr(self.data, f"{split}_x"), getattr(self.data, f"{split}_y")
        if x is None:
            raise TrainingError(f"The data set '{shown(self.data.name)}' has no {split} split.")
        return x, y

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """Mean data loss and accuracy on a split in evaluation mode (NaN, NaN if it is empty)."""
        return self.run.evaluate(*self.split(split))

    def confusion_matrix(self, split: str = "val") -> np.ndarray:
        return self.run.confusion_matrix(*self.split(split))


def _all_finite(a) -> bool:
    """Whether every value of a flat array is finite, with a single host sync: max·0 + min·0
    is 0 when its extremes are finite and NaN otherwise (a NaN or an infinity reaches one of
    them), and unlike a sum it cannot overflow."""
    return a.size == 0 or math.isfinite(float(a.max() * 0 + a.min() * 0))
