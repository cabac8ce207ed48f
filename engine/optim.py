"""Parameter updates of the notes: SGD, momentum, Nesterov momentum, RMSprop and Adam.

An optimizer updates one array in place: the engine gives it a model's whole
`ParameterStore` as one flat array, an exported PyTorch project one tensor per optimizer.
Its cache ("slots") is arrays shaped like that one, on the device; a checkpoint holds the
engine's per parameter key, as `state` names it. The formulas run on `CHUNK` entries of
the first axis at a time (floats, in the engine's flat array), so that there their
temporaries stay a few MiB however large the model (VGG-16's weights alone are 553 MiB,
and Adam's formula holds three temporaries that size at once).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Protocol

import numpy as np

from engine.backend import Backend
from engine.shapes import OPTIMIZER_STATE_COPIES, UPDATE_PIECE

OPTIMIZERS = tuple(OPTIMIZER_STATE_COPIES)
RMS_DECAY = 0.99
ADAM_BETAS = (0.9, 0.999)
EPS = 1e-8
CHUNK = UPDATE_PIECE


def pieces(length: int) -> Iterator[slice]:
    """Consecutive slices of at most `CHUNK` items that cover `length` items."""
    return (slice(start, start + CHUNK) for start in range(0, length, CHUNK))


class Layout(Protocol):
    """Where each parameter lies in a flat array (`engine.parameters.ParameterStore`)."""

    keys: list[str]

    def split(self, flat: Any) -> Iterator[tuple[str, Any]]: ...

    def join(self, arrays: Mapping[str, Any]) -> Any: ...


class Optimizer:
    def __init__(self, name: str, backend: Backend, momentum: float = 0.9):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        self.name = name
        self.backend = backend
        self.momentum = momentum
        self.slots: list[Any] = []  # none before the first update
        self.steps = 0  # updates made, for Adam's bias correction

    def step(self, w: Any, g: Any, lr: float) -> None:
        """Update the parameters w in place from their gradient g with learning rate `lr`."""
        self.steps += 1
        if not self.slots:
            self.slots = [self.backend.xp.zeros_like(w)
                          for _ in range(OPTIMIZER_STATE_COPIES[self.name])]
        for part in pieces(len(w)):  # slices are views, whatever w's shape and strides
            self._update(w[part], g[part], [slot[part] for slot in self.slots], np.float32(lr))

    def _update(self, w: Any, g: Any, slots: list[Any], lr: np.float32) -> None:
        xp, f32 = self.backend.xp, np.float32
        if self.name == "sgd":
            w -= lr * g
        elif self.name == "momentum":
            (v,) = slots
            v *= f32(self.momentum)
            v -= lr * g
            w += v
        elif self.name == "nesterov":
            # the notes' form: x += −μ·v_prev + (1 + μ)·v
            (v,) = slots
            mu = f32(self.momentum)
            w -= mu * v
            v *= mu
            v -= lr * g
            w += (1 + mu) * v
        elif self.name == "rmsprop":
            (cache,) = slots
            cache *= f32(RMS_DECAY)
            cache += f32(1 - RMS_DECAY) * g * g
            w -= lr * g / (xp.sqrt(cache) + f32(EPS))
        else:
            m, v = slots
            b1, b2 = ADAM_BETAS
            m *= f32(b1)
            m += f32(1 - b1) * g
            v *= f32(b2)
            v += f32(1 - b2) * g * g
            m_hat = m / f32(1 - b1 ** self.steps)
            v_hat = v / f32(1 - b2 ** self.steps)
            w -= lr * m_hat / (xp.sqrt(v_hat) + f32(EPS))

    def state(self, parameters: Layout) -> dict[str, np.ndarray]:
        """The cache as NumPy arrays named "key/slot index"."""
        return {f"{key}/{i}": self.backend.to_numpy(view)
                for i, slot in enumerate(self.slots) for key, view in parameters.split(slot)}

    def load_state(self, arrays: dict[str, np.ndarray], steps: int,
                   parameters: Layout) -> None:
        """Take the cache `state` gave (all of its slots, or none)."""
        count = len(arrays) // max(len(parameters.keys), 1)
        self.slots = [parameters.join({key: self.backend.asarray(arrays[f"{key}/{i}"])
                                       for key in parameters.keys}) for i in range(count)]
        self.steps = steps
