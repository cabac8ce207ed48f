"""A trainable model built from a `NetworkSpec`: the layer stack plus its loss.

Every layer is sized by `engine.shapes.analyse`, and every forward pass checks that
the volume a layer produced is the one the analysis promised. In training the layers
write into the buffers of the analysis's plan (`engine.plan`), allocated once for the
largest batch seen, so a step allocates nothing new and holds exactly what the memory
model counts.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

import numpy as np

from engine.backend import Backend
from engine.errors import ConvNetError
from engine.init import relu_follows
from engine.layers import Layer, make_layer
from engine.layers.base import Backprop
from engine.losses import softmax_loss, softmax_probabilities, svm_loss
from engine.parameters import ParameterStore
from engine.plan import Arrays, StepBuffers
from engine.shapes import Analysis, analyse
from engine.spec import NetworkSpec


class Observer(Protocol):
    """Watches a training step from inside (e.g. `engine.insight.health.HealthMonitor`).
    It is shown arrays as the layers hold them in training: (N, H, W, D), whose pixels a
    layer with `output_order` F > 1 keeps in window order (`engine.plan.window_orders`;
    `engine.layers.base.nhwc_view` reads them in NHWC). Copying them into NHWC for every
    observed step cost 1.5% of the reference network's training."""

    def output(self, layer: Layer, y: Any) -> None: ...

    def gradient(self, layer: Layer, dy: Any) -> None: ...


class ModelError(ConvNetError):
    """The network cannot be built, e.g. because a layer does not fit its input."""


class Model:
    """Layers on one backend; parameters are keyed "layer_id/name" (e.g. "a1b2c3/W") and
    live in `store`, one flat buffer with their gradients in another."""

    def __init__(self, spec: NetworkSpec, backend: Backend, rng: np.random.Generator):
        analysis = analyse(spec)
        if analysis.network_error:
            raise ModelError(analysis.network_error)
        if analysis.errors:
            bad = analysis.errors[0]
            raise ModelError(f"The network cannot be trained: layer '{bad.layer.name}': "
                             f"{bad.error}.")
        self.spec: NetworkSpec = spec
        self.analysis: Analysis = analysis
        self.backend = backend
        self.xp = backend.xp
        self.layers: list[Layer] = [
            make_layer(info, backend, rng, relu_follows(spec, info.index))
            for info in analysis.layers[1:-1]
        ]
        self.loss_layer = spec.layers[-1]
        self.store = ParameterStore(self.xp, self.layers)
        self.plan = analysis.plan
        for layer, above, planned in zip(self.layers, self.layers[1:], self.plan.layers):
            if planned.relu_left_to_pool:
                layer.left_to_pool = above.relu_below = True
            layer.output_order = above.input_order = planned.window_order
        # Nothing below the first trained layer needs a gradient, so backward stops there.
        self.first_trained = self.plan.first_trained
        if self.first_trained < len(self.layers):
            self.layers[self.first_trained].input_grad = False
        self._buffers: StepBuffers | None = None

    def layer(self, layer_id: str) -> Layer:
        for layer in self.layers:
            if layer.id == layer_id:
                return layer
        raise KeyError(layer_id)

    def step_arrays(self, batch: int, dtype: Any) -> list[Arrays]:
        """Each layer's views of the plan's buffers for a training step on `batch` images;
        they are allocated when the batch is larger than any before (or of another dtype)."""
        held = self._buffers
        if held is None or batch > held.batch or dtype != held.dtype:
            self._buffers = None  # the old buffers go before the new ones are allocated
            self._buffers = StepBuffers(self.plan, self.xp, batch, dtype)
        return self._buffers.layers

    def forward(self, x: Any, train: bool, upto: str | None = None,
                observer: Observer | None = None) -> tuple[Any, list[Backprop]]:
        """Run the layers on x (N, H, W, D), stopping after layer `upto` if given; the
        backprop closures (training only) run in reverse order give the backward pass.
        In evaluation each layer's arrays go as soon as the next layer is done with them.
        `observer` sees each layer's output before the next layer may overwrite it."""
        backprops = []
        arrays = self.step_arrays(len(x), x.dtype) if train else [None] * len(self.layers)
        for layer, planned in zip(self.layers, arrays):
            x, backprop = layer.forward(x, train, planned)
            expected = (layer.output.height, layer.output.width, layer.output.depth)
            if tuple(x.shape[1:]) != expected:
                raise AssertionError(f"layer '{layer.spec.name}' produced {x.shape[1:]} "
                                     f"but the analysis says {expected}")
            if train:
                backprops.append(backprop)
            if observer is not None:
                observer.output(layer, x)
            if layer.id == upto:
                break
        return x, backprops

    def scores(self, x: Any) -> Any:
        """Class scores (N, C) in evaluation mode."""
        out, _ = self.forward(x, train=False)
        return out.reshape(out.shape[0], -1)

    def probabilities(self, x: Any) -> Any:
        return softmax_probabilities(self.xp, self.scores(x))

    def loss(self, scores: Any, labels: Any) -> tuple[float, Any]:
        """The data loss of the network's loss layer and its gradient on the scores."""
        if self.loss_layer.type == "svm":
            return svm_loss(self.xp, scores, labels, self.loss_layer["margin"])
        return softmax_loss(self.xp, scores, labels)

    def train_step(self, x: Any, labels: Any,
                   observer: Observer | None = None) -> tuple[float, Any]:
        """Forward in training mode, loss, and backward: fills every layer's `grads`.
        Returns the data loss and the scores (N, C). `observer` sees each layer's output,
        and the gradient on it before the layer's backward pass (which may overwrite it)."""
        out, backprops = self.forward(x, train=True, observer=observer)
        scores = out.reshape(out.shape[0], -1)
        loss, grad = self.loss(scores, labels)
        grad = grad.reshape(out.shape)
        trained = range(self.first_trained, len(self.layers))
        for i, backprop in reversed(list(zip(trained, backprops[self.first_trained:]))):
            if observer is not None:
                observer.gradient(self.layers[i], grad)
            grad = backprop(grad)
        return loss, scores

    def parameters(self) -> Iterator[tuple[str, Any, Any]]:
        """(key, value, gradient) for every trained array."""
        for layer in self.layers:
            for name, value in layer.params.items():
                yield f"{layer.id}/{name}", value, layer.grads[name]

    def buffers(self) -> Iterator[tuple[str, Any]]:
        """(key, value) for state that is not trained (batch-norm running statistics)."""
        for layer in self.layers:
            for name, value in layer.buffers.items():
                yield f"{layer.id}/{name}", value


def build(spec: NetworkSpec, backend: Backend, seed: int | np.random.Generator = 0) -> Model:
    """A model for `spec` on `backend` with weights drawn from `seed` (or a generator)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return Model(spec, backend, rng)
