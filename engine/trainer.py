"""The headless training loop: epochs of shuffled mini-batches, metrics events,
validation, pause/resume/stop between batches, a NaN guard and checkpoints.

`Trainer.run()` is a generator of `StepEvent`s and `EpochEvent`s; the CLI prints
them and the GUI's worker thread forwards them. The trainer itself is not
thread-safe: only its `TrainControl` may be used from another thread.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from engine.backend import DEVICES, get_backend
from engine.errors import ConvNetError
from engine.losses import softmax_probabilities, weight_decay
from engine.model import build
from engine.optim import OPTIMIZERS, Optimizer
from engine.rollback import LastGood
from engine.schedules import SCHEDULES, learning_rate
from engine.spec import NetworkSpec

NORMALIZATIONS = ("channel", "image")
SPLITS = ("train", "val", "test")


class TrainingError(ConvNetError):
    """Training cannot start or cannot go on; the message says why and what to change."""


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "momentum"  # sgd | momentum | nesterov | rmsprop | adam
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "constant"  # constant | step | exponential | cosine
    step_epochs: int = 10
    gamma: float = 0.1
    batch_size: int = 32
    epochs: int = 10
    seed: int = 0
    device: str = "cpu"  # cpu | gpu | auto
    flip: bool = False
    crop_pad: int = 0
    normalization: str = "channel"  # channel | image

    def check(self) -> None:
        """Raise a TrainingError naming the first setting that cannot work."""
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
            ("device", self.device, DEVICES), ("normalization", self.normalization, NORMALIZATIONS),
        ):
            if value not in allowed:
                raise TrainingError(f"The {name} '{value}' is unknown; use one of "
                                    f"{', '.join(allowed)}.")
        for name, ok, rule in (
            ("learning rate", math.isfinite(self.lr) and self.lr > 0, "a positive number"),
            ("momentum", 0 <= self.momentum < 1, "at least 0 and below 1"),
            ("weight decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             "0 or more"),
            ("step length in epochs", self.step_epochs >= 1, "at least 1"),
            ("decay factor gamma", 0 < self.gamma <= 1, "above 0 and at most 1"),
            ("batch size", self.batch_size >= 1, "at least 1"),
            ("number of epochs", self.epochs >= 0, "0 or more"),
            ("crop padding", self.crop_pad >= 0, "0 or more pixels"),
        ):
            if not ok:
                raise TrainingError(f"The {name} must be {rule}.")


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
    """After each training step; `epoch` counts from 1, `step` is the step number of the run."""

    epoch: int
    step: int
    steps_per_epoch: int
    loss: float
    lr: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochEvent:
    """After each epoch: accuracy and loss on the training batches seen and on validation
    (NaN when the data set has no validation images)."""

    epoch: int
    train_acc: float
    val_acc: float
    train_loss: float
    val_loss: float


def _new_history() -> dict[str, list]:
    return {key: [] for key in ("step", "loss", "lr", "epoch", "train_acc", "val_acc",
                                "train_loss", "val_loss")}


class Trainer:
    """Trains `spec` on `data` with `config`.

    `epoch` counts finished epochs and `step` finished steps. `data_source` is where the
    data came from (None: the embedded digits); checkpoints keep it so a resumed run
    can reload the same data.
    """

    def __init__(self, spec: NetworkSpec, data: Any, config: TrainConfig = TrainConfig(),
                 control: TrainControl | None = None):
        self._setup(spec, data, config, control, normalizer=None)

    def _setup(self, spec, data, config, control, normalizer) -> None:
        from engine.data import Normalizer

        config.check()
        _check_fits(spec, data)
        self.spec = spec
        self.data = data
        self.config = config
        self.control = control or TrainControl()
        self.class_names = list(data.class_names)
        self.data_source: str | None = None
        self.backend = get_backend(config.device)
        self.rng = np.random.default_rng(config.seed)  # weights, then augmentation and dropout
        self.model = build(spec, self.backend, self.rng)
        self.optimizer = Optimizer(config.optimizer, self.backend, config.momentum)
        self.last_good = LastGood(self.model, self.optimizer)
        self.normalizer = normalizer or Normalizer.fit(data.train_x, config.normalization)
        self.epoch = 0
        self.step = 0
        self.batch = 0  # batches done in the epoch in progress
        self.running = {"loss": 0.0, "correct": 0, "seen": 0}  # sums over that epoch so far
        self.history = _new_history()

    @classmethod
    def from_checkpoint(cls, path, data: Any = None, control: TrainControl | None = None,
                        **config_overrides) -> "Trainer":
        """Continue a saved run exactly where it stopped; `config_overrides` (e.g.
        epochs=20) replace saved settings. Without `data`, the saved data source is loaded."""
        from engine.checkpoint import load_checkpoint, restore

        saved = load_checkpoint(path)
        return restore(cls.__new__(cls), saved, data, control, config_overrides)

    # -- training ---------------------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.data.train_x) / self.config.batch_size))

    def learning_rate(self) -> float:
        c = self.config
        position = self.epoch + self.batch / self.steps_per_epoch
        return learning_rate(c.schedule, c.lr, position, max(c.epochs, 1), c.step_epochs, c.gamma)

    def run(self) -> Iterator[StepEvent | EpochEvent]:
        """Train from the current position to `config.epochs`; stops early on `control.stop()`."""
        per_epoch = self.steps_per_epoch
        seconds_per_step = None
        while self.epoch < self.config.epochs:
            order = np.random.default_rng([self.config.seed, self.epoch]).permutation(
                len(self.data.train_x))
            while self.batch < per_epoch:
                self.control.wait_while_paused()
                if self.control.stopped:
                    return
                started = time.perf_counter()
                rows = order[self.batch * self.config.batch_size:
                             (self.batch + 1) * self.config.batch_size]
                lr = self.learning_rate()
                loss = self._train_batch(rows, lr)
                self.batch += 1
                self.step += 1
                self.history["step"].append(self.step)
                self.history["loss"].append(loss)
                self.history["lr"].append(lr)
                took = time.perf_counter() - started
                seconds_per_step = took if seconds_per_step is None else (
                    0.9 * seconds_per_step + 0.1 * took)
                left = (self.config.epochs - self.epoch) * per_epoch - self.batch
                yield StepEvent(self.epoch + 1, self.step, per_epoch, loss, lr,
                                len(rows) / seconds_per_step, left * seconds_per_step)
            yield self._finish_epoch()

    def _train_batch(self, rows: np.ndarray, lr: float) -> float:
        from engine.data import augment

        c, xp = self.config, self.backend.xp
        x = self.normalizer(self.data.train_x[rows])
        if c.flip or c.crop_pad:
            x = augment(x, self.rng, c.flip, c.crop_pad)
        labels = self.backend.asarray(self.data.train_y[rows], np.int64)
        with np.errstate(over="ignore", invalid="ignore"):  # the guard below reports it
            loss, scores = self.model.train_step(self.backend.asarray(x), labels)
            weights, grads = self.model.weights_and_grads()
            loss += weight_decay(xp, weights, grads, c.weight_decay)
        broken = "loss" if not math.isfinite(loss) else (
            "gradient" if not all(math.isfinite(float(g.sum())) for _, _, g in
                                  self.model.parameters()) else None)
        if broken:
            self.last_good.restore()
            value = "NaN" if math.isnan(loss) or broken == "gradient" else "infinite"
            kept = (f"the weights from before step {self.step}'s update" if self.step
                    else "the initial weights")
            raise TrainingError(
                f"The {broken} became {value} at step {self.step + 1}; the learning rate "
                f"{lr:g} is probably too high — try {lr / 10:g}. {kept.capitalize()}, the last "
                "that gave a finite loss, were kept.")
        self.last_good.save()
        self.optimizer.step(self.model.parameters(), lr)
        self.running["loss"] += loss * len(rows)
        self.running["correct"] += int((scores.argmax(axis=1) == labels).sum())
        self.running["seen"] += len(rows)
        return loss

    def _finish_epoch(self) -> EpochEvent:
        seen = max(self.running["seen"], 1)
        train_loss, train_acc = self.running["loss"] / seen, self.running["correct"] / seen
        val_loss, val_acc = self.evaluate("val")
        self.epoch += 1
        self.batch = 0
        self.running = {"loss": 0.0, "correct": 0, "seen": 0}
        for key, value in (("epoch", self.epoch), ("train_acc", train_acc), ("val_acc", val_acc),
                           ("train_loss", train_loss), ("val_loss", val_loss)):
            self.history[key].append(value)
        return EpochEvent(self.epoch, train_acc, val_acc, train_loss, val_loss)

    # -- inspection (NumPy in, NumPy out) ---------------------------------------------------

    def _split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in SPLITS:
            raise TrainingError(f"There is no '{split}' split; use one of {', '.join(SPLITS)}.")
        x, y = getattr(self.data, f"{split}_x"), getattr(self.data, f"{split}_y")
        if x is None:
            raise TrainingError(f"The data set '{self.data.name}' has no {split} split.")
        return x, y

    def _batches(self, images: np.ndarray) -> Iterator[tuple[int, Any]]:
        size = self.config.batch_size
        for start in range(0, len(images), size):
            yield start, self.backend.asarray(self.normalizer(images[start:start + size]))

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """Mean data loss and accuracy on a split in evaluation mode (NaN, NaN if it is empty)."""
        x, y = self._split(split)
        if len(x) == 0:
            return math.nan, math.nan
        loss_sum, correct = 0.0, 0
        for start, batch in self._batches(x):
            labels = self.backend.asarray(y[start:start + len(batch)], np.int64)
            scores = self.model.scores(batch)
            loss, _ = self.model.loss(scores, labels)
            loss_sum += loss * len(batch)
            correct += int((scores.argmax(axis=1) == labels).sum())
        return loss_sum / len(x), correct / len(x)

    def activations(self, layer_id: str, images: np.ndarray) -> np.ndarray:
        """The output (N, H2, W2, D2) of a layer for uint8 NHWC images, in evaluation mode."""
        index = self.spec.index_of(layer_id)
        outputs = []
        for _, batch in self._batches(images):
            if index == 0:
                out = batch
            elif index == len(self.spec.layers) - 1:
                scores = self.model.scores(batch)
                if self.model.loss_layer.type == "softmax":
                    scores = softmax_probabilities(self.backend.xp, scores)
                out = scores.reshape(len(batch), 1, 1, -1)
            else:
                out, _ = self.model.forward(batch, train=False, upto=layer_id)
            outputs.append(self.backend.to_numpy(out).astype(np.float32, copy=False))
        if not outputs:
            v = self.model.analysis.layers[index].output
            return np.zeros((0, v.height, v.width, v.depth), np.float32)
        return np.concatenate(outputs)

    def weights(self, layer_id: str) -> dict[str, np.ndarray]:
        """Copies of a layer's parameters, e.g. conv {"W": (F, F, D1, K), "b": (K,)}."""
        self.spec.index_of(layer_id)
        layers = {layer.id: layer for layer in self.model.layers}
        if layer_id not in layers:
            return {}
        return {name: np.array(self.backend.to_numpy(value))
                for name, value in layers[layer_id].params.items()}

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) for uint8 NHWC images."""
        parts = [self.backend.to_numpy(self.model.probabilities(batch))
                 for _, batch in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.class_names)), np.float32)

    def confusion_matrix(self, split: str = "val") -> np.ndarray:
        """(C, C) counts; row = true class, column = predicted class."""
        x, y = self._split(split)
        c = len(self.class_names)
        predicted = self.predict(x).argmax(axis=1) if len(x) else np.zeros(0, np.int64)
        return np.bincount(np.asarray(y) * c + predicted, minlength=c * c).reshape(c, c)

    def save_checkpoint(self, path) -> None:
        """Write everything needed to continue bit-for-bit, atomically, without pickle."""
        from engine.checkpoint import save_checkpoint

        save_checkpoint(self, path)


def _check_fits(spec: NetworkSpec, data: Any) -> None:
    """The data must match the network's input volume and its number of class scores."""
    from engine.shapes import analyse

    analysis = analyse(spec)
    if not analysis.valid:
        return  # build() explains the first error
    volume, classes = spec.input_volume, len(data.class_names)
    if data.volume != volume:
        raise TrainingError(f"The images of '{data.name}' are {data.volume} but the network's "
                            f"input is {volume}; change the Input layer to {data.volume}.")
    outputs = analysis.output.depth
    if outputs != classes:
        raise TrainingError(f"The network gives {outputs} class scores but '{data.name}' has "
                            f"{classes} classes; set the last Fully-connected layer's "
                            f"Outputs to {classes}.")
    if len(data.train_x) == 0:
        raise TrainingError(f"The data set '{data.name}' has no training images.")
