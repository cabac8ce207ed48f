"""Shape arithmetic of the course notes, in pure integers: volumes, parameters,
multiply-adds, receptive fields, errors with fixes, and the training-memory model.

The inspector shows these numbers and the engine sizes its arrays with the same
functions (`conv_output`, `analyse`), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from engine.spec import (
    ACTIVATION_TYPES, LOSS_TYPES, LayerSpec, NetworkSpec, Volume, make_layer,
)

BYTES_PER_FLOAT = 4  # float32 throughout
OPTIMIZER_STATE_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2}
GIB = 1024 ** 3
BUDGET_PRESETS_GIB = (4, 6, 12)  # the notes' typical GPU memory sizes


def output_size(w: int, f: int, s: int, p: int) -> Fraction:
    """The notes' W2 = (W1 − F + 2P)/S + 1, exactly (it may not be whole)."""
    return Fraction(w - f + 2 * p, s) + 1


def window_output(volume: Volume, f: int, s: int, p: int, depth: int) -> Volume:
    """Output volume of a valid F×F window layer (conv or pool) with output depth `depth`."""
    return Volume(int(output_size(volume.width, f, s, p)),
                  int(output_size(volume.height, f, s, p)), depth)


def window_fits(volume: Volume, f: int, s: int, p: int) -> bool:
    return all(
        (d - f + 2 * p) >= 0 and (d - f + 2 * p) % s == 0
        for d in (volume.width, volume.height)
    )


@dataclass(frozen=True)
class Fix:
    """A suggested change that makes a layer valid, applied to a spec as one edit."""

    text: str
    apply: Callable[[NetworkSpec], NetworkSpec] = field(compare=False)


@dataclass(frozen=True)
class LayerInfo:
    """Everything the inspector shows for one layer (counts per image)."""

    layer: LayerSpec
    index: int
    input: Volume | None
    output: Volume | None
    weights: int = 0
    biases: int = 0
    macs: int = 0
    receptive_field: int = 1
    jump: int = 1
    in_place: bool = False
    error: str | None = None
    fix: Fix | None = None

    @property
    def params(self) -> int:
        return self.weights + self.biases

    @property
    def activations(self) -> int:
        """Size of the layer's output volume (the number the table shows)."""
        return self.output.size if self.output else 0

    @property
    def allocated(self) -> int:
        """Floats of new activation memory per image: in-place layers add none."""
        return 0 if self.in_place else self.activations

    @property
    def workspace(self) -> int:
        """Floats per image, besides its output, that the layer keeps from its forward pass
        to its backward pass: a convolution's im2col matrix, batch norm's normalised input,
        LRN's scale, dropout's mask."""
        if self.output is None or self.input is None:
            return 0
        t = self.layer.type
        if t == "conv":
            f = self.layer["size"]
            return self.output.width * self.output.height * f * f * self.input.depth
        if t in ("batchnorm", "lrn", "dropout"):
            return self.output.size
        return 0

    @property
    def gradients(self) -> int:
        """Floats per image of gradients alive during this layer's backward pass: those
        of its output and its input, plus an output-sized temporary where the backward
        pass needs one (max pooling's routed share, the normalisations' corrections)."""
        if self.output is None or self.input is None:
            return 0
        temporary = self.layer.type in ("batchnorm", "lrn") or (
            self.layer.type == "pool" and self.layer["mode"] == "max")
        return self.output.size * (2 if temporary else 1) + self.input.size


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed to train one step at a batch size, split as the notes split it."""

    batch_size: int
    input_batch: int
    activations: int
    gradients: int
    parameters: int
    parameter_gradients: int
    optimizer_state: int
    workspace: int
    last_good: int  # the NaN guard's copy of the weights and optimizer cache

    PARTS = ("input_batch", "activations", "gradients", "parameters", "parameter_gradients",
             "optimizer_state", "workspace", "last_good")

    @property
    def total(self) -> int:
        return sum(getattr(self, n) for n in self.PARTS)

    def as_dict(self) -> dict[str, int]:
        return {"batch_size": self.batch_size, **{n: getattr(self, n) for n in self.PARTS},
                "bytes": self.total}


@dataclass(frozen=True)
class Analysis:
    """The per-layer analysis of a network plus totals and memory."""

    spec: NetworkSpec
    layers: tuple[LayerInfo, ...]
    network_error: str | None = None

    @property
    def errors(self) -> list[LayerInfo]:
        return [info for info in self.layers if info.error]

    @property
    def valid(self) -> bool:
        return self.network_error is None and not self.errors

    @property
    def output(self) -> Volume | None:
        return self.layers[-1].output if self.layers else None

    @property
    def total_params(self) -> int:
        return sum(i.params for i in self.layers)

    @property
    def total_activations(self) -> int:
        """Activations per image that need memory (input included, in-place layers not)."""
        return sum(i.allocated for i in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(i.macs for i in self.layers)

    def info(self, layer_id: str) -> LayerInfo:
        for i in self.layers:
            if i.layer.id == layer_id:
                return i
        raise KeyError(layer_id)

    def memory(self, batch_size: int, optimizer: str = "momentum") -> MemoryEstimate:
        """Training memory at float32 following the notes' "Computational considerations":
        every activation volume twice (values and gradients), the parameters with
        their gradients and the optimizer's cache, the input batch, and the im2col
        workspace.

        Counted the way the engine (`engine.model`) holds memory at the peak of a step:
        every output volume that is not computed in place is kept from the forward pass
        to the backward pass, together with each layer's workspace (im2col matrices and
        the like, see `LayerInfo.workspace`); the backward pass frees each gradient as
        soon as the layer below has used it, so only the largest pair of gradients
        (one layer's output and input, see `LayerInfo.gradients`) is alive at once. The
        trainer also keeps one copy of the weights and optimizer cache from before the
        last update, which its NaN guard restores (`engine.rollback`).
        """
        n, b = batch_size, BYTES_PER_FLOAT
        hidden = self.total_activations - (self.layers[0].allocated if self.layers else 0)
        input_floats = self.spec.input_volume.size if self.spec.input_volume else 0
        params = self.total_params
        return MemoryEstimate(
            batch_size=n,
            input_batch=n * input_floats * b,
            activations=n * hidden * b,
            gradients=n * max((i.gradients for i in self.layers), default=0) * b,
            parameters=params * b,
            parameter_gradients=params * b,
            optimizer_state=params * b * OPTIMIZER_STATE_COPIES[optimizer],
            last_good=params * b * (1 + OPTIMIZER_STATE_COPIES[optimizer]),
            workspace=n * sum(i.workspace for i in self.layers) * b,
        )

    def notes_rule_bytes(self, batch_size: int, optimizer: str = "momentum") -> int:
        """The notes' rule of thumb, for comparison with `memory`: every volume (input
        included, in-place activations not) twice, for values and gradients, plus the
        parameters, their gradients and the optimizer's cache, at float32."""
        b = BYTES_PER_FLOAT
        copies = 2 + OPTIMIZER_STATE_COPIES[optimizer]
        return 2 * batch_size * self.total_activations * b + self.total_params * b * copies

    def largest_batch(self, budget_bytes: int, optimizer: str = "momentum") -> int:
        """The largest batch size whose training memory fits in `budget_bytes` (0 if none)."""
        one, two = self.memory(1, optimizer).total, self.memory(2, optimizer).total
        per_image, fixed = two - one, 2 * one - two
        if per_image <= 0 or budget_bytes < one:
            return 0
        return (budget_bytes - fixed) // per_image


def format_bytes(n: int) -> str:
    """Bytes in binary units, the unit always named: 93.0 MiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _number(v: Fraction) -> str:
    text = f"{float(v):.4g}"
    return text.replace("-", "−")


def _window_error(layer: LayerSpec, volume: Volume) -> tuple[str, Fix] | None:
    """Why an F×F window layer does not fit `volume`, and the nearest changes that fit."""
    f, s, p = layer["size"], layer["stride"], layer["pad"]
    if window_fits(volume, f, s, p):
        return None
    square = volume.width == volume.height
    for dim, d in (("width", volume.width), ("height", volume.height)):
        w2 = output_size(d, f, s, p)
        if w2.denominator == 1 and w2 >= 1:
            continue
        where = "" if square else f"{dim}: "
        formula = f"{where}({d} − {f} + 2·{p})/{s} + 1 = {_number(w2)}"
        if w2 < 1:
            problem = (f"{formula} is not positive: the {f}×{f} window is larger than "
                       f"the padded {d}-pixel {dim}")
        else:
            problem = f"{formula} is not a whole number"
        break
    options = _window_fixes(volume, f, s, p)
    if not options:
        return problem + "; change the input size", None
    text = " or ".join(f"{_symbol(k)}={v}" for k, v in options[:2])
    key, value = options[0]
    lid = layer.id
    fix = Fix(f"set {_symbol(key)}={value}",
              lambda spec: spec.replaced(spec.layer(lid).with_params(**{key: value})))
    return f"{problem}; use {text}", fix


def _symbol(param: str) -> str:
    return {"size": "F", "stride": "S", "pad": "P"}[param]


def _window_fixes(volume: Volume, f: int, s: int, p: int) -> list[tuple[str, int]]:
    """Single-hyperparameter changes that make the window fit, nearest first
    (padding preferred, then stride, then filter size)."""
    limit = max(volume.width, volume.height) + 2 * p
    candidates = []
    for order, key, current, values in (
        (0, "pad", p, range(0, f // 2 + 1)),
        (1, "stride", s, range(1, max(f, s) + 1)),
        (2, "size", f, range(1, limit + 1)),
    ):
        for v in values:
            trial = {"size": f, "stride": s, "pad": p, key: v}
            if v != current and window_fits(volume, trial["size"], trial["stride"], trial["pad"]):
                candidates.append((abs(v - current), order, key, v))
    candidates.sort()
    seen: set[str] = set()
    best = []
    for _, _, key, v in candidates:
        if key not in seen:
            seen.add(key)
            best.append((key, v))
    return best


def _range_error(layer: LayerSpec) -> tuple[str, Fix] | None:
    for p in layer.kind.params:
        v = layer.params.get(p.name)
        if p.choices and v not in p.choices:
            bad, good, why = v, p.choices[0], f"must be one of {', '.join(p.choices)}"
        elif p.minimum is not None and not p.choices and v < p.minimum:
            bad, good, why = v, p.minimum, f"must be at least {p.minimum}"
        elif p.maximum is not None and not p.choices and v > p.maximum:
            bad, good, why = v, p.maximum, f"must be at most {p.maximum}"
        else:
            continue
        good = p.kind(good)
        lid, name = layer.id, p.name
        return (f"{p.label}={bad} is not allowed: it {why}; use {p.label.split()[-1]}={good}",
                Fix(f"set {p.label}={good}",
                    lambda spec: spec.replaced(spec.layer(lid).with_params(**{name: good}))))
    return None


def _insert_fix(text: str, index: int, layer: LayerSpec) -> Fix:
    return Fix(text, lambda spec: spec.inserted(index, [layer]))


def _remove_fix(text: str, layer_id: str) -> Fix:
    return Fix(text, lambda spec: spec.removed([layer_id]))


def _structure_error(spec: NetworkSpec, i: int, layer: LayerSpec) -> tuple[str, Fix] | None:
    """Errors of a layer's place in the stack, independent of volumes."""
    q = f"'{layer.name}'"
    if i == 0 and layer.type != "input":
        return (f"{q} is first, but a network must start with an Input layer; "
                "add an Input layer at the top",
                _insert_fix("add an Input layer at the top", 0, make_layer("input", "input")))
    if i > 0 and layer.type == "input":
        return (f"{q} is a second Input layer; a network has one input, at the top; remove it",
                _remove_fix(f"remove {q}", layer.id))
    losses = [j for j, l in enumerate(spec.layers) if l.type in LOSS_TYPES]
    if losses and i > losses[0]:
        loss = spec.layers[losses[0]]
        if layer.type in LOSS_TYPES:
            return (f"{q} is a second loss layer after '{loss.name}'; a network has one loss, "
                    "at the bottom; remove it", _remove_fix(f"remove {q}", layer.id))
        lid = loss.id
        return (f"{q} comes after the loss layer '{loss.name}'; the loss must be the last "
                f"layer; move '{loss.name}' to the bottom",
                Fix(f"move '{loss.name}' to the bottom",
                    lambda s: s.moved([lid], len(s.layers))))
    if not losses and i == len(spec.layers) - 1 and layer.type != "input":
        return (f"{q} is the last layer but the network has no loss layer to train with; "
                "add a Softmax (or SVM) loss at the bottom",
                _insert_fix("add a Softmax loss at the bottom", i + 1,
                            make_layer("softmax", "softmax")))
    return None


def _layer_shape(layer: LayerSpec, v: Volume) -> tuple[Volume, int, int, int]:
    """Output volume, weights, biases and multiply-adds of a valid layer on volume v."""
    t = layer.type
    if t == "conv":
        f, k = layer["size"], layer["filters"]
        out = window_output(v, f, layer["stride"], layer["pad"], k)
        return out, f * f * v.depth * k, k, out.width * out.height * k * f * f * v.depth
    if t == "pool":
        return window_output(v, layer["size"], layer["stride"], layer["pad"], v.depth), 0, 0, 0
    if t == "gap":
        return Volume(1, 1, v.depth), 0, 0, 0
    if t == "fc":
        units = layer["units"]
        return Volume(1, 1, units), v.size * units, units, v.size * units
    if t == "batchnorm":
        return v, v.depth, v.depth, 0
    return v, 0, 0, 0


def _receptive(layer: LayerSpec, v: Volume, r: int, j: int) -> tuple[int, int]:
    t = layer.type
    if t in ("conv", "pool"):
        return r + (layer["size"] - 1) * j, j * layer["stride"]
    if t in ("fc", "gap"):
        return r + (v.width - 1) * j, j * v.width
    return r, j


def _loss_error(layer: LayerSpec, i: int, v: Volume) -> tuple[str, Fix] | None:
    if v.width == 1 and v.height == 1 and v.depth >= 2:
        return None
    title = layer.kind.title.replace(" loss", "")
    if v.width == 1 and v.height == 1:
        return (f"'{layer.name}' needs at least 2 class scores but receives {v}; "
                "give the layer above it 2 or more outputs", None)
    return (f"'{layer.name}' needs class scores 1×1×C but receives {v}; add a "
            f"Fully-connected layer with one output per class above {title}",
            _insert_fix("add a Fully-connected layer with 10 outputs above it", i,
                        make_layer("fc", "fc", units=10)))


def backward_reads_output(layer: LayerSpec) -> bool:
    """Whether the layer's backward pass reads its own output: an activation's slope is
    computed from y = f(x), max pooling finds the winning input by comparing it with y, and
    LRN's correction term uses y. Nothing may overwrite such an output before that pass."""
    t = layer.type
    return t in ACTIVATION_TYPES or t == "lrn" or (t == "pool" and layer["mode"] == "max")


def _in_place(layer: LayerSpec, below: LayerSpec) -> bool:
    """Activations overwrite their input, since their own backward pass needs only their
    output, unless that input is the network's input or an output whose layer still reads
    it in its backward pass (`backward_reads_output`)."""
    return (layer.type in ACTIVATION_TYPES and below.type != "input"
            and not backward_reads_output(below))


def analyse(spec: NetworkSpec) -> Analysis:
    """Analyse every layer of `spec`: volumes, counts, receptive field, error and fix.

    Layers below the first one whose volume cannot be computed get no volume and
    no error of their own: the error above explains them.
    """
    if not spec.layers:
        return Analysis(spec, (), "The network is empty; add an Input layer from the palette.")
    infos: list[LayerInfo] = []
    volume: Volume | None = None
    r, j = 1, 1
    for i, layer in enumerate(spec.layers):
        volume_in = volume
        problem = _range_error(layer)
        if problem is None and layer.type == "input":
            volume_in, volume = None, Volume(layer["width"], layer["height"], layer["depth"])
            r, j = 1, 1
        elif problem is None and volume_in is not None:
            if layer.type in ("conv", "pool"):
                problem = _window_error(layer, volume_in)
            elif layer.type in LOSS_TYPES:
                problem = _loss_error(layer, i, volume_in)
        if problem is not None or volume is None:
            text, fix = problem or _structure_error(spec, i, layer) or (None, None)
            infos.append(LayerInfo(layer, i, volume_in, None, error=text, fix=fix))
            volume = None
            continue
        text, fix = _structure_error(spec, i, layer) or (None, None)
        if layer.type == "input":
            infos.append(LayerInfo(layer, i, None, volume, error=text, fix=fix))
            continue
        out, weights, biases, macs = _layer_shape(layer, volume_in)
        r, j = _receptive(layer, volume_in, r, j)
        infos.append(LayerInfo(layer, i, volume_in, out, weights, biases, macs, r, j,
                               in_place=_in_place(layer, spec.layers[i - 1]),
                               error=text, fix=fix))
        volume = out
    return Analysis(spec, tuple(infos))
