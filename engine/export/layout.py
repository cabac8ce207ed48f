"""Our layout translated to PyTorch's and ONNX's, and back: the one home of these facts.

- Arrays: ours are NHWC; theirs NCHW.
- Convolution filters: ours (F, F, D1, K), HWIO; theirs (K, D1, F, F), OIHW.
- A fully-connected layer flattens its input volume in H, W, D order here and in C, H, W
  order there, so its weight rows are permuted; ours is (inputs, units), theirs
  (units, inputs).
- Batch normalization: gamma and beta are PyTorch's `weight` and `bias`.
- The normaliser becomes two buffers shaped to broadcast over NCHW images: per channel
  (1, C, 1, 1) mean and std; the mean image (1, C, H, W) and one std (1, 1, 1, 1).
- A tensor is 4-D (N, C, H, W) until a fully-connected layer flattens it to (N, features);
  a window layer after that gets it back as (N, C, 1, 1). `plan` says where.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import numpy as np

from engine.data import Normalizer
from engine.shapes import Analysis, LayerInfo
from engine.spec import NetworkSpec, Volume

# Layers that need an (N, C, H, W) tensor; the others take whatever they are given.
WINDOW_TYPES = frozenset({"conv", "pool", "gap", "lrn"})
NORMALIZE = "normalize"  # the module and buffer prefix of the built-in normalisation


@dataclass(frozen=True)
class Step:
    """One layer of the exported model and the reshape its input needs first."""

    info: LayerInfo
    flatten: bool  # (N, C, H, W) → (N, C·H·W): a fully-connected layer after a volume
    unflatten: bool  # (N, C) → (N, C, 1, 1): a window layer after a fully-connected one
    flat: bool  # whether the output is (N, features)

    @property
    def layer(self):
        return self.info.layer


def plan(analysis: Analysis) -> tuple[list[Step], bool]:
    """The steps between the input and the loss, and whether the scores still need a
    flatten to (N, classes) at the end (a network ending in global average pooling)."""
    steps, flat = [], False
    for info in analysis.layers[1:-1]:
        t = info.layer.type
        flatten = t == "fc" and not flat
        unflatten = t in WINDOW_TYPES and flat
        flat = t == "fc" or (flat and t not in WINDOW_TYPES)
        steps.append(Step(info, flatten, unflatten, flat))
    return steps, not flat


def layer_arrays(info: LayerInfo, params: dict[str, np.ndarray],
                 buffers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A layer's arrays under PyTorch's names, in PyTorch's (and ONNX's) layout."""
    t = info.layer.type
    if t == "conv":
        return {"weight": _c(params["W"].transpose(3, 2, 0, 1)), "bias": _c(params["b"])}
    if t == "fc":
        v = info.input
        rows = params["W"].reshape(v.height, v.width, v.depth, -1).transpose(3, 2, 0, 1)
        return {"weight": _c(rows.reshape(rows.shape[0], -1)), "bias": _c(params["b"])}
    if t == "batchnorm":
        return {"weight": _c(params["gamma"]), "bias": _c(params["beta"]),
                "running_mean": _c(buffers["mean"]), "running_var": _c(buffers["var"])}
    return {}


def our_arrays(info: LayerInfo, arrays: dict[str, np.ndarray]
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The inverse of `layer_arrays`: our parameters and buffers of the layer."""
    t = info.layer.type
    if t == "conv":
        return {"W": _c(arrays["weight"].transpose(2, 3, 1, 0)), "b": _c(arrays["bias"])}, {}
    if t == "fc":
        v = info.input
        units = arrays["weight"].shape[0]
        w = arrays["weight"].reshape(units, v.depth, v.height, v.width).transpose(2, 3, 1, 0)
        return {"W": _c(w.reshape(v.size, units)), "b": _c(arrays["bias"])}, {}
    if t == "batchnorm":
        return ({"gamma": _c(arrays["weight"]), "beta": _c(arrays["bias"])},
                {"mean": _c(arrays["running_mean"]), "var": _c(arrays["running_var"])})
    return {}, {}


def normalizer_arrays(normalizer: Normalizer) -> dict[str, np.ndarray]:
    """The normaliser's mean and std shaped to broadcast over (N, C, H, W) images."""
    if normalizer.mode == "channel":
        return {"mean": _c(normalizer.mean.reshape(1, -1, 1, 1)),
                "std": _c(normalizer.std.reshape(1, -1, 1, 1))}
    return {"mean": _c(normalizer.mean.transpose(2, 0, 1)[None]),
            "std": _c(normalizer.std.reshape(1, 1, 1, 1))}


def normalizer_from(mean: np.ndarray, std: np.ndarray) -> Normalizer:
    """The inverse of `normalizer_arrays`: one std for the whole image means the mean-image
    mode (with a single value of each, the two modes are the same)."""
    if std.size < mean.size:
        return Normalizer("image", mean[0].transpose(1, 2, 0), std.reshape(1))
    return Normalizer("channel", mean.reshape(-1), std.reshape(-1))


def identity_normalizer(mode: str, volume: Volume) -> Normalizer:
    """A normaliser that changes nothing, for a network no data has been fitted to yet."""
    mean = np.zeros(volume.depth if mode == "channel" else
                    (volume.height, volume.width, volume.depth), np.float32)
    return Normalizer(mode, mean, np.ones(volume.depth if mode == "channel" else 1, np.float32))


def normalizer_shapes(mode: str, volume: Volume) -> dict[str, tuple[int, ...]]:
    """The shapes of `normalizer_arrays` for a mode and an input volume."""
    return {name: a.shape for name, a in
            normalizer_arrays(identity_normalizer(mode, volume)).items()}


def attribute_names(spec: NetworkSpec, reserved: set[str]) -> dict[str, str]:
    """Layer id → the Python attribute of the layer in the exported module: its name where
    that is an identifier nothing else uses, else the closest one that is."""
    taken = set(reserved) | {NORMALIZE}
    names = {}
    for layer in spec.layers[1:-1]:
        base = re.sub(r"\W", "_", layer.name).strip("_") or layer.type
        if base[0].isdigit() or keyword.iskeyword(base):
            base = f"{layer.type}_{base}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[layer.id] = name
    return names


def _c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)
