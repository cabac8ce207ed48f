"""The last good state of a training run, which the NaN guard puts back."""

from __future__ import annotations

from typing import Any

from engine.model import Model
from engine.optim import Optimizer


class LastGood:
    """Copies of the weights, batch-norm statistics and optimizer cache taken just before
    each update, so that an update which makes the loss NaN or infinite can be undone.

    The copies are allocated once; later saves and restores only copy values, the weights
    and each optimizer slot as one flat array (`engine.parameters`).
    """

    def __init__(self, model: Model, optimizer: Optimizer):
        self.model = model
        self.optimizer = optimizer
        self.values = model.store.values.copy()
        self.buffers: dict[str, Any] = {}
        self.slots: list[Any] = []
        self.save()

    def save(self) -> None:
        self.values[...] = self.model.store.values
        for key, value in self.model.buffers():
            if key in self.buffers:
                self.buffers[key][...] = value
            else:
                self.buffers[key] = value.copy()
        if len(self.slots) != len(self.optimizer.slots):  # the optimizer's first update
            self.slots = [slot.copy() for slot in self.optimizer.slots]
        else:
            for kept, slot in zip(self.slots, self.optimizer.slots):
                kept[...] = slot
        self.optimizer_steps = self.optimizer.steps

    def restore(self) -> None:
        self.model.store.values[...] = self.values
        for key, value in self.model.buffers():
            value[...] = self.buffers[key]
        # before its first update the optimizer had no cache
        del self.optimizer.slots[len(self.slots):]
        for slot, kept in zip(self.optimizer.slots, self.slots):
            slot[...] = kept
        self.optimizer.steps = self.optimizer_steps
