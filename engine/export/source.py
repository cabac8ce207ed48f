"""What an export starts from: a run (its trained weights, batch-norm statistics,
normaliser, classes and settings) or a network file (fresh initial weights, as a new run
would draw them, and a normaliser that changes nothing until data is fitted)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.backend import NUMPY
from engine.config import TrainConfig
from engine.data import Normalizer
from engine.export.layout import identity_normalizer
from engine.model import Model, build
from engine.run import Run
from engine.shapes import Analysis
from engine.spec import NetworkSpec


@dataclass(frozen=True)
class Source:
    spec: NetworkSpec
    analysis: Analysis
    params: dict[str, dict[str, np.ndarray]]  # layer id → our name → array
    buffers: dict[str, dict[str, np.ndarray]]
    normalizer: Normalizer
    fitted: bool  # whether the normaliser was fitted on training images
    class_names: list[str]
    config: TrainConfig
    data_source: str | None  # what load_data takes; None: the embedded digits
    history: dict[str, list]
    epochs: int = 0  # epochs trained
    # the optimizer's cache: per slot, like `params`; and its updates so far (Adam's count)
    slots: tuple[dict[str, dict[str, np.ndarray]], ...] = ()
    updates: int = 0
    offset: int = 0  # images of the epoch in progress trained on
    running: tuple[float, int, int] = (0.0, 0, 0)  # over those: loss · images, correct, images

    @classmethod
    def of_run(cls, run: Run) -> "Source":
        params, buffers = _arrays(run.model)
        cache = run.optimizer.state(run.model.store)  # "layer id/name/slot"
        slots = tuple({layer.id: {name: np.array(cache[f"{layer.id}/{name}/{i}"])
                                  for name in layer.params}
                       for layer in run.model.layers}
                      for i in range(len(run.optimizer.slots)))
        r = run.running
        return cls(run.spec, run.model.analysis, params, buffers, run.normalizer, True,
                   list(run.class_names), run.config, run.data_source, run.history,
                   run.epoch, slots, run.optimizer.steps, run.offset,
                   (r["loss"], r["correct"], r["seen"]))

    @classmethod
    def of_network(cls, spec: NetworkSpec, config: TrainConfig | None = None) -> "Source":
        config = config or TrainConfig()
        model = build(spec, NUMPY, np.random.default_rng(config.seed))  # as Run.start draws
        params, buffers = _arrays(model)
        classes = model.analysis.output.depth
        return cls(spec, model.analysis, params, buffers,
                   identity_normalizer(config.normalization, spec.input_volume), False,
                   [str(i) for i in range(classes)], config, None, {})


def _arrays(model: Model) -> tuple[dict, dict]:
    to_numpy = model.backend.to_numpy
    params = {layer.id: {k: np.array(to_numpy(v)) for k, v in layer.params.items()}
              for layer in model.layers}
    buffers = {layer.id: {k: np.array(to_numpy(v)) for k, v in layer.buffers.items()}
               for layer in model.layers}
    return params, buffers
