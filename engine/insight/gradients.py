"""Gradients of one forward pass in evaluation mode: how a unit or a class score depends on
the input, or on the output of a layer below it.

The pass runs the layers' own forward code, whose backprop closures are the training's
backward pass, on arrays of its own (never the buffers of training steps). Its backward
pass also writes the parameter gradients; those are scratch between steps (the trainer
computes them afresh before every use), so answering between steps disturbs nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from engine.errors import ConvNetError
from engine.model import Model
from engine.run import Run


class InsightError(ConvNetError):
    """A question about a network that has no answer, e.g. a unit outside its layer."""


@dataclass(frozen=True)
class Gradients:
    """What one pass gives: the top layer's output, the gradient on the input (None when not
    asked), and a copy of one layer's output with the gradient on it (None when not asked)."""

    output: Any
    on_input: Any | None
    kept: Any | None
    on_kept: Any | None


def gradients(model: Model, x: Any, top: int, seed: Callable[[Any], Any],
              keep: int | None = None, to_input: bool = True) -> Gradients:
    """Run hidden layers 0…`top` of `model` on x (N, H, W, D) in evaluation mode and send
    `seed(output)`, the gradient on layer `top`'s output, back down: to the input, and/or
    to the output of hidden layer `keep` (a copy of which is kept before anything above
    could overwrite it)."""
    backprops, kept = [], None
    for k, layer in enumerate(model.layers[:top + 1]):
        x, backprop = layer.forward(x, train=False)
        backprops.append(backprop)
        if k == keep:
            kept = x.copy()
    grad, on_kept = seed(x), None
    with _input_gradients(model):
        for k in range(top, -1, -1):
            if k == keep:
                on_kept = grad.copy()  # the layer's backprop may overwrite it
                if not to_input:
                    break
            grad = backprops[k](grad)
    return Gradients(x, grad if to_input else None, kept, on_kept)


def one_hot(xp: Any, row: int, col: int, channel: int | None) -> Callable[[Any], Any]:
    """The seed (on array module `xp`) that picks unit (row, col, channel) of an output, or
    every channel at (row, col) when `channel` is None."""
    def seed(output: Any) -> Any:
        grad = xp.zeros_like(output)
        grad[0, row, col, slice(None) if channel is None else channel] = 1
        return grad
    return seed


@contextmanager
def _input_gradients(model: Model) -> Iterator[None]:
    """Training skips the gradient on the input of the first trained layer; this pass
    wants it."""
    skipping = [layer for layer in model.layers if not layer.input_grad]
    for layer in skipping:
        layer.input_grad = True
    try:
        yield
    finally:
        for layer in skipping:
            layer.input_grad = False


def model_input(run: Run, image: np.ndarray) -> Any:
    """One uint8 (H, W, D) image as the network sees it: normalised, a batch of one."""
    return run.backend.asarray(run.normalizer(image[None]))


def per_pixel(run: Run, on_input: Any) -> np.ndarray:
    """A gradient on the normalised input as one on the image's pixel values (H, W, D): the
    normaliser divides each pixel by its std, so the chain rule divides once more."""
    return run.backend.to_numpy(on_input)[0] / run.normalizer.std


def hidden_index(model: Model, layer_id: str) -> int:
    """The index in `model.layers` of a hidden layer, by id; one sentence if it is none."""
    for k, layer in enumerate(model.layers):
        if layer.id == layer_id:
            return k
    names = {layer.id: layer.name for layer in model.spec.layers}
    what = f"'{names[layer_id]}'" if layer_id in names else "That layer"
    raise InsightError(f"{what} is not a hidden layer of '{model.spec.name}'; pick a layer "
                       "between the input and the loss.")
