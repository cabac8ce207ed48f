"""The buffer plan of a training step: which arrays each layer writes, how many floats per
image each one holds, and which of them share memory.

The plan is pure integers, made from the analysis. `engine.model` allocates its buffers
once per batch size and hands each layer views of them; `Analysis.memory` adds the same
numbers up, so the memory model is the plan and cannot disagree with the engine.

For every hidden layer:
- its output, unless it runs in place on its input (`LayerInfo.in_place`) or is a ReLU
  that leaves its work to the max pool above (`relu_left_to_pool`): written in the
  forward pass and kept to the end of the step, unless only the forward pass of the layer
  above reads it (a convolution's feeding a pool, a pool's feeding a convolution), when
  one of the gradient buffers below holds it meanwhile (`LayerPlan.held_in`);
- what it keeps for its backward pass besides its input and output (`kept`);
- its temporaries of one pass (`scratch`), in one buffer that all layers share, since
  only one layer runs at a time.
The backward pass writes input gradients into two buffers in turn: a layer reads its
output's gradient from one and writes its input's into the other, except the layers that
turn the one into the other in place (`GRADIENT_IN_PLACE`). Each buffer is as large as the
largest gradient it holds. Below the first layer with parameters nothing needs a gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Sequence

from engine.spec import ACTIVATION_TYPES, LayerSpec, Volume

if TYPE_CHECKING:
    from engine.shapes import LayerInfo

GRADIENT_IN_PLACE = frozenset(ACTIVATION_TYPES) | {"dropout", "batchnorm", "lrn"}
SHORT_RUN_FLOATS = 16  # float32s in a 64-byte cache line


def padded_size(v: Volume, p: int) -> int:
    return (v.width + 2 * p) * (v.height + 2 * p) * v.depth


def kept(layer: LayerSpec, v_in: Volume, v_out: Volume) -> dict[str, int]:
    """Floats per image a layer keeps besides its output: a convolution's im2col matrix
    (with the bias trick's column of ones) or Winograd's transformed patches, a padded copy
    of the input for padded window layers (kept so that its border is written once per
    step, not allocated), a max pool's marks of the inputs its gradient goes to where its
    windows tile the input (a bool per input, four to a float), batch norm's normalised
    input, LRN's scale, dropout's mask."""
    t = layer.type
    parts = {}
    if winograd(layer, v_in, v_out):
        parts["transformed"] = winograd_floats(layer, v_in, v_out)["transformed"]
    elif t == "conv":
        f = layer["size"]
        parts["cols"] = v_out.width * v_out.height * (f * f * v_in.depth + 1)
    if t in ("conv", "pool") and layer["pad"]:
        parts["padded"] = padded_size(v_in, layer["pad"])
    if t == "pool" and layer["mode"] == "max" and tiles(layer):
        parts["marks"] = bools_in_floats(v_in.size)
    if t in ("batchnorm", "lrn", "dropout"):
        parts[{"batchnorm": "xhat", "lrn": "scale", "dropout": "mask"}[t]] = v_out.size
    return parts


# Where Winograd's F(2, 3) pays (`winograd`), measured on a CONV-RELU-POOL-FC step of 8
# images on one core against im2col: 0.77-0.89 of the time for 16-256 inputs deep on maps
# of 8×8 to 32×32 and 1M multiply-adds an image or more; 1.01-1.43 on thinner inputs (4-12
# deep: the transforms walk runs of D floats), 1.03-1.21 on smaller layers (Python's cost
# per pass) and 1.05-2.08 on maps of 4×4 or 2×2 (few pixels to a filter: the transformed
# filters, 4/3 of the filters, made afresh for each pass, outweigh the products saved).
WINOGRAD_MIN_DEPTH = 16
WINOGRAD_MIN_SIDE = 8
WINOGRAD_MIN_MULTIPLY_ADDS = 1_000_000  # an image's, in the layer's forward pass


def winograd(layer: LayerSpec, v_in: Volume, v_out: Volume) -> bool:
    """Whether a convolution runs through Winograd's F(2, 3) along the width
    (`engine.layers.winograd`): a 3×3 one at stride 1 with an even output width, where it
    pays (see above)."""
    return (layer.type == "conv" and layer["size"] == 3 and layer["stride"] == 1
            and v_out.width % 2 == 0 and v_in.depth >= WINOGRAD_MIN_DEPTH
            and min(v_out.width, v_out.height) >= WINOGRAD_MIN_SIDE
            and 9 * v_in.depth * v_out.size >= WINOGRAD_MIN_MULTIPLY_ADDS)


def winograd_floats(layer: LayerSpec, v_in: Volume, v_out: Volume) -> dict[str, int]:
    """Floats per image of a Winograd convolution's arrays: its transformed patches (kept
    for the backward pass), the input's columns combined along the width, the four
    products (and their gradients), and the combined columns' gradient spread over each
    output row's rows."""
    pairs, depth = v_out.width // 2, v_in.depth
    wide = v_in.width + 2 * layer["pad"]
    return {"transformed": 4 * v_out.height * pairs * (3 * depth + 1),
            "columns": 4 * pairs * (v_in.height + 2 * layer["pad"]) * depth,
            "products": 4 * v_out.height * pairs * v_out.depth,
            "spread": v_out.height * 3 * wide * depth}


def conv_matrix_floats(layer: LayerSpec, v_in: Volume, v_out: Volume) -> int:
    """Floats of a convolution's filter matrix, made for each product and freed after: the
    filters with their biases (the bias trick), or their four transformed copies."""
    if winograd(layer, v_in, v_out):
        return 4 * (3 * v_in.depth + 1) * v_out.depth
    return (layer["size"] ** 2 * v_in.depth + 1) * v_out.depth


def bools_in_floats(count: int) -> int:
    """Floats whose room holds `count` bools."""
    return -(-count // 4)


def tiles(layer: LayerSpec) -> bool:
    """Whether a pooling layer's windows tile its input exactly (S = F, no padding)."""
    return layer["stride"] == layer["size"] and not layer["pad"]


def pools_rows_first(layer: LayerSpec, v_in: Volume) -> bool:
    """Whether a pooling layer's forward pass first combines the F rows of every window,
    whole rows of the image at a time, then the F columns: where the windows tile the
    input and a pixel's depth is shorter than a cache line, NumPy's cost per run it walks
    outweighs the extra pass (the F·F taps are F·F runs of D floats per window)."""
    return tiles(layer) and layer["size"] > 1 and v_in.depth <= SHORT_RUN_FLOATS


def window_orders(infos: Sequence[LayerInfo]) -> list[int]:
    """For each hidden layer, the F of the order its output's pixels take in training, or 1
    for NHWC. A convolution whose output reaches a max pool that tiles it in F×F windows,
    through activations only, writes its pixels by image, then by offset in the window,
    then by window, (N, F, F, H/F, W/F, D), and the activations keep that order: the
    convolution's patches are rows in any order. The pool then combines F·F contiguous
    blocks of H/F·W/F·D floats per image, where in NHWC it walks runs of D floats.
    Measured in shares of 32 images against NHWC: the reference network 0.91-0.96 of the
    time, cifar10.json 0.87, LeNet-5 with max pools 0.94-0.95. LeNet-5 as published, with
    average pools, took 1.03 (and the reference network with average pools 1.02): their
    passes already run whole rows, and the convolution's copies in the new order cost
    a little more. A Winograd convolution (`winograd`) takes its output's columns in pairs,
    which are windows' columns only for F = 2, so it keeps NHWC before other pools."""
    layers = [i.layer for i in infos]
    orders = [1] * len(layers)
    for k, layer in enumerate(layers):
        if layer.type != "conv":
            continue
        top = k + 1
        while top < len(layers) and layers[top].type in ACTIVATION_TYPES:
            top += 1
        pool = layers[top] if top < len(layers) else None
        if (pool is not None and pool.type == "pool" and pool["mode"] == "max"
                and tiles(pool) and pool["size"] > 1
                and (pool["size"] == 2 or not winograd(layer, infos[k].input, infos[k].output))):
            orders[k:top] = [pool["size"]] * (top - k)
    return orders


def relu_left_to_pool(layer: LayerSpec, above: LayerSpec | None) -> bool:
    """Whether a layer is a ReLU that leaves its training passes to the max pool above it,
    which does them on its F·F times smaller output (see `engine.layers.pool`)."""
    return (layer.type == "relu" and above is not None and above.type == "pool"
            and above["mode"] == "max")


def scratch(layer: LayerSpec, v_in: Volume, v_out: Volume, above: LayerSpec | None,
            input_gradient: bool, window_ordered: bool) -> int:
    """Floats per image a layer needs only while one of its passes runs: a convolution's
    output gradient and padded input gradient, both batch-last, when it computes an input
    gradient (a Winograd convolution's combined columns, its products or their gradients,
    and the spread gradient); an activation's slope, max pooling's winners (where its
    windows tile the input, a bool per output, four to a float, while it marks them;
    otherwise a bool per output in a float's room, and the shares where windows overlap),
    a tiling pool's F rows combined (`pools_rows_first`) and a tiling average pool's
    gradient repeated along its rows (no rows where a max pool's input comes in window
    order), batch norm's correction, LRN's squares and window sums."""
    t = layer.type
    if winograd(layer, v_in, v_out):
        sizes = winograd_floats(layer, v_in, v_out)
        gradient = sizes["spread"] if input_gradient else 0
        return max(sizes["columns"], sizes["products"], gradient)
    if t == "conv":
        return v_out.size + padded_size(v_in, layer["pad"]) if input_gradient else 0
    if relu_left_to_pool(layer, above):
        return 0
    if t == "pool":
        # a tiling pool's rows combined, or repeated
        rows = 0 if window_ordered else v_in.size // layer["size"]
        if layer["mode"] == "avg":
            return rows if tiles(layer) else 0
        if tiles(layer):
            return max(rows if pools_rows_first(layer, v_in) else 0, bools_in_floats(v_out.size))
        return v_out.size * (1 if layer["stride"] >= layer["size"] else 2)
    if t in ACTIVATION_TYPES or t == "batchnorm":
        return v_out.size
    if t == "lrn":
        return 2 * v_out.size
    return 0


@dataclass(frozen=True)
class LayerPlan:
    """Floats per image of one layer's buffers; `gradient` is the buffer (0 or 1) its input
    gradient goes to, or None when it has none of its own."""

    output: int
    kept: dict[str, int]
    scratch: int
    gradient: int | None
    relu_left_to_pool: bool
    window_order: int  # of its output's pixels in training (`window_orders`)
    # the gradient buffer that holds its output, which only the layer above reads (in its
    # forward pass), or None when the output has a buffer of its own
    held_in: int | None
    # what its passes write and read in turn: its input and output volumes (or their
    # gradients), what it keeps and its scratch
    touched: int


@dataclass(frozen=True)
class Plan:
    layers: tuple[LayerPlan, ...]  # the hidden layers, top to bottom
    gradients: tuple[int, int]  # floats per image of the two gradient buffers
    first_trained: int  # index of the first layer with parameters (len(layers) if none)

    @cached_property
    def outputs(self) -> int:
        return sum(p.output for p in self.layers)

    @cached_property
    def floats(self) -> int:
        """All the step's buffers: outputs, kept arrays, scratch and gradients."""
        return self.outputs + self.workspace + sum(self.gradients)

    @cached_property
    def busiest_layer(self) -> int:
        """The most floats one layer's passes touch (`LayerPlan.touched`)."""
        return max((p.touched for p in self.layers), default=0)

    @cached_property
    def workspace(self) -> int:
        """Kept arrays and the shared scratch buffer."""
        return (sum(sum(p.kept.values()) for p in self.layers)
                + max((p.scratch for p in self.layers), default=0))


def make_plan(infos: Sequence[LayerInfo]) -> Plan:
    """The plan for the hidden layers of an analysis (without its input and loss layers);
    layers whose volumes are unknown get no buffers."""
    sized = [i for i in infos if i.input is not None and i.output is not None]
    first_trained = next((k for k, i in enumerate(sized) if i.params), len(sized))
    gradient_of: dict[int, int] = {}
    sizes = [0, 0]
    holder = None  # the buffer holding the gradient on the current output (None: the loss's)
    for k in range(len(sized) - 1, first_trained, -1):
        if sized[k].layer.type in GRADIENT_IN_PLACE:
            continue
        holder = 0 if holder is None else 1 - holder
        gradient_of[k] = holder
        sizes[holder] = max(sizes[holder], sized[k].input.size)
    above = [i.layer for i in sized[1:]] + [None]
    left_to_pool = [relu_left_to_pool(i.layer, a) for i, a in zip(sized, above)]
    held_in = _forward_holders(sized, left_to_pool, sizes)
    orders = window_orders(sized)
    ordered_input = [False] + [order > 1 for order in orders[:-1]]
    layers = []
    for k, (i, a) in enumerate(zip(sized, above)):
        keeps = kept(i.layer, i.input, i.output)
        temporary = scratch(i.layer, i.input, i.output, a, k > first_trained, ordered_input[k])
        layers.append(LayerPlan(
            0 if i.in_place or left_to_pool[k] or k in held_in else i.output.size, keeps,
            temporary, gradient_of.get(k), left_to_pool[k], orders[k], held_in.get(k),
            i.input.size + i.output.size + sum(keeps.values()) + temporary))
    return Plan(tuple(layers), (sizes[0], sizes[1]), first_trained)


def reads_neither_input_nor_output(layer: LayerSpec) -> bool:
    """Whether a layer's backward pass in training reads neither its input nor its output:
    a convolution's reads its im2col matrix, a max pool's whose windows tile its input its
    marks (`engine.layers.pool`), an average pool's only its output's gradient."""
    return layer.type == "conv" or (layer.type == "pool"
                                    and (layer["mode"] == "avg" or tiles(layer)))


def _forward_holders(sized: Sequence[LayerInfo], left_to_pool: list[bool],
                     sizes: list[int]) -> dict[int, int]:
    """The layers whose outputs only the forward pass of the layer above reads (past a ReLU
    left to a max pool), each with the gradient buffer (0 or 1) that holds it meanwhile;
    `sizes`, the floats per image of the two buffers, grow to fit. The gradient buffers
    are idle until the backward pass. A chain of such outputs, each read by the next
    layer's forward pass, takes the two buffers in turn, starting with the one that leaves
    them smaller."""
    reader = {}
    for k in range(len(sized)):
        r = k + 1
        while r < len(sized) and left_to_pool[r]:
            r += 1
        if r < len(sized) and all(reads_neither_input_nor_output(sized[j].layer) for j in (k, r)):
            reader[k] = r
    chains: list[list[int]] = []
    for k in sorted(reader):
        if chains and reader.get(chains[-1][-1]) == k:
            chains[-1].append(k)
        else:
            chains.append([k])
    held_in = {}
    for chain in chains:
        def grown(first: int) -> list[int]:
            fitted = list(sizes)
            for n, k in enumerate(chain):
                fitted[(first + n) % 2] = max(fitted[(first + n) % 2], sized[k].output.size)
            return fitted
        first = min((0, 1), key=lambda first: sum(grown(first)))
        sizes[:] = grown(first)
        held_in.update({k: (first + n) % 2 for n, k in enumerate(chain)})
    return held_in


class Arrays:
    """Where a layer's arrays come from. This one allocates each anew: for evaluation,
    and for a layer used on its own."""

    def __init__(self, xp: Any):
        self.xp = xp

    def output(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.xp.empty(shape, dtype)

    def kept(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.xp.empty(shape, dtype)

    def scratch(self, shape: tuple[int, ...], dtype: Any, start: int = 0) -> Any:
        """A temporary of the step's float type, or a narrower one such as bool, placed
        `start` floats into the scratch buffer (a pass may need several at once)."""
        return self.xp.empty(shape, dtype)

    def gradient(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.xp.empty(shape, dtype)

    def gradient_scratch(self, shape: tuple[int, ...], dtype: Any, start: int = 0) -> Any:
        """A temporary of the work that makes the input gradient, as `scratch`."""
        return self.scratch(shape, dtype, start)


class PlannedArrays(Arrays):
    """A layer's views of the buffers a `StepBuffers` allocated."""

    def __init__(self, buffers: StepBuffers, index: int):
        super().__init__(buffers.xp)
        self.buffers = buffers
        self.plan = buffers.plan.layers[index]
        self.index = index

    def output(self, shape, dtype):
        if self.plan.held_in is not None:
            return self.buffers.view(("gradient", self.plan.held_in), shape, dtype)
        return self.buffers.view(("output", self.index), shape, dtype)

    def kept(self, name, shape, dtype):
        return self.buffers.view(("kept", self.index, name), shape, dtype)

    # A layer asked for an input gradient the plan does not give it (a test wanting the
    # gradient on the network's input) gets new arrays for that work.
    def scratch(self, shape, dtype, start=0):
        if self.plan.scratch == 0:
            return super().scratch(shape, dtype, start)
        return self.buffers.view(("scratch",), shape, dtype, start)

    def gradient(self, shape, dtype):
        if self.plan.gradient is None:
            return super().gradient(shape, dtype)
        return self.buffers.view(("gradient", self.plan.gradient), shape, dtype)

    def gradient_scratch(self, shape, dtype, start=0):
        if self.plan.gradient is None:
            return Arrays.scratch(self, shape, dtype, start)
        return self.scratch(shape, dtype, start)


class StepBuffers:
    """The plan's buffers for up to `batch` images of `dtype`, each one flat array; a
    smaller batch uses the front of each."""

    def __init__(self, plan: Plan, xp: Any, batch: int, dtype: Any):
        self.plan, self.xp, self.batch, self.dtype = plan, xp, batch, dtype
        sizes: dict[tuple, int] = {("scratch",): max((p.scratch for p in plan.layers), default=0)}
        for k, p in enumerate(plan.layers):
            sizes[("output", k)] = p.output
            for name, floats in p.kept.items():
                sizes[("kept", k, name)] = floats
        sizes[("gradient", 0)], sizes[("gradient", 1)] = plan.gradients
        self.flat = {key: xp.empty(batch * floats, dtype) for key, floats in sizes.items() if floats}
        self.layers = [PlannedArrays(self, k) for k in range(len(plan.layers))]

    def view(self, key: tuple, shape: tuple[int, ...], dtype: Any, start: int = 0) -> Any:
        """`shape` of `dtype` from the buffer `key`, starting `start` floats into it."""
        size = math.prod(shape)
        flat = self.flat.get(key)
        if flat is not None:
            flat = flat[start:]
            if dtype != self.dtype:
                flat = flat.view(dtype)
        if flat is None or size > flat.size:
            raise AssertionError(f"{key} has no room for {shape} of {dtype} from {start}")
        return flat[:size].reshape(shape)
