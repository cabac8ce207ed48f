"""Parameter updates of the notes: SGD, momentum, Nesterov momentum, RMSprop and Adam.

An optimizer keeps its per-parameter cache ("slots") on the device, keyed like the
model's parameters, and can hand it to a checkpoint and take it back.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from engine.backend import Backend
from engine.shapes import OPTIMIZER_STATE_COPIES

OPTIMIZERS = tuple(OPTIMIZER_STATE_COPIES)
RMS_DECAY = 0.99
ADAM_BETAS = (0.9, 0.999)
EPS = 1e-8


class Optimizer:
    def __init__(self, name: str, backend: Backend, momentum: float = 0.9):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        self.name = name
        self.backend = backend
        self.momentum = momentum
        self.slots: dict[str, list[Any]] = {}
        self.steps = 0  # updates made, for Adam's bias correction

    def step(self, parameters: Iterable[tuple[str, Any, Any]], lr: float) -> None:
        """Update every (key, value, gradient) in place with learning rate `lr`."""
        self.steps += 1
        xp = self.backend.xp
        f32 = np.float32
        for key, w, g in parameters:
            if self.name == "sgd":
                w -= f32(lr) * g
                continue
            slots = self.slots.get(key)
            if slots is None:
                count = OPTIMIZER_STATE_COPIES[self.name]
                slots = self.slots[key] = [xp.zeros_like(w) for _ in range(count)]
            if self.name == "momentum":
                (v,) = slots
                v *= f32(self.momentum)
                v -= f32(lr) * g
                w += v
            elif self.name == "nesterov":
                # the notes' form: x += −μ·v_prev + (1 + μ)·v
                (v,) = slots
                mu = f32(self.momentum)
                w -= mu * v
                v *= mu
                v -= f32(lr) * g
                w += (1 + mu) * v
            elif self.name == "rmsprop":
                (cache,) = slots
                cache *= f32(RMS_DECAY)
                cache += f32(1 - RMS_DECAY) * g * g
                w -= f32(lr) * g / (xp.sqrt(cache) + f32(EPS))
            else:
                m, v = slots
                b1, b2 = ADAM_BETAS
                m *= f32(b1)
                m += f32(1 - b1) * g
                v *= f32(b2)
                v += f32(1 - b2) * g * g
                m_hat = m / f32(1 - b1 ** self.steps)
                v_hat = v / f32(1 - b2 ** self.steps)
                w -= f32(lr) * m_hat / (xp.sqrt(v_hat) + f32(EPS))

    def state(self) -> dict[str, np.ndarray]:
        """The cache as NumPy arrays named "key/slot index"."""
        return {f"{key}/{i}": self.backend.to_numpy(a)
                for key, slots in self.slots.items() for i, a in enumerate(slots)}

    def load_state(self, arrays: dict[str, np.ndarray], steps: int) -> None:
        slots: dict[str, list[Any]] = {}
        for name in sorted(arrays, key=lambda n: (n.rsplit("/", 1)[0], int(n.rsplit("/", 1)[1]))):
            key = name.rsplit("/", 1)[0]
            slots.setdefault(key, []).append(self.backend.asarray(arrays[name]))
        self.slots = slots
        self.steps = steps
