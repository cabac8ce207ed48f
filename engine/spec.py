"""The network model: an immutable stack of layer specs and the layer catalogue.

A `NetworkSpec` is the one source of truth for a network. The canvas draws it,
`engine.shapes` analyses it, `engine.model` builds arrays from it and
`engine.netfile` stores it. Every edit makes a new spec; nothing mutates one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class ParamDef:
    """One hyperparameter of a layer type: its default, kind, range and meaning."""

    name: str
    label: str
    default: Any
    kind: type  # int, float or str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    help: str = ""


@dataclass(frozen=True)
class LayerType:
    """An entry of the layer catalogue, grouped as the course notes group them."""

    key: str
    title: str
    group: str
    symbol: str
    description: str
    params: tuple[ParamDef, ...] = ()

    def param(self, name: str) -> ParamDef:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def _size(default: int, label: str, help_: str) -> ParamDef:
    return ParamDef(label.lower(), label, default, int, 1, 4096, unit="px", help=help_)


_F = "spatial extent F of each filter (F×F)"
_S = "stride S: how far the window moves between outputs"
_P = "zero-padding P added on every border"

CATALOGUE: dict[str, LayerType] = {
    t.key: t
    for t in (
        LayerType(
            "input", "Input", "Input", "INPUT",
            "Holds the raw pixel values of the image: a volume of width W, height H "
            "and depth D (3 for RGB).",
            (
                ParamDef("width", "Width W", 32, int, 1, 4096, unit="px"),
                ParamDef("height", "Height H", 32, int, 1, 4096, unit="px"),
                ParamDef("depth", "Depth D", 3, int, 1, 4096, unit="channels"),
            ),
        ),
        LayerType(
            "conv", "Convolution", "Conv", "CONV",
            "Computes the output of neurons connected to local regions of the input: "
            "K filters of F×F×D1, slid with stride S over the input padded by P. "
            "W2=(W1−F+2P)/S+1, D2=K; F·F·D1·K weights and K biases.",
            (
                ParamDef("filters", "Filters K", 32, int, 1, 65536, unit="filters",
                         help="number of filters K: the depth of the output volume"),
                ParamDef("size", "Size F", 3, int, 1, 1024, unit="px", help=_F),
                ParamDef("stride", "Stride S", 1, int, 1, 1024, unit="px", help=_S),
                ParamDef("pad", "Padding P", 1, int, 0, 1024, unit="px", help=_P),
            ),
        ),
        LayerType(
            "pool", "Pooling", "Pool", "POOL",
            "Downsamples every depth slice independently with MAX (or average) over "
            "F×F windows at stride S. W2=(W1−F+2P)/S+1, D2=D1; no parameters.",
            (
                ParamDef("mode", "Mode", "max", str, choices=("max", "avg"),
                         help="max or average over each window"),
                ParamDef("size", "Size F", 2, int, 1, 1024, unit="px", help=_F),
                ParamDef("stride", "Stride S", 2, int, 1, 1024, unit="px", help=_S),
                ParamDef("pad", "Padding P", 0, int, 0, 1024, unit="px", help=_P),
            ),
        ),
        LayerType(
            "gap", "Global average pool", "Pool", "GAP",
            "Averages each depth slice over the whole width and height (the notes' "
            "'averaging on top'): W1×H1×D1 becomes 1×1×D1; no parameters.",
        ),
        LayerType(
            "relu", "ReLU", "Activations", "RELU",
            "Applies max(0, x) elementwise; leaves the volume's size unchanged.",
        ),
        LayerType(
            "leaky_relu", "Leaky ReLU", "Activations", "LRELU",
            "Applies x if x>0 else α·x elementwise, so units never die completely.",
            (ParamDef("slope", "Slope α", 0.01, float, 0.0, 1.0,
                      help="slope α for negative inputs"),),
        ),
        LayerType(
            "tanh", "Tanh", "Activations", "TANH",
            "Squashes each value into [−1, 1] with tanh(x); zero-centred.",
        ),
        LayerType(
            "sigmoid", "Sigmoid", "Activations", "SIGM",
            "Squashes each value into [0, 1] with 1/(1+e^−x).",
        ),
        LayerType(
            "batchnorm", "Batch normalization", "Normalization", "BN",
            "Normalises each depth slice to zero mean and unit variance over the batch, "
            "then scales and shifts it: 2·D learnable parameters.",
            (
                ParamDef("momentum", "Momentum", 0.9, float, 0.0, 0.9999,
                         help="running-average momentum of the statistics used in evaluation"),
                ParamDef("eps", "Epsilon", 1e-5, float, 1e-12, 1.0,
                         help="added to the variance to avoid division by zero"),
            ),
        ),
        LayerType(
            "lrn", "Local response normalization", "Normalization", "LRN",
            "AlexNet's normalization across n neighbouring depth slices: "
            "x / (k + α/n·Σx²)^β; no parameters.",
            (
                ParamDef("size", "Size n", 5, int, 1, 1023, unit="channels",
                         help="number of neighbouring depth slices n"),
                ParamDef("alpha", "Alpha α", 1e-4, float, 0.0, 10.0),
                ParamDef("beta", "Beta β", 0.75, float, 0.0, 10.0),
                ParamDef("k", "k", 2.0, float, 0.0, 100.0),
            ),
        ),
        LayerType(
            "fc", "Fully-connected", "Fully-connected", "FC",
            "Every output neuron connects to all activations of the previous volume, "
            "flattened: inputs·outputs weights and outputs biases; produces 1×1×outputs.",
            (ParamDef("units", "Outputs", 10, int, 1, 1_000_000, unit="neurons",
                      help="number of output neurons (the class count for the last one)"),),
        ),
        LayerType(
            "dropout", "Dropout", "Dropout", "DROP",
            "During training keeps each activation with probability 1−p and scales it "
            "by 1/(1−p) (inverted dropout); does nothing in evaluation.",
            (ParamDef("p", "Drop rate p", 0.5, float, 0.0, 0.99,
                      help="probability of dropping an activation"),),
        ),
        LayerType(
            "softmax", "Softmax loss", "Loss", "SOFTMAX",
            "Turns the class scores into probabilities and computes the cross-entropy "
            "loss −log(p_correct).",
        ),
        LayerType(
            "svm", "SVM loss", "Loss", "SVM",
            "Multiclass SVM (hinge) loss: Σ max(0, s_j − s_correct + Δ) over wrong classes.",
            (ParamDef("margin", "Margin Δ", 1.0, float, 0.0, 100.0),),
        ),
    )
}

GROUPS: tuple[str, ...] = (
    "Input", "Conv", "Pool", "Activations", "Normalization", "Fully-connected", "Dropout", "Loss",
)
ACTIVATION_TYPES = frozenset({"relu", "leaky_relu", "tanh", "sigmoid"})
LOSS_TYPES = frozenset({"softmax", "svm"})


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class LayerSpec:
    """One layer: a stable id, a user-visible name, a catalogue type and its hyperparameters."""

    type: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def kind(self) -> LayerType:
        return CATALOGUE[self.type]

    def with_params(self, **changes: Any) -> "LayerSpec":
        return replace(self, params={**self.params, **changes})

    def renamed(self, name: str) -> "LayerSpec":
        return replace(self, name=name)


def make_layer(type_: str, name: str | None = None, **params: Any) -> LayerSpec:
    """A new layer of a catalogue type with its defaults, overridden by `params`."""
    kind = CATALOGUE[type_]
    unknown = set(params) - set(kind.defaults)
    if unknown:
        raise KeyError(f"{kind.title} has no hyperparameter {sorted(unknown)[0]!r}")
    return LayerSpec(type_, name or type_, {**kind.defaults, **params})


@dataclass(frozen=True)
class Volume:
    """A W×H×D volume, written as the notes write it."""

    width: int
    height: int
    depth: int

    @property
    def size(self) -> int:
        return self.width * self.height * self.depth

    def __str__(self) -> str:
        return f"{self.width}×{self.height}×{self.depth}"


@dataclass(frozen=True)
class NetworkSpec:
    """An ordered stack of layers, the first of which should be the Input layer."""

    layers: tuple[LayerSpec, ...] = ()
    name: str = "Untitled"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    @property
    def input_volume(self) -> Volume | None:
        if self.layers and self.layers[0].type == "input":
            p = self.layers[0].params
            return Volume(p["width"], p["height"], p["depth"])
        return None

    def index_of(self, layer_id: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise KeyError(f"no layer with id {layer_id!r}")

    def layer(self, layer_id: str) -> LayerSpec:
        return self.layers[self.index_of(layer_id)]

    def inserted(self, index: int, layers: Iterable[LayerSpec]) -> "NetworkSpec":
        items = list(self.layers)
        items[index:index] = list(layers)
        return replace(self, layers=tuple(items))

    def removed(self, layer_ids: Iterable[str]) -> "NetworkSpec":
        gone = set(layer_ids)
        return replace(self, layers=tuple(l for l in self.layers if l.id not in gone))

    def replaced(self, layer: LayerSpec) -> "NetworkSpec":
        i = self.index_of(layer.id)
        return replace(self, layers=self.layers[:i] + (layer,) + self.layers[i + 1:])

    def moved(self, layer_ids: Iterable[str], index: int) -> "NetworkSpec":
        """Move the given layers, kept in their order, so they start at `index` of the result.

        `index` counts positions in the current stack (an insertion gap before layer
        `index`), which is what a drop between two cards names.
        """
        ids = set(layer_ids)
        moving = [l for l in self.layers if l.id in ids]
        before = sum(1 for l in self.layers[:index] if l.id in ids)
        rest = [l for l in self.layers if l.id not in ids]
        at = index - before
        return replace(self, layers=tuple(rest[:at] + moving + rest[at:]))

    def renamed(self, name: str) -> "NetworkSpec":
        return replace(self, name=name)

    def unique_name(self, base: str) -> str:
        """`base` numbered so that no layer of this network has that name yet."""
        taken = {l.name for l in self.layers}
        n = 1
        while f"{base}{n}" in taken:
            n += 1
        return f"{base}{n}"


def network(name: str, input_volume: tuple[int, int, int], *layers: LayerSpec) -> NetworkSpec:
    """A network from an input volume (W, H, D) and a stack of layers."""
    w, h, d = input_volume
    return NetworkSpec((make_layer("input", "input", width=w, height=h, depth=d), *layers), name)
