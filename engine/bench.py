"""Per-layer forward and backward timing of one training step, for `main.py bench`, with
the arithmetic rate each layer achieves: 2 floating-point operations per multiply-add."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.backend import Backend
from engine.config import TrainConfig
from engine.model import build
from engine.optim import Optimizer
from engine.run import check_memory
from engine.shapes import analyse
from engine.spec import NetworkSpec


@dataclass(frozen=True)
class LayerTiming:
    name: str
    type: str
    output: str
    forward_s: float
    backward_s: float | None  # None below the first trained layer (no backward pass there)
    forward_macs: int  # multiply-adds of the whole batch
    backward_macs: int  # the weight gradient's, plus the input gradient's where there is one

    @property
    def forward_gflops(self) -> float | None:
        return _gflops(self.forward_macs, self.forward_s)

    @property
    def backward_gflops(self) -> float | None:
        return _gflops(self.backward_macs, self.backward_s)


def total(layers: list[LayerTiming]) -> LayerTiming:
    """The whole network's timing: the layers' times and multiply-adds summed."""
    return LayerTiming("total", "", "", sum(t.forward_s for t in layers),
                       sum(t.backward_s or 0.0 for t in layers),
                       sum(t.forward_macs for t in layers), sum(t.backward_macs for t in layers))


def _gflops(macs: int, seconds: float | None) -> float | None:
    """Achieved GFLOP/s (2 operations per multiply-add), or None for a layer without
    multiply-adds or without that pass."""
    if not macs or not seconds:
        return None
    return 2 * macs / seconds / 1e9


@dataclass(frozen=True)
class BenchResult:
    batch_size: int
    device: str
    layers: list[LayerTiming]
    step_s: float  # median full training step: forward, loss, backward, SGD update

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.step_s


def benchmark(spec: NetworkSpec, batch_size: int, backend: Backend, repeats: int = 5,
              seed: int = 0, check: Callable[[], None] = lambda: None) -> BenchResult:
    """Median times over `repeats` steps on random inputs, after one warm-up step; `check`
    runs between steps (a background task's `TaskState.check`, to be cancelled)."""
    analysis = analyse(spec)
    if analysis.valid:  # else build() below explains the first error
        check_memory(analysis, TrainConfig(batch_size=batch_size, optimizer="sgd"), backend)
    model = build(spec, backend, seed)
    optimizer = Optimizer("sgd", backend)
    rng = np.random.default_rng(seed)
    volume = spec.input_volume
    shape = (batch_size, volume.height, volume.width, volume.depth)
    x = backend.asarray(rng.standard_normal(shape, dtype=np.float32))
    classes = model.analysis.output.depth
    labels = backend.asarray(rng.integers(0, classes, batch_size), np.int64)

    def clock() -> float:
        backend.synchronize()
        return time.perf_counter()

    model.train_step(x.copy(), labels)
    arrays = model.step_arrays(batch_size, x.dtype)
    forward = [[] for _ in model.layers]
    backward = [[] for _ in model.layers]
    steps = []
    for _ in range(repeats):
        check()
        out, backprops = x.copy(), []
        for i, layer in enumerate(model.layers):
            start = clock()
            out, backprop = layer.forward(out, True, arrays[i])
            forward[i].append(clock() - start)
            backprops.append(backprop)
        _, grad = model.loss(out.reshape(batch_size, -1), labels)
        grad = grad.reshape(out.shape)
        for i in reversed(range(model.first_trained, len(model.layers))):
            start = clock()
            grad = backprops[i](grad)
            backward[i].append(clock() - start)
        del backprops, out, grad
        start = clock()
        model.train_step(x.copy(), labels)
        optimizer.step(model.store.values, model.store.grads, 1e-6)
        steps.append(clock() - start)
    infos = analysis.layers[1:-1]
    layers = [
        LayerTiming(layer.spec.name, layer.spec.type, str(layer.output),
                    statistics.median(f), statistics.median(b) if b else None,
                    batch_size * info.macs,
                    batch_size * info.macs * (2 if layer.input_grad else 1) if b else 0)
        for layer, info, f, b in zip(model.layers, infos, forward, backward)
    ]
    return BenchResult(batch_size, backend.name, layers, statistics.median(steps))
