"""A training run: everything one run is, in one object.

A `Run` holds the network it trains (its own spec, whatever the canvas shows now), its
settings, where its data came from, its weights and batch-norm statistics (the model),
the optimizer's cache, its position, its random generator, its normaliser, its class names
and its history. `engine.trainer.Trainer` advances a run; `engine.checkpoint` saves and
loads one. Nothing else holds training state.

The position is counted in images, not batches: `offset` images of epoch `epoch + 1` have
been trained on, in the order `epoch_order` gives, so a run continued with another batch
size takes up exactly the next image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import numpy as np

from engine.backend import Backend, free_memory, get_backend
from engine.bounded import shown
from engine.config import TrainConfig, TrainingError
from engine.data import DataSet, Normalizer
from engine.losses import softmax_probabilities
from engine.model import Model, build
from engine.optim import Optimizer
from engine.schedules import learning_rate
from engine.shapes import Analysis, analyse, format_bytes
from engine.spec import NetworkSpec

HISTORY_STEP_KEYS = ("step", "loss", "lr")
HISTORY_EPOCH_KEYS = ("epoch", "train_acc", "val_acc", "train_loss", "val_loss")


def new_history() -> dict[str, list]:
    return {key: [] for key in HISTORY_STEP_KEYS + HISTORY_EPOCH_KEYS}


def new_running() -> dict[str, float | int]:
    """Sums over the training batches of the epoch in progress, and their number."""
    return {"loss": 0.0, "correct": 0, "seen": 0, "steps": 0}


@dataclass
class Run:
    spec: NetworkSpec
    config: TrainConfig
    model: Model
    optimizer: Optimizer
    normalizer: Normalizer
    rng: np.random.Generator  # weights first, then augmentation and dropout masks
    class_names: list[str]
    data_source: str | None  # what load_data takes; None: the embedded digits
    data_name: str
    name: str
    created: str  # ISO date and time the run started
    network_file: str | None = None  # the network file it was started from, if saved
    epoch: int = 0  # finished epochs
    offset: int = 0  # images of the epoch in progress already trained on
    step: int = 0  # finished steps
    running: dict = field(default_factory=new_running)
    history: dict = field(default_factory=new_history)

    @classmethod
    def start(cls, spec: NetworkSpec, data: DataSet, config: TrainConfig,
              data_source: str | None, name: str | None = None,
              network_file: str | None = None,
              check: Callable[[], None] = lambda: None) -> "Run":
        """A fresh run of `spec` on `data`: weights drawn from the seed, the normaliser
        fitted on the training images (`check()` runs as it goes, to stop it by raising).
        Every reason it cannot train is one sentence."""
        analysis, backend = check_trainable(spec, config)
        check_data(spec, data, analysis)
        rng = np.random.default_rng(config.seed)
        created = datetime.now().isoformat(timespec="seconds")
        return cls(spec, config, build(spec, backend, rng),
                   Optimizer(config.optimizer, backend, config.momentum),
                   Normalizer.fit(data.train_x, config.normalization, check), rng,
                   list(data.class_names), data_source, data.name,
                   name or f"{spec.name} {created.replace('T', ' ')}", created, network_file)

    @property
    def backend(self) -> Backend:
        return self.model.backend

    def continued(self, **changes: Any) -> None:
        """Go on with some settings changed (more epochs, another learning rate or batch
        size…). Another optimizer starts with an empty cache."""
        if not changes:
            return
        config = self.config.continued(**changes)
        config.check()
        if get_backend(config.device).name != self.backend.name:
            raise TrainingError("A run continues on the device it was opened on; open it "
                                f"again on the {config.device.upper()} to train there.")
        check_memory(self.model.analysis, config, self.backend)
        if config.optimizer != self.config.optimizer:
            self.optimizer = Optimizer(config.optimizer, self.backend, config.momentum)
        self.optimizer.momentum = config.momentum
        self.config = config

    # --- where it stands ------------------------------------------------------------------
    def epoch_order(self, n_train: int) -> np.ndarray:
        """The order of the training images in the epoch in progress (fixed by seed and
        epoch, so it does not depend on the batch size or on where the run was resumed)."""
        return np.random.default_rng([self.config.seed, self.epoch]).permutation(n_train)

    def learning_rate(self, n_train: int) -> float:
        c = self.config
        position = self.epoch + self.offset / max(n_train, 1)
        return learning_rate(c.schedule, c.lr, position, max(c.epochs, 1), c.step_epochs, c.gamma)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    @property
    def best_val_acc(self) -> float | None:
        values = [v for v in self.history["val_acc"] if v is not None and math.isfinite(v)]
        return max(values) if values else None

    # --- inspection: NumPy in, NumPy out ----------------------------------------------------
    def _batches(self, images: np.ndarray):
        size = self.config.batch_size
        for start in range(0, len(images), size):
            yield start, self.backend.asarray(self.normalizer(images[start:start + size]))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean data loss and accuracy on uint8 images in evaluation mode (NaN, NaN if none)."""
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

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) for uint8 NHWC images."""
        parts = [self.backend.to_numpy(self.model.probabilities(batch))
                 for _, batch in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.class_names)),
                                                            np.float32)

    def confusion_matrix(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(C, C) counts; row = true class, column = predicted class."""
        c = len(self.class_names)
        predicted = self.predict(x).argmax(axis=1) if len(x) else np.zeros(0, np.int64)
        return np.bincount(np.asarray(y) * c + predicted, minlength=c * c).reshape(c, c)

    def activations(self, layer_id: str, images: np.ndarray) -> np.ndarray:
        """The output (N, H2, W2, D2) of a layer for uint8 NHWC images, in evaluation mode;
        for the loss layer, the class probabilities (softmax) or scores (SVM)."""
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

    def layer_outputs(self, image: np.ndarray) -> list[np.ndarray]:
        """Every layer's output (H2, W2, D2) for one uint8 (H, W, D) image in evaluation mode,
        in the order of `spec.layers`: the normalised input first, the class probabilities
        (softmax) or scores (SVM) of the loss layer last. One forward pass."""
        x = self.backend.asarray(self.normalizer(image[None]))
        outputs = [self.backend.to_numpy(x)[0].copy()]
        for layer in self.model.layers:
            x, _ = layer.forward(x, train=False)
            # a copy: an activation computed in place overwrites this output next
            outputs.append(np.array(self.backend.to_numpy(x)[0], np.float32))
        scores = x.reshape(1, -1)
        if self.model.loss_layer.type == "softmax":
            scores = softmax_probabilities(self.backend.xp, scores)
        outputs.append(np.array(self.backend.to_numpy(scores), np.float32).reshape(1, 1, -1))
        return outputs

    def weights(self, layer_id: str) -> dict[str, np.ndarray]:
        """Copies of a layer's parameters, e.g. conv {"W": (F, F, D1, K), "b": (K,)}."""
        self.spec.index_of(layer_id)
        layers = {layer.id: layer for layer in self.model.layers}
        if layer_id not in layers:
            return {}
        return {name: np.array(self.backend.to_numpy(value))
                for name, value in layers[layer_id].params.items()}


def check_trainable(spec: NetworkSpec, config: TrainConfig) -> tuple[Analysis, Backend]:
    """Everything that can be checked before a data set is loaded: the settings, the
    network's errors, the device and the memory a step needs there."""
    config.check(spec.input_volume)
    analysis = analyse(spec)
    if not analysis.valid:
        build(spec, get_backend("cpu"))  # raises the ModelError that explains the first error
    backend = get_backend(config.device)
    check_memory(analysis, config, backend)
    return analysis, backend


def check_data(spec: NetworkSpec, data: DataSet, analysis: Analysis | None = None) -> None:
    """The data must match the network's input volume and its number of class scores."""
    analysis = analysis or analyse(spec)
    volume, classes, name = spec.input_volume, len(data.class_names), shown(data.name)
    if data.volume != volume:
        raise TrainingError(f"The images of '{name}' are {data.volume} but the network's "
                            f"input is {volume}; change the Input layer to {data.volume}.")
    outputs = analysis.output.depth
    if outputs != classes:
        raise TrainingError(f"The network gives {outputs} class scores but '{name}' has "
                            f"{classes} classes; set the last Fully-connected layer's "
                            f"Outputs to {classes}.")
    if len(data.train_x) == 0:
        raise TrainingError(f"The data set '{name}' has no training images.")


def check_memory(analysis: Analysis, config: TrainConfig, backend: Backend) -> None:
    """Refuse, before anything is allocated, a run that the memory model says does not fit
    in the memory that is free where it would train."""
    need = analysis.memory(config.batch_size, config.optimizer).total
    free = free_memory(backend)
    if free is None or need <= free:
        return
    where = "on the GPU" if backend.name == "gpu" else "in RAM"
    fits = analysis.largest_batch(free, config.optimizer)
    advice = (f"use a batch size of at most {fits:,}" if fits else
              "make the network smaller (fewer filters or units)")
    raise TrainingError(f"Training '{analysis.spec.name}' at batch size {config.batch_size:,} "
                        f"needs {format_bytes(need)} but only {format_bytes(free)} is free "
                        f"{where}; {advice}.")
