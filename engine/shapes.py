"""Shape arithmetic of the course notes, in pure integers: volumes, parameters,
multiply-adds, receptive fields, errors with fixes, and the training-memory model.

The inspector shows these numbers and the engine sizes its arrays with the same
functions (`conv_output`, `analyse`), so the two cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from typing import Callable, Sequence

from engine.plan import Plan, conv_matrix_floats, kept, make_plan
from engine.spec import (
    ACTIVATION_TYPES, LOSS_TYPES, LayerSpec, NetworkSpec, Volume, make_layer,
)

BYTES_PER_FLOAT = 4  # float32 throughout
OPTIMIZER_STATE_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2}
# An update (`engine.optim`) works on UPDATE_PIECE floats of the parameters at a time, its
# formulas holding up to this many temporaries of a piece at once (weight decay holds one).
# On pieces over 256 KiB NumPy reuses one of RMSprop's and Adam's, which then hold one fewer.
UPDATE_PIECE = 1 << 20
UPDATE_TEMPORARIES = {"sgd": 1, "momentum": 1, "nesterov": 1, "rmsprop": 3, "adam": 5}
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
    """A suggested change that mends an error, applied to a spec as one edit."""

    text: str  # what it does, for its button and the undo history: "set S=1"
    apply: Callable[[NetworkSpec], NetworkSpec] = field(compare=False)
    option: str = ""  # how the error's sentence names it among others ("S=1"), if not by text


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
    start: int = 0  # input pixel where unit (0, 0)'s field begins; negative in the padding
    in_place: bool = False
    error: str | None = None
    fixes: tuple[Fix, ...] = ()  # best first: those that leave the whole network valid

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
        to its backward pass (`engine.plan.kept`): a convolution's im2col matrix, a padded
        copy of a padded layer's input, batch norm's normalised input, LRN's scale,
        dropout's mask."""
        if self.output is None or self.input is None:
            return 0
        return sum(kept(self.layer, self.input, self.output).values())


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
    temporaries: int  # the largest array one pass allocates and frees

    PARTS = ("input_batch", "activations", "gradients", "parameters", "parameter_gradients",
             "optimizer_state", "workspace", "last_good", "temporaries")

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
    network_error: str | None = None  # a problem of no one layer: empty, no loss layer
    network_fixes: tuple[Fix, ...] = ()

    @property
    def errors(self) -> list[LayerInfo]:
        return [info for info in self.layers if info.error]

    @property
    def valid(self) -> bool:
        return self.network_error is None and not self.errors

    @property
    def output(self) -> Volume | None:
        return self.layers[-1].output if self.layers else None

    # The analysis never changes, so its totals and plan are worked out once: a summary of a
    # 300,000-layer network asks for them a dozen times.
    @cached_property
    def total_params(self) -> int:
        return sum(i.params for i in self.layers)

    @cached_property
    def total_activations(self) -> int:
        """Activations per image that need memory (input included, in-place layers not)."""
        return sum(i.allocated for i in self.layers)

    @cached_property
    def total_macs(self) -> int:
        return sum(i.macs for i in self.layers)

    def info(self, layer_id: str) -> LayerInfo:
        for i in self.layers:
            if i.layer.id == layer_id:
                return i
        raise KeyError(layer_id)

    @cached_property
    def plan(self) -> Plan:
        """The buffer plan of a training step (`engine.plan`), per image."""
        return make_plan([i for i in self.layers
                          if i.layer.type != "input" and i.layer.type not in LOSS_TYPES])

    def memory(self, batch_size: int, optimizer: str = "momentum") -> MemoryEstimate:
        """Training memory at float32 following the notes' "Computational considerations":
        every activation volume twice (values and gradients), the parameters with
        their gradients and the optimizer's cache, the input batch, and the im2col
        workspace.

        It is what the engine allocates: the buffers of the step's plan (`engine.plan`),
        which the model allocates once per batch size. Every output volume that is not
        computed in place is kept from the forward pass to the backward pass, together
        with what each layer keeps for its backward pass and the one scratch buffer the
        layers share (workspace, see `LayerInfo.workspace`); the backward pass passes
        gradients between two buffers, each as large as the largest gradient it holds.
        Outputs that only the next layer's forward pass reads (a convolution's feeding a
        pool) wait in those two buffers instead, which are idle until the backward pass.
        The trainer also keeps one copy of the weights and optimizer cache from before
        the last update, which its NaN guard restores (`engine.rollback`). Besides these,
        which stay, one array at a time comes and goes: a convolution's filters with their
        biases as one matrix (the bias trick) for its forward product, and the same shape
        for its weight gradient; or the update's temporaries. Left out are NumPy's own
        buffers, under 128 KiB (its ufuncs' buffers, the row of zeros ReLUs compare with).
        """
        n, b, plan = batch_size, BYTES_PER_FLOAT, self.plan
        input_floats = self.spec.input_volume.size if self.spec.input_volume else 0
        params = self.total_params
        matrices = (conv_matrix_floats(i.layer, i.input, i.output)
                    for i in self.layers if i.layer.type == "conv" and i.output is not None)
        update = min(params, UPDATE_PIECE) * UPDATE_TEMPORARIES[optimizer]
        return MemoryEstimate(
            batch_size=n,
            input_batch=n * input_floats * b,
            activations=n * plan.outputs * b,
            gradients=n * sum(plan.gradients) * b,
            parameters=params * b,
            parameter_gradients=params * b,
            optimizer_state=params * b * OPTIMIZER_STATE_COPIES[optimizer],
            last_good=params * b * (1 + OPTIMIZER_STATE_COPIES[optimizer]),
            workspace=n * plan.workspace * b,
            temporaries=max([update, *matrices]) * b,
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


# --- errors and their fixes ---------------------------------------------------------------
# Ranking the fixes of an error re-analyses the whole network once per fix tried. Bounded so
# that an edit stays far within a frame: this many trials at most, fewer in large networks.
MAX_TRIALS = 6
MAX_TRIAL_LAYERS = 2_000  # layers re-analysed per analysis, all trials together
TRIES_PER_GROUP = 3  # values of one hyperparameter tried, nearest first
_UNTRIED = (True, math.inf, math.inf)


@dataclass(frozen=True)
class _Problem:
    """An error before its fixes are chosen: the reason, and the changes that mend it in
    groups of alternatives (the values of one hyperparameter, nearest first), of which
    one per group is offered."""

    reason: str
    groups: tuple[tuple[Fix, ...], ...] = ()
    lead: str = ""  # the verb before hyperparameter values: "use S=1 or F=2"

    def nearest(self) -> tuple[Fix, ...]:
        return tuple(group[0] for group in self.groups)

    def sentence(self, fixes: tuple[Fix, ...]) -> str:
        """The error in one sentence that names its fixes in the order they are offered."""
        if not fixes:
            return self.reason
        options = [f.option or f.text for f in fixes]
        listed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
        return f"{self.reason}; {self.lead}{listed}"


def _single(reason: str, fix: Fix) -> _Problem:
    return _Problem(reason, ((fix,),))


def _set_fix(layer_id: str, name: str, symbol: str, value) -> Fix:
    return Fix(f"set {symbol}={value}",
               lambda spec: spec.replaced(spec.layer(layer_id).with_params(**{name: value})),
               option=f"{symbol}={value}")


def _free_name(spec: NetworkSpec, base: str) -> str:
    """`base` itself if no layer has that name yet, else numbered (softmax1)."""
    return spec.unique_name(base) if any(l.name == base for l in spec.layers) else base


def _insert_fix(text: str, at: Callable[[NetworkSpec], int], *types: tuple[str, dict]) -> Fix:
    """Insert new layers of catalogue `types` (type, params) where `at(spec)` says, with
    names no other layer has (a fix must not make a duplicate name)."""
    def apply(spec: NetworkSpec) -> NetworkSpec:
        layers = [make_layer(type_, _free_name(spec, type_), **params) for type_, params in types]
        return spec.inserted(at(spec), layers)
    return Fix(text, apply)


def _remove_fix(text: str, layer_id: str) -> Fix:
    return Fix(text, lambda spec: spec.removed([layer_id]))


def _window_error(layer: LayerSpec, volume: Volume) -> _Problem | None:
    """Why an F×F window layer does not fit `volume`, and the changes that fit."""
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
    groups = tuple(tuple(_set_fix(layer.id, key, _symbol(key), v) for v in values)
                   for key, values in _window_fixes(volume, f, s, p))
    if not groups:
        return _Problem(problem + "; change the input size")
    return _Problem(problem, groups, lead="use ")


def _symbol(param: str) -> str:
    return {"size": "F", "stride": "S", "pad": "P"}[param]


def _window_fixes(volume: Volume, f: int, s: int, p: int) -> list[tuple[str, list[int]]]:
    """Per hyperparameter, its nearest values that make the window fit, nearest first;
    the hyperparameters in the order of their nearest change (padding preferred, then
    stride, then filter size)."""
    found = []
    for order, key, current, highest in (
        (0, "pad", p, f // 2),
        (1, "stride", s, max(f, s)),
        (2, "size", f, max(volume.width, volume.height) + 2 * p),
    ):
        fitting = []
        for distance in range(1, max(current, highest - current) + 1):
            for v in (current - distance, current + distance):
                trial = {"size": f, "stride": s, "pad": p, key: v}
                if (0 if key == "pad" else 1) <= v <= highest and window_fits(
                        volume, trial["size"], trial["stride"], trial["pad"]):
                    fitting.append(v)
            if len(fitting) >= TRIES_PER_GROUP:
                break
        if fitting:
            nearest = abs(fitting[0] - current)
            found.append((nearest, order, key, fitting[:TRIES_PER_GROUP]))
    found.sort()
    return [(key, values) for _, _, key, values in found]


def _range_error(layer: LayerSpec) -> _Problem | None:
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
        fix = _set_fix(layer.id, p.name, p.label.split()[-1], p.kind(good))
        return _Problem(f"{p.label}={bad} is not allowed: it {why}", ((fix,),), lead="use ")
    return None


class _Stack:
    """What the checks of single layers need to know about the whole stack, found once
    per analysis so that analysing stays linear in the number of layers."""

    def __init__(self, spec: NetworkSpec):
        losses = [i for i, layer in enumerate(spec.layers) if layer.type in LOSS_TYPES]
        self.first_loss = losses[0] if losses else None
        self.loss_ids = [spec.layers[i].id for i in losses]
        self.first_named: dict[str, int] = {}
        for i, layer in enumerate(spec.layers):
            self.first_named.setdefault(layer.name, i)
        self._taken = set(self.first_named)
        self._next: dict[str, int] = {}

    def fresh_name(self, base: str) -> str:
        """`base` numbered to a name no layer has and no earlier suggestion took."""
        n = self._next.get(base, 1)
        while f"{base}{n}" in self._taken:
            n += 1
        self._next[base] = n + 1
        self._taken.add(f"{base}{n}")
        return f"{base}{n}"


def _structure_error(spec: NetworkSpec, i: int, layer: LayerSpec, stack: _Stack) -> _Problem | None:
    """Errors of a layer's place and name in the stack, independent of volumes."""
    q, lid = f"'{layer.name}'", layer.id
    if i == 0 and layer.type != "input":
        return _single(f"{q} is first, but a network must start with an Input layer",
                       _insert_fix("add an Input layer at the top", lambda s: 0, ("input", {})))
    if i > 0 and layer.type == "input":
        return _single(f"{q} is a second Input layer; a network has one input, at the top",
                       _remove_fix(f"remove {q}", lid))
    if stack.first_loss is not None and i > stack.first_loss:
        loss = spec.layers[stack.first_loss]
        if layer.type in LOSS_TYPES:
            return _single(f"{q} is a second loss layer after '{loss.name}'; a network has one "
                           "loss, at the bottom", _remove_fix(f"remove {q}", lid))
        ids = stack.loss_ids  # all of them: a second loss left above would still precede it
        move = (f"move '{loss.name}' to the bottom" if len(ids) == 1
                else "move the loss layers to the bottom")
        return _single(f"{q} comes after the loss layer '{loss.name}'; the loss must be the "
                       "last layer", Fix(move, lambda s: s.moved(ids, len(s.layers))))
    if stack.first_named[layer.name] < i:
        name = stack.fresh_name(layer.name.rstrip("0123456789") or layer.type)
        return _single(f"{q} is already the name of a layer above; layer names must be unique",
                       Fix(f"rename {q} to '{name}'",
                           lambda s: s.replaced(s.layer(lid).renamed(name))))
    return None


def _class_scores(v: Volume) -> bool:
    return v.width == 1 and v.height == 1 and v.depth >= 2


def _loss_error(layer: LayerSpec, v: Volume) -> _Problem | None:
    if _class_scores(v):
        return None
    if v.width == 1 and v.height == 1:
        return _Problem(f"'{layer.name}' needs at least 2 class scores but receives {v}; "
                        "give the layer above it 2 or more outputs")
    return _single(f"'{layer.name}' needs class scores 1×1×C but receives {v}",
                   _insert_fix("add a Fully-connected layer with 10 outputs above it",
                               lambda s: s.index_of(layer.id), ("fc", {"units": 10})))


def _network_problem(spec: NetworkSpec, stack: _Stack, last: LayerInfo) -> _Problem | None:
    """A network without a loss layer cannot be trained: a problem of the whole network,
    said once, rather than an error of whichever layer is last while it is being built."""
    if stack.first_loss is not None:
        return None
    reason = "The network has no loss layer to train with"
    if last.output is not None and not _class_scores(last.output):
        return _single(reason, _insert_fix(
            "add a Fully-connected layer and a Softmax loss at the bottom",
            len, ("fc", {"units": 10}), ("softmax", {})))
    return _single(reason, _insert_fix("add a Softmax loss at the bottom", len, ("softmax", {})))


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


def _receptive(layer: LayerSpec, v: Volume, r: int, j: int,
               start: int) -> tuple[int, int, int]:
    """Receptive field size, jump (input pixels between neighbouring units) and start of
    the layer's units, from those of its input: unit u sees input pixels
    start + u·jump … start + u·jump + r − 1."""
    t = layer.type
    if t in ("conv", "pool"):
        return r + (layer["size"] - 1) * j, j * layer["stride"], start - layer["pad"] * j
    if t in ("fc", "gap"):  # every unit sees the whole input, however long its longer side
        side = max(v.width, v.height)
        return r + (side - 1) * j, j * side, start
    return r, j, start


def backward_reads_output(layer: LayerSpec) -> bool:
    """Whether the layer's backward pass reads its own output: an activation's slope is
    computed from y = f(x), max pooling finds the winning input by comparing it with y (in
    an evaluation pass's backward pass, `engine.insight.gradients`; in training a tiling
    max pool marks its winners in the forward pass), and LRN's correction term uses y.
    Nothing may overwrite such an output before that pass."""
    t = layer.type
    return t in ACTIVATION_TYPES or t == "lrn" or (t == "pool" and layer["mode"] == "max")


def _in_place(layers: Sequence[LayerSpec], i: int) -> bool:
    """Activations overwrite their input, since their own backward pass needs only their
    output, unless that input is the network's input or an output whose layer still reads
    it in its backward pass (`backward_reads_output`). In evaluation a dropout hands on its
    input itself, so the input is that of the layer below it."""
    if layers[i].type not in ACTIVATION_TYPES:
        return False
    source = i - 1
    while source > 0 and layers[source].type == "dropout":
        source -= 1
    return layers[source].type != "input" and not backward_reads_output(layers[source])


def _analyse(spec: NetworkSpec, above: tuple[LayerInfo, ...] = ()
             ) -> tuple[Analysis, list[tuple[int, _Problem]]]:
    """The analysis with each error's nearest fixes, and the problems of the layers with
    errors, in stack order. `above`: the infos of the first layers, already known (a
    layer's analysis depends only on the layers above it)."""
    if not spec.layers:
        return Analysis(spec, (), "The network is empty; add an Input layer from the palette."), []
    stack = _Stack(spec)
    infos = list(above)
    problems: list[tuple[int, _Problem]] = []
    volume = above[-1].output if above else None
    r, j, start = ((above[-1].receptive_field, above[-1].jump, above[-1].start) if above
                   else (1, 1, 0))
    for i in range(len(above), len(spec.layers)):
        layer = spec.layers[i]
        volume_in = volume
        shape_problem = _range_error(layer)
        if shape_problem is None and layer.type == "input":
            volume_in, volume = None, Volume(layer["width"], layer["height"], layer["depth"])
            r, j, start = 1, 1, 0
        elif shape_problem is None and volume_in is not None:
            if layer.type in ("conv", "pool"):
                shape_problem = _window_error(layer, volume_in)
            elif layer.type in LOSS_TYPES:
                shape_problem = _loss_error(layer, volume_in)
        problem = shape_problem or _structure_error(spec, i, layer, stack)
        error, fixes = None, ()
        if problem is not None:
            problems.append((i, problem))
            fixes = problem.nearest()
            error = problem.sentence(fixes)
        if shape_problem is not None or volume is None:
            infos.append(LayerInfo(layer, i, volume_in, None, error=error, fixes=fixes))
            volume = None
            continue
        if layer.type == "input":
            infos.append(LayerInfo(layer, i, None, volume, error=error, fixes=fixes))
            continue
        out, weights, biases, macs = _layer_shape(layer, volume_in)
        r, j, start = _receptive(layer, volume_in, r, j, start)
        infos.append(LayerInfo(layer, i, volume_in, out, weights, biases, macs, r, j, start,
                               in_place=_in_place(spec.layers, i),
                               error=error, fixes=fixes))
        volume = out
    network = _network_problem(spec, stack, infos[-1])
    if network is None:
        return Analysis(spec, tuple(infos)), problems
    fixes = network.nearest()
    return Analysis(spec, tuple(infos), network.sentence(fixes) + ".", fixes), problems


def analyse(spec: NetworkSpec) -> Analysis:
    """Analyse every layer of `spec`: volumes, counts, receptive field, errors and fixes.

    Layers below the first one whose volume cannot be computed get no volume and
    no error of their own: the error above explains them. Where an error can be mended
    in several ways, each is tried on the whole network (within `MAX_TRIALS`), and those
    that leave it valid, or at least add no errors, are offered first.
    """
    analysis, problems = _analyse(spec)
    trials = min(MAX_TRIALS, MAX_TRIAL_LAYERS // len(spec.layers)) if spec.layers else 0
    erring = {info.layer.id for info in analysis.errors}
    infos = list(analysis.layers)
    for index, problem in problems:
        if trials == 0:
            break
        if sum(len(group) for group in problem.groups) > 1:
            fixes, trials = _rank(problem, analysis, erring, trials)
            infos[index] = replace(infos[index], error=problem.sentence(fixes), fixes=fixes)
    return replace(analysis, layers=tuple(infos))


def _rank(problem: _Problem, before: Analysis, erring: set[str],
          trials: int) -> tuple[tuple[Fix, ...], int]:
    """One fix per group, the best of its nearest values, and the groups' fixes best first;
    with the trials left. Best: leaves the network valid, then adds the fewest errors,
    then leaves the fewest; nearest on a tie."""
    picks = []
    for position, group in enumerate(problem.groups):
        best = (_UNTRIED, group[0])
        for fix in group[:trials]:
            trials -= 1
            spec = fix.apply(before.spec)
            after, _ = _analyse(spec, _unchanged_above(before, spec))
            added = (sum(info.layer.id not in erring for info in after.errors)
                     + (after.network_error is not None and before.network_error is None))
            score = (not after.valid, added,
                     len(after.errors) + (after.network_error is not None))
            if score < best[0]:
                best = (score, fix)
            if added == 0:
                break
        picks.append((best[0], position, best[1]))
    picks.sort(key=lambda pick: pick[:2])
    return tuple(fix for _, _, fix in picks), trials


def _unchanged_above(before: Analysis, spec: NetworkSpec) -> tuple[LayerInfo, ...]:
    """The infos of `before` for the layers above the first one that `spec` changes."""
    pairs = zip(before.spec.layers, spec.layers)
    same = next((k for k, (a, b) in enumerate(pairs) if a is not b),
                min(len(before.spec), len(spec)))
    return before.layers[:same]
