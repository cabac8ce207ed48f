"""The last good state of a training run, which the NaN guard puts back."""

from __future__ import annotations

from typing import Any

from engine.model import Model
from engine.optim import Optimizer


class LastGood:
    """Copies of the weights, batch-norm statistics and optimizer cache taken just before
    each update, so that an update which makes the loss NaN or infinite can be undone.

    The copies are allocated once; later saves and restores only copy values.
    """

    def __init__(self, model: Model, optimizer: Optimizer):
        self.model = model
        self.optimizer = optimizer
        self.arrays: dict[str, Any] = {}
        self.slots: dict[str, list[Any]] = {}
        self.save()

    def _live(self):
        for key, value, _ in self.model.parameters():
            yield key, value
        yield from self.model.buffers()

    def save(self) -> None:
        for key, value in self._live():
            _store(self.arrays, key, value)
        for key, values in self.optimizer.slots.items():
            kept = self.slots.setdefault(key, [v.copy() for v in values])
            for target, v in zip(kept, values):
                target[...] = v
        self.saved_slot_keys = set(self.optimizer.slots)
        self.optimizer_steps = self.optimizer.steps

    def restore(self) -> None:
        for key, value in self._live():
            value[...] = self.arrays[key]
        for key in list(self.optimizer.slots):
            if key not in self.saved_slot_keys:
                del self.optimizer.slots[key]
                continue
            for target, kept in zip(self.optimizer.slots[key], self.slots[key]):
                target[...] = kept
        self.optimizer.steps = self.optimizer_steps


def _store(store: dict[str, Any], key: str, value: Any) -> None:
    if key in store:
        store[key][...] = value
    else:
        store[key] = value.copy()
