"""What a decision rests on: the saliency map |∂score_c/∂pixel| (Simonyan et al., 2014) and
Grad-CAM (Selvaraju et al., 2017) at a layer with maps, for one image and one class, from
one forward and one backward pass in evaluation mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.insight.gradients import (
    InsightError, gradients, hidden_index, model_input, one_hot, per_pixel,
)
from engine.losses import softmax_probabilities
from engine.model import Model
from engine.run import Run
from engine.spec import NetworkSpec


@dataclass(frozen=True)
class Explanation:
    """Why the network scores `class_index` as it does for one image."""

    probabilities: np.ndarray   # (C,) softmax of the scores
    class_index: int            # the class explained
    saliency: np.ndarray        # (H, W) |∂score/∂pixel|, the largest over the image's channels
    cam: np.ndarray | None      # (H, W) Grad-CAM in [0, 1]; None without a layer to take it at
    cam_layer: str | None       # the id of that layer

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))


def last_conv(spec: NetworkSpec) -> str | None:
    """Grad-CAM's usual layer: the last convolution (None if the network has none)."""
    convs = [layer.id for layer in spec.layers if layer.type == "conv"]
    return convs[-1] if convs else None


def class_gradients(model: Model, x: Any, class_index: int | None, cam_layer: int | None = None):
    """One pass from input x (1, H, W, D) to the class scores and back, seeded with
    ∂score_c/∂score = one-hot(c) (c: the best-scoring class when None): gives the scores,
    the gradient on x and, at hidden layer `cam_layer`, its output A and ∂score_c/∂A."""
    classes = model.analysis.output.depth
    if class_index is not None and not 0 <= class_index < classes:
        raise InsightError(f"There is no class {class_index}; the network has classes 0 to "
                           f"{classes - 1}.")

    def seed(scores: Any) -> Any:
        best = int(scores.reshape(-1).argmax()) if class_index is None else class_index
        return one_hot(model.xp, 0, 0, best)(scores)

    return gradients(model, x, len(model.layers) - 1, seed, keep=cam_layer)


def saliency_map(on_input: np.ndarray) -> np.ndarray:
    """|∂score/∂x| of a gradient (H, W, D) on the input, the largest over its channels."""
    return np.abs(on_input).max(axis=-1)


def grad_cam(maps: np.ndarray, on_maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Grad-CAM from a layer's maps A (h, w, K) and ∂score/∂A: each map weighted by the
    spatial mean of its gradient, summed, rectified, resized to height × width and scaled
    to [0, 1] (all zeros when nothing speaks for the class)."""
    weights = on_maps.mean(axis=(0, 1))
    cam = np.maximum(maps @ weights, 0)
    cam = resize(cam, height, width)
    peak = cam.max()
    return cam / peak if peak > 0 else np.zeros_like(cam)


def resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w) map resized bilinearly to height × width, pixel centres aligned."""
    return _interpolation(height, a.shape[0]) @ a @ _interpolation(width, a.shape[1]).T


def _interpolation(n: int, m: int) -> np.ndarray:
    """The (n, m) matrix that samples m values at n evenly spread centres, linearly."""
    at = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
    low = np.floor(at).astype(int)
    high = np.minimum(low + 1, m - 1)
    matrix = np.zeros((n, m))
    matrix[np.arange(n), low] += 1 - (at - low)
    matrix[np.arange(n), high] += at - low
    return matrix


def explain(run: Run, image: np.ndarray, class_index: int | None = None,
            cam_layer: str | None = None) -> Explanation:
    """Saliency and Grad-CAM of one uint8 (H, W, D) image for `class_index` (None: the class
    the network predicts), Grad-CAM at `cam_layer` (None: the last convolution)."""
    model, backend = run.model, run.backend
    cam_layer = cam_layer or last_conv(run.spec)
    keep = None if cam_layer is None else hidden_index(model, cam_layer)
    passed = class_gradients(model, model_input(run, image), class_index, keep)
    scores = passed.output.reshape(1, -1)
    probabilities = backend.to_numpy(softmax_probabilities(backend.xp, scores))[0]
    if class_index is None:
        class_index = int(probabilities.argmax())
    h, w = image.shape[:2]
    cam = None if keep is None else grad_cam(backend.to_numpy(passed.kept)[0],
                                             backend.to_numpy(passed.on_kept)[0], h, w)
    return Explanation(probabilities.astype(np.float32), class_index,
                       saliency_map(per_pixel(run, passed.on_input)), cam, cam_layer)
