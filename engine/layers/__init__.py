"""Layer implementations, one module per kind; `make_layer` builds one from its analysis."""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.layers.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from engine.layers.base import Layer
from engine.layers.conv import Conv
from engine.layers.dense import Dense
from engine.layers.dropout import Dropout
from engine.layers.norm import BatchNorm, LocalResponseNorm
from engine.layers.params import buffer_shapes, parameter_shapes
from engine.layers.pool import GlobalAveragePool, Pool
from engine.shapes import LayerInfo

_PLAIN = {
    "pool": Pool, "gap": GlobalAveragePool, "relu": ReLU, "leaky_relu": LeakyReLU,
    "tanh": Tanh, "sigmoid": Sigmoid, "batchnorm": BatchNorm, "lrn": LocalResponseNorm,
}


def make_layer(info: LayerInfo, backend: Backend, rng: np.random.Generator,
               relu_follows: bool = False) -> Layer:
    """The layer for one analysed spec entry; weights are drawn from `rng`."""
    t = info.layer.type
    if t == "conv":
        return Conv(info, backend, rng, relu_follows)
    if t == "fc":
        return Dense(info, backend, rng, relu_follows)
    if t == "dropout":
        return Dropout(info, backend, rng)
    return _PLAIN[t](info, backend)


__all__ = ["Layer", "buffer_shapes", "make_layer", "parameter_shapes"]
