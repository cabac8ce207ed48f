"""The shapes of each layer's arrays, from its analysis: what a layer allocates and what a
saved run must hold for it."""

from __future__ import annotations

from engine.shapes import LayerInfo


def parameter_shapes(info: LayerInfo) -> dict[str, tuple[int, ...]]:
    """The shapes of a layer's trained arrays: conv W (F, F, D1, K) and b (K,), fc W
    (inputs, outputs) and b, batch norm's gamma and beta (D,)."""
    t, v = info.layer.type, info.input
    if t == "conv":
        f, k = info.layer["size"], info.layer["filters"]
        return {"W": (f, f, v.depth, k), "b": (k,)}
    if t == "fc":
        units = info.layer["units"]
        return {"W": (v.size, units), "b": (units,)}
    if t == "batchnorm":
        return {"gamma": (v.depth,), "beta": (v.depth,)}
    return {}


def buffer_shapes(info: LayerInfo) -> dict[str, tuple[int, ...]]:
    """The shapes of a layer's state that is not trained: batch norm's running statistics."""
    if info.layer.type == "batchnorm":
        return {"mean": (info.input.depth,), "var": (info.input.depth,)}
    return {}
