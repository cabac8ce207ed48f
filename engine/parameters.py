"""A model's trained arrays in one home: their values in one flat buffer, their gradients in
another, and each layer's `params[name]` and `grads[name]` a view of its stretch of them.

Every training step makes several passes over all the parameters: weight decay, the check
that the gradients are finite, the NaN guard's copy and the optimizer's update. On flat
buffers each pass is one array operation instead of one per array: LeNet-5 has ten arrays
of at most 48,000 floats, where NumPy's cost per call is most of the time, and on a GPU
each call is a kernel launch. The weights (W), which L2 decays, come first, so that they
are one stretch.

The views are the layers' arrays: write into them (`value[...] = new`); an array put in
their place is no longer the one the optimizer updates.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from engine.layers import Layer

DECAYED = "W"  # the parameter L2 decays; biases and batch-norm's scale and shift are not


class ParameterStore:
    def __init__(self, xp: Any, layers: list[Layer]):
        named = [(layer, name) for layer in layers for name in layer.params]
        named.sort(key=lambda pair: pair[1] != DECAYED)  # stable: layer order within each
        dtypes = {layer.params[name].dtype for layer, name in named}
        self.xp = xp
        self._where: dict[str, tuple[slice, tuple[int, ...]]] = {}
        offset = decayed = 0
        for layer, name in named:
            value = layer.params[name]
            self._where[f"{layer.id}/{name}"] = (slice(offset, offset + value.size), value.shape)
            offset += value.size
            decayed += value.size if name == DECAYED else 0
        self.decayed = slice(0, decayed)
        self.values = xp.empty(offset, dtypes.pop() if len(dtypes) == 1 else np.float32)
        for layer, name in named:
            view = self.view(self.values, f"{layer.id}/{name}")
            view[...] = layer.params[name]
            layer.params[name] = view
            layer.grads.pop(name, None)  # goes before the shared gradients are allocated
        self.grads = xp.zeros_like(self.values)
        for layer, name in named:
            layer.grads[name] = self.view(self.grads, f"{layer.id}/{name}")

    @property
    def keys(self) -> list[str]:
        return list(self._where)

    def view(self, flat: Any, key: str) -> Any:
        """Parameter `key`'s stretch of `flat` (laid out like `values`) in its own shape."""
        where, shape = self._where[key]
        return flat[where].reshape(shape)

    def split(self, flat: Any) -> Iterator[tuple[str, Any]]:
        """(key, view) of every parameter's stretch of `flat`."""
        for key in self._where:
            yield key, self.view(flat, key)

    def join(self, arrays: Mapping[str, Any]) -> Any:
        """A flat array laid out like `values` from one array per key."""
        flat = self.xp.empty_like(self.values)
        for key, view in self.split(flat):
            view[...] = arrays[key]
        return flat
