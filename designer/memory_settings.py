"""Batch size, optimizer and memory budget: view settings shared by the inspector and
the memory panel of one document.

They describe how the network would be trained, not the network, so they are
remembered in QSettings and never become undo steps.
"""

from __future__ import annotations

import math

from PySide6 import QtCore

from engine.config import MAX_BATCH_SIZE
from engine.optim import OPTIMIZERS
from engine.shapes import BUDGET_PRESETS_GIB, GIB

PRESETS: tuple[str, ...] = tuple(str(g) for g in BUDGET_PRESETS_GIB)
CUSTOM, GPU = "custom", "gpu"


def query_gpu_free_memory() -> tuple[int | None, str]:
    """Free bytes on the GPU CuPy sees, or None and the reason there is none."""
    try:
        from engine.backend import gpu_free_memory
    except ImportError:
        return None, "GPU support is not part of this installation."
    try:
        free = gpu_free_memory()
    except Exception as error:  # a CUDA driver error must not stop the designer from opening
        return None, f"The GPU's free memory could not be read: {error}"
    if free is None:
        return None, "No GPU found: install CuPy (pip install cupy-cuda12x) on a machine with CUDA."
    return free, ""


class MemorySettings(QtCore.QObject):
    """The training settings the memory figures are computed for; emits `changed`."""

    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("memory_settings")
        store = QtCore.QSettings()
        store.beginGroup("memory")
        self._batch = min(max(_stored(store, "batch_size", int, 32), 1), MAX_BATCH_SIZE)
        self._optimizer = str(store.value("optimizer", "momentum"))
        if self._optimizer not in OPTIMIZERS:
            self._optimizer = "momentum"
        self._budget = str(store.value("budget", PRESETS[0]))
        self._custom_gib = max(_stored(store, "custom_gib", float, 8.0), 0.1)
        store.endGroup()
        self.gpu_free, self.gpu_reason = query_gpu_free_memory()
        if self._budget not in (*PRESETS, CUSTOM, GPU) or (
                self._budget == GPU and self.gpu_free is None):
            self._budget = PRESETS[0]

    def _store(self, key: str, value) -> None:
        QtCore.QSettings().setValue(f"memory/{key}", value)
        self.changed.emit()

    @property
    def batch_size(self) -> int:
        return self._batch

    def set_batch_size(self, n: int) -> None:
        n = min(max(int(n), 1), MAX_BATCH_SIZE)
        if n != self._batch:
            self._batch = n
            self._store("batch_size", n)

    @property
    def optimizer(self) -> str:
        return self._optimizer

    def set_optimizer(self, name: str) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        if name != self._optimizer:
            self._optimizer = name
            self._store("optimizer", name)

    @property
    def budget(self) -> str:
        """A preset in GiB ("4", "6", "12"), "custom" or "gpu"."""
        return self._budget

    def set_budget(self, key: str) -> None:
        if key not in (*PRESETS, CUSTOM, GPU):
            raise ValueError(f"unknown budget {key!r}")
        if key == GPU:
            self.gpu_free, self.gpu_reason = query_gpu_free_memory()
            if self.gpu_free is None:
                key = PRESETS[0] if self._budget == GPU else self._budget
        if key != self._budget or key == GPU:
            self._budget = key
            self._store("budget", key)

    @property
    def custom_gib(self) -> float:
        return self._custom_gib

    def set_custom_gib(self, gib: float) -> None:
        gib = max(float(gib), 0.1)
        if gib != self._custom_gib:
            self._custom_gib = gib
            self._store("custom_gib", gib)

    @property
    def budget_bytes(self) -> int:
        if self._budget == GPU:
            return self.gpu_free
        if self._budget == CUSTOM:
            return int(self._custom_gib * GIB)
        return int(self._budget) * GIB


def _stored(store: QtCore.QSettings, key: str, kind: type, default):
    """A number kept in the settings file, or `default` where the file holds something else
    (edited by hand, or by another version): a bad value must not keep the window shut."""
    try:
        value = kind(store.value(key, default))
    except (TypeError, ValueError, OverflowError):
        return default
    return value if math.isfinite(value) else default


def memory_settings(document: QtCore.QObject) -> MemorySettings:
    """The settings shared by every view of `document`, created on first use."""
    found = document.findChild(MemorySettings, "memory_settings")
    return found if found is not None else MemorySettings(document)
