"""A training run's settings, the checks they must pass, and which of them a run may
change when it is continued."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from engine.backend import DEVICES
from engine.bounded import shown
from engine.data.preprocess import MODES as NORMALIZATIONS
from engine.errors import ConvNetError
from engine.optim import OPTIMIZERS
from engine.schedules import SCHEDULES
from engine.spec import Volume

# Settings a continued run keeps: its normaliser was fitted with the one, and the order of
# its images and every random draw so far came from the other.
FIXED_WHEN_CONTINUED = ("normalization", "seed")
# Random crops pad an image by a few pixels (the notes' 2–4, PyTorch's RandomCrop usually 4);
# the padded batch grows with the square of the padding, so a bound keeps it near the batch.
MAX_CROP_PAD = 64
# Far beyond any real run, and small enough that every count and size computed from them is
# exact as a float.
MAX_BATCH_SIZE = 1 << 24
MAX_EPOCHS = 100_000


class TrainingError(ConvNetError):
    """Training cannot start or cannot go on; the message says why and what to change."""


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "momentum"  # one of engine.optim.OPTIMIZERS
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "constant"  # one of engine.schedules.SCHEDULES
    step_epochs: int = 10
    gamma: float = 0.1
    batch_size: int = 32
    epochs: int = 10
    seed: int = 0
    device: str = "cpu"  # cpu | gpu | auto
    flip: bool = False
    crop_pad: int = 0
    normalization: str = "channel"  # one of engine.data.preprocess.MODES

    def check(self, images: Volume | None = None) -> None:
        """Raise a TrainingError naming the first setting that cannot work (on `images` of
        this volume, where they are known)."""
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
            ("device", self.device, DEVICES), ("normalization", self.normalization, NORMALIZATIONS),
        ):
            if value not in allowed:
                raise TrainingError(f"The {name} '{shown(str(value))}' is unknown; use one of "
                                    f"{', '.join(allowed)}.")
        for name, ok, rule in (
            ("learning rate", math.isfinite(self.lr) and self.lr > 0, "a positive number"),
            ("momentum", 0 <= self.momentum < 1, "at least 0 and below 1"),
            ("weight decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             "0 or more"),
            ("step length in epochs", 1 <= self.step_epochs <= MAX_EPOCHS,
             f"from 1 to {MAX_EPOCHS:,}"),
            ("decay factor gamma", 0 < self.gamma <= 1, "above 0 and at most 1"),
            ("batch size", 1 <= self.batch_size <= MAX_BATCH_SIZE, f"from 1 to {MAX_BATCH_SIZE:,}"),
            ("number of epochs", 0 <= self.epochs <= MAX_EPOCHS, f"from 0 to {MAX_EPOCHS:,}"),
            ("crop padding", 0 <= self.crop_pad <= MAX_CROP_PAD,
             f"from 0 to {MAX_CROP_PAD} pixels, typically 2 to 4"),
            ("seed", 0 <= self.seed < 2 ** 63, "a whole number from 0"),
        ):
            if not ok:
                raise TrainingError(f"The {name} must be {rule}.")
        side = min(images.width, images.height) if images is not None else math.inf
        if self.crop_pad >= side:
            # a window cut from an image padded by its own size or more can miss the image
            raise TrainingError(f"The crop padding of {self.crop_pad} pixels must be smaller "
                                f"than the images' {side}-pixel side, or a crop can hold no "
                                f"image at all; use at most {side - 1}, typically 2 to 4.")

    def continued(self, **changes: Any) -> "TrainConfig":
        """These settings with `changes` for a run that goes on from where it is."""
        for name in FIXED_WHEN_CONTINUED:
            if name in changes and changes[name] != getattr(self, name):
                raise TrainingError(f"A continued run keeps its {name} ({getattr(self, name)}); "
                                    f"start a new run to train with {name} {changes[name]}.")
        return replace(self, **changes)


def config_from_dict(values: Any) -> TrainConfig:
    """Settings read from a file: every field present with the type it must have, or a
    TrainingError naming the first that is not."""
    if not isinstance(values, dict):
        raise TrainingError("The saved settings are not a table of values.")
    expected = {f.name: f.type for f in fields(TrainConfig)}
    missing = sorted(set(expected) - set(values))
    unknown = sorted(set(values) - set(expected))
    if missing or unknown:
        raise TrainingError(f"The saved settings {'lack' if missing else 'have an unknown'} "
                            f"'{shown((missing or unknown)[0])}'.")
    settings = {}
    for name, kind in expected.items():
        value = values[name]
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]
        if not ok:
            raise TrainingError(f"The saved setting '{name}' is not a {kind} value.")
        if kind == "float":
            try:
                value = float(value)
            except OverflowError:  # JSON allows an int of any number of digits
                raise TrainingError(f"The saved setting '{name}' is a number too large to be "
                                    "a float value.") from None
        settings[name] = value
    config = TrainConfig(**settings)
    config.check()
    return config
