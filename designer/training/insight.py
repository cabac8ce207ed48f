"""What the insight views ask of the run shown, and what they get back: a unit's receptive
fields, an image's saliency and Grad-CAM, the misclassified validation images. The answers
are computed by `engine.insight` on the worker thread (see `session.Session`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.data import DataSet
from engine.insight.misclassified import Mistake, misclassified
from engine.insight.receptive import UnitField, effective_field
from engine.insight.saliency import Explanation, explain
from engine.run import Run


@dataclass(frozen=True)
class UnitFieldRequest:
    """The fields of unit (row, col, channel) of a layer, for validation image `sample`."""

    sample: int
    layer_id: str
    channel: int | None
    row: int
    col: int


@dataclass(frozen=True)
class UnitFieldAnswer:
    key: str
    request: UnitFieldRequest
    field: UnitField
    layer_name: str


@dataclass(frozen=True)
class SaliencyRequest:
    """Saliency and Grad-CAM of `image` for class `class_index` (None: the predicted one),
    Grad-CAM at layer `cam_layer` (None: the last convolution)."""

    image: np.ndarray = field(compare=False)
    class_index: int | None = None
    cam_layer: str | None = None


@dataclass(frozen=True)
class SaliencyAnswer:
    key: str
    image: np.ndarray
    explanation: Explanation
    class_names: list[str]


@dataclass(frozen=True)
class MisclassifiedRequest:
    pass


@dataclass(frozen=True)
class MisclassifiedImages:
    key: str
    mistakes: tuple[Mistake, ...]   # most confident first
    images: int                      # validation images looked at
    class_names: list[str]


def unit_field(run: Run, data: DataSet, request: UnitFieldRequest, key: str) -> UnitFieldAnswer:
    r = request
    found = effective_field(run, data.val_x[r.sample], r.layer_id, r.row, r.col, r.channel)
    return UnitFieldAnswer(key, r, found, run.spec.layer(r.layer_id).name)


def saliency(run: Run, request: SaliencyRequest, key: str) -> SaliencyAnswer:
    explained = explain(run, request.image, request.class_index, request.cam_layer)
    return SaliencyAnswer(key, request.image, explained, list(run.class_names))


def mistakes(run: Run, data: DataSet, key: str) -> MisclassifiedImages:
    found = misclassified(run, data.val_x, data.val_y)
    return MisclassifiedImages(key, tuple(found), len(data.val_y), list(run.class_names))
