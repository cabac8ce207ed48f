"""The course notes' advice, checked on a design: where its compute, memory and parameters
are (the VGG case study: memory and compute early, parameters in the FC layers), each conv
stage's filters × positions (which the notes keep roughly constant), and gentle hints
where a design goes against the notes.

Built on `engine.shapes.analyse`; hints never block anything, unlike its errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConvNetError
from engine.shapes import Analysis, LayerInfo

# Dropout's usual rate in the fully connected layers, which hold most parameters; the notes
# apply less in the early conv layers, so as much as this there is heavy.
HEAVY_DROPOUT = 0.5


class AdviceError(ConvNetError):
    """Training settings the advice cannot be computed for."""


@dataclass(frozen=True)
class LayerShare:
    """A layer's part of the network's totals per image, in percent."""

    compute: float      # of the multiply-adds
    memory: float       # of the activation memory (in-place layers add none)
    parameters: float


@dataclass(frozen=True)
class ConvStage:
    """A conv layer's filters × positions, K · W2 · H2, and its ratio to the first conv's."""

    product: int
    ratio: float


@dataclass(frozen=True)
class Hint:
    """Where a design goes against the notes: the layer (None for the whole network or its
    training settings) and one plain sentence with the notes' reason."""

    layer_id: str | None
    text: str


@dataclass(frozen=True)
class LearningRateHint(Hint):
    """A batch-size hint with the learning rate scaled linearly to the new batch size."""

    suggested_lr: float = 0.0


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def shares(analysis: Analysis) -> dict[str, LayerShare]:
    """Per layer id with a volume, its share of the network's compute, memory, parameters."""
    macs, floats, params = (analysis.total_macs, analysis.total_activations,
                            analysis.total_params)
    return {info.layer.id: LayerShare(_percent(info.macs, macs),
                                      _percent(info.allocated, floats),
                                      _percent(info.params, params))
            for info in analysis.layers if info.output is not None}


def _convs(analysis: Analysis) -> list[LayerInfo]:
    return [i for i in analysis.layers if i.layer.type == "conv" and i.output is not None]


def conv_stages(analysis: Analysis) -> dict[str, ConvStage]:
    """Per conv layer id, K · W2 · H2 (the size of its output volume) against the first's."""
    convs = _convs(analysis)
    if not convs:
        return {}
    first = convs[0].output.size
    return {i.layer.id: ConvStage(i.output.size, i.output.size / first) for i in convs}


def design_hints(analysis: Analysis) -> list[Hint]:
    """Hints for the layers, in stack order: a conv with fewer filters than the conv above
    it, and heavy dropout before the last conv layer."""
    hints = []
    previous = None
    last_conv = max((i for i, layer in enumerate(analysis.spec.layers) if layer.type == "conv"),
                    default=-1)
    for i, layer in enumerate(analysis.spec.layers):
        if layer.type == "conv":
            if previous is not None and layer["filters"] < previous["filters"]:
                hints.append(Hint(layer.id, (
                    f"'{layer.name}' has {layer['filters']} filters, fewer than the "
                    f"{previous['filters']} of '{previous.name}' above it; the notes use fewer "
                    "filters near the input, where there is less to know, and keep or grow "
                    "them as the volume shrinks.")))
            previous = layer
        elif layer.type == "dropout" and i < last_conv and layer["p"] >= HEAVY_DROPOUT:
            hints.append(Hint(layer.id, (
                f"'{layer.name}' drops activations with p={layer['p']:g} before the last "
                "conv layer; the notes apply less dropout in early conv layers, which have few "
                "parameters compared with the fully connected layers (try p ≤ 0.25).")))
    return hints


def batch_size_hint(old_batch: int, new_batch: int, old_lr: float,
                    new_lr: float) -> LearningRateHint | None:
    """A hint when the batch size went down from `old_batch` (the one the learning rate was
    set for) without the learning rate going down from `old_lr`, with `old_lr` scaled
    linearly to `new_batch`; None otherwise."""
    if min(old_batch, new_batch) < 1:
        raise AdviceError("A batch size must be at least 1 image.")
    if min(old_lr, new_lr) <= 0:
        raise AdviceError("A learning rate must be greater than 0.")
    if new_batch >= old_batch or new_lr < old_lr:
        return None
    suggested = old_lr * new_batch / old_batch
    return LearningRateHint(None, (
        f"The batch size went down from {old_batch} to {new_batch} but the learning rate "
        f"stayed at {new_lr:g}; the notes say smaller batch sizes likely need smaller "
        f"learning rates: scaled with the batch size it would be {suggested:.3g}."),
        suggested)
