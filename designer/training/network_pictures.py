"""The whole network at once, as pictures: every layer's output for one image and every
convolution's filters, one column picture per layer. Plain NumPy, run on the worker thread.

Sizes are chosen so that a column shows its tiles at a readable size within `COLUMN_HEIGHT`
pixels (what the view has at 1366×768) and scrolls for the rest; what is too large to draw
at all is cut, and the caption says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from designer.training.images import (
    GAP, Mosaic, enlarge, filter_tiles, shrink, shrunk_cover, stretch, tile_grid, to_rgb32,
)
from engine.run import Run
from engine.spec import LOSS_TYPES, LayerSpec, NetworkSpec, Volume

COLUMN_HEIGHT = 264     # px of tiles a column shows before it scrolls
MAP_TILE = 32           # px: smaller maps and filters are enlarged (whole factors) to about
                        # this; larger ones are block-averaged down to images.MAX_TILE
INPUT_SIZE = 96         # px: the input image is enlarged or shrunk to about this
MAX_TILE_COLUMNS = 4    # depth slices or filters side by side in one column
MAX_TILES = 256         # depth slices or filters drawn per layer
UNIT_SIDES = ((30, 16), (96, 10), (512, 8))   # (at most this many units, square side in px)
MAX_UNITS = UNIT_SIDES[-1][0]
MAX_UNIT_COLUMNS = 16
TOP_CLASSES = 10


@dataclass(frozen=True)
class NetworkRequest:
    """What the network view wants computed: the activations for validation image `sample`,
    or (`filters`) every convolution's filters."""

    sample: int
    filters: bool


@dataclass(frozen=True)
class ClassScore:
    """One bar of the loss layer's picture."""

    name: str
    value: float        # probability (softmax) or score (SVM)
    text: str           # the value as shown: "83.1 %" or "2.31"
    bar: float          # bar length, 0..1


@dataclass(frozen=True)
class LayerPicture:
    """What one layer's column draws: a mosaic of tiles, or (loss layer) class bars."""

    layer_id: str
    title: str                      # the layer's name
    caption: str                    # "conv · 32×32×16", and what is drawn or cut
    mosaic: Mosaic | None           # packed RGB32 tiles; None for the loss layer
    hover: str = ""                 # words for tile {index} and its values {low}, {high}
    scores: tuple[ClassScore, ...] = ()   # the loss layer's top classes, best first
    units: tuple[int, int] | None = None  # rows × cols of the map a tile stands for (None:
                                          # its pixels are no units, e.g. filters)

    def unit_at(self, y: float, x: float) -> tuple[int, int, int] | None:
        """(tile, row, col) of the unit under pixel (y, x) of the mosaic, None if none."""
        mosaic = self.mosaic
        index = None if self.units is None or mosaic is None else mosaic.tile_at(y, x)
        if index is None:
            return None
        rows, cols = self.units
        dy, dx = int(y) % (mosaic.tile_height + GAP), int(x) % (mosaic.tile_width + GAP)
        return (index, int((dy + 0.5) * rows / mosaic.tile_height),
                int((dx + 0.5) * cols / mosaic.tile_width))

    def describe(self, index: int) -> str:
        """The hover line for tile (or class bar) `index`."""
        if self.mosaic is None:
            score = self.scores[index]
            return f"{self.title}: {score.name} {score.text}"
        low, high = self.mosaic.ranges[index]
        return f"{self.title} " + self.hover.format(index=index, low=number(low),
                                                    high=number(high))


@dataclass(frozen=True)
class NetworkPicture:
    """Every layer's picture for validation image `sample` of the run named `run_key`."""

    run_key: str
    sample: int
    layers: tuple[LayerPicture, ...]


def number(value: float) -> str:
    """A value as the hover words it: three significant digits and a true minus sign."""
    return f"{value:.3g}".replace("-", "−")


def network_picture(run: Run, image: np.ndarray, sample: int, *, run_key: str = "",
                    label: int | None = None) -> NetworkPicture:
    """One picture per layer of `run.spec` for a uint8 (H, W, D) image (validation image
    `sample`, of class `label` if given): the image itself, each volume's depth slices,
    1×1×D vectors as small squares, the loss layer's best classes as bars."""
    outputs = run.layer_outputs(image)
    pictures = []
    for layer, output in zip(run.spec.layers, outputs):
        if layer.type == "input":
            name = None if label is None else run.class_names[label]
            pictures.append(input_picture(layer, image, name))
        elif layer.type in LOSS_TYPES:
            pictures.append(scores_picture(layer, output.reshape(-1), run.class_names))
        else:
            pictures.append(volume_picture(layer, output))
    return NetworkPicture(run_key, sample, tuple(pictures))


def filter_pictures(run: Run) -> list[LayerPicture]:
    """The filters of every convolution layer of `run.spec`, one picture per layer."""
    return [filter_picture(layer, run.weights(layer.id)["W"])
            for layer in filtered_layers(run.spec)]


def filtered_layers(spec: NetworkSpec) -> list[LayerSpec]:
    """The layers whose filters are drawn: every convolution."""
    return [layer for layer in spec.layers if layer.type == "conv"]


# --- one layer ----------------------------------------------------------------------------
def tile_columns(count: int, tile_height: int, limit: int) -> int:
    """Tiles a row takes so that `count` tiles fit COLUMN_HEIGHT, at most `limit`."""
    rows = max(1, (COLUMN_HEIGHT + GAP) // (tile_height + GAP))
    return max(1, min(limit, -(-count // rows)))


def cut_note(shown: int, total: int, noun: str) -> str:
    return f" · first {shown} of {total} {noun} shown" if shown < total else ""


def input_picture(layer: LayerSpec, image: np.ndarray, label: str | None) -> LayerPicture:
    """The image itself, grey or in colour, about INPUT_SIZE px; other depths as slices."""
    h, w, d = image.shape
    caption = f"{layer.type} · {Volume(w, h, d)}" + (f" · class {label}" if label else "")
    if d not in (1, 3):
        return maps_picture(layer, image.astype(np.float32), caption)
    tile = (image[None, ..., 0] if d == 1 else image[None]).astype(np.float32) / 255
    tile = enlarge(to_rgb32(shrink(tile, INPUT_SIZE)), INPUT_SIZE)
    ranges = np.array([[image.min(), image.max()]], np.float32)
    return LayerPicture(layer.id, layer.name, caption, tile_grid(tile, 1, ranges),
                        "image: pixel values {low} … {high}",
                        units=shrunk_cover(h, w, INPUT_SIZE))


def volume_picture(layer: LayerSpec, output: np.ndarray) -> LayerPicture:
    """A layer's (H, W, D) output: depth slices as tiles, a 1×1×D vector as squares."""
    h, w, d = output.shape
    caption = f"{layer.type} · {Volume(w, h, d)}"
    if h * w == 1:
        return units_picture(layer, output.reshape(-1), caption)
    return maps_picture(layer, output, caption)


def maps_picture(layer: LayerSpec, maps: np.ndarray, caption: str) -> LayerPicture:
    """A tile per depth slice (at most MAX_TILES), each auto-contrasted."""
    depth = maps.shape[-1]
    slices = np.moveaxis(maps[..., :MAX_TILES], -1, 0)        # (N, H, W)
    ranges = np.stack([slices.min(axis=(1, 2)), slices.max(axis=(1, 2))], axis=1)
    tiles = enlarge(to_rgb32(stretch(shrink(slices))[0]), MAP_TILE)
    cols = tile_columns(len(tiles), tiles.shape[1], MAX_TILE_COLUMNS)
    return LayerPicture(layer.id, layer.name, caption + cut_note(len(slices), depth, "slices"),
                        tile_grid(tiles, cols, ranges),
                        "depth slice {index}: values {low} … {high}",
                        units=shrunk_cover(*maps.shape[:2]))


def units_picture(layer: LayerSpec, vector: np.ndarray, caption: str) -> LayerPicture:
    """A small square per unit (at most MAX_UNITS), grey on one scale for the whole layer,
    larger squares for shorter vectors."""
    shown = vector[:MAX_UNITS]
    side = next(side for limit, side in UNIT_SIDES if len(shown) <= limit)
    low, high = shown.min(), shown.max()
    scaled = (shown - low) / (high - low) if high > low else np.zeros_like(shown)
    tiles = np.broadcast_to(to_rgb32(scaled[:, None, None]), (len(shown), side, side))
    cols = tile_columns(len(shown), side, MAX_UNIT_COLUMNS)
    return LayerPicture(layer.id, layer.name, caption + cut_note(len(shown), len(vector), "units"),
                        tile_grid(tiles, cols, np.stack([shown, shown], axis=1)),
                        "unit {index}: value {low}", units=(1, 1))


def scores_picture(layer: LayerSpec, values: np.ndarray, class_names: list[str]) -> LayerPicture:
    """The TOP_CLASSES best classes as bars: probabilities (softmax) or scores (SVM)."""
    probabilities = layer.type == "softmax"
    if probabilities:
        bars = values
    else:
        low, high = values.min(), values.max()
        bars = (values - low) / (high - low) if high > low else np.ones_like(values)
    bars = np.nan_to_num(bars, nan=0.0).clip(0, 1)
    best = np.argsort(values)[::-1][:TOP_CLASSES]
    scores = tuple(
        ClassScore(class_names[i], float(values[i]),
                   f"{100 * values[i]:.1f} %" if probabilities else number(values[i]),
                   float(bars[i]))
        for i in best)
    what = "probabilities" if probabilities else "scores"
    caption = (f"{layer.type} · {Volume(1, 1, len(values))} · {what}"
               + cut_note(len(best), len(values), "classes"))
    return LayerPicture(layer.id, layer.name, caption, None, scores=scores)


def filter_picture(layer: LayerSpec, weights: np.ndarray) -> LayerPicture:
    """Conv weights (F, F, D1, K): a tile per filter (at most MAX_TILES), each
    auto-contrasted; the hover gives the range of all its weights."""
    f, _, d1, k = weights.shape
    shown = weights[..., :MAX_TILES]
    flat = shown.reshape(-1, shown.shape[-1])
    ranges = np.stack([flat.min(axis=0), flat.max(axis=0)], axis=1)
    tiles = enlarge(to_rgb32(stretch(shrink(filter_tiles(shown).astype(np.float32)))[0]),
                    MAP_TILE)
    cols = tile_columns(len(tiles), tiles.shape[1], MAX_TILE_COLUMNS)
    drawn = {1: "grey", 3: "RGB"}.get(d1, f"mean over {d1} slices")
    caption = (f"{layer.type} · {k} filters {f}×{f}×{d1} · {drawn}"
               + cut_note(shown.shape[-1], k, "filters"))
    return LayerPicture(layer.id, layer.name, caption, tile_grid(tiles, cols, ranges),
                        f"filter {{index}} ({f}×{f}×{d1}): weights {{low}} … {{high}}")
