"""Weights trained by an exported PyTorch project, brought back as a run the designer opens.

A .pt file is read with `torch.load(..., weights_only=True)`, which builds tensors and plain
containers only and runs no code from the file. It is either a state dict (weights.pt, or
any `torch.save(model.state_dict())` of model.py's Net) or train.py's checkpoint, whose
settings, classes, data source and curves come along. Every array is checked against the
network before any is used; a mismatch is one sentence.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.backend import NUMPY
from engine.bounded import open_regular
from engine.config import TrainConfig, TrainingError, config_from_dict
from engine.data.load import EMBEDDED
from engine.export.errors import ExportError, require
from engine.export.layout import (
    NORMALIZE, attribute_names, normalizer_from, normalizer_shapes, our_arrays,
)
from engine.export.project import NETWORK_FILE, SETTINGS_FILE, reserved_names, torch_state
from engine.export.source import Source
from engine.model import build
from engine.netfile import load_network
from engine.optim import Optimizer
from engine.run import HISTORY_EPOCH_KEYS, HISTORY_STEP_KEYS, Run, new_history
from engine.spec import NetworkSpec

OPTIONAL = ("num_batches_tracked",)  # PyTorch's count, which the designer does not keep
MAX_SETTINGS_BYTES = 1 << 20  # a project's settings.json is a few hundred bytes


def network_beside(weights: str | Path) -> Path | None:
    """The network file an exported project keeps beside its weights, if it is there."""
    path = Path(weights).expanduser().parent / NETWORK_FILE
    return path if path.is_file() else None


def import_weights(weights: str | Path, network: str | Path,
                   data_source: str | None = None) -> Run:
    """The run of the network saved at `network` holding the weights of the .pt file. A
    plain state dict takes its settings, classes and data set from the project's
    settings.json beside it, where there is one."""
    weights, network = Path(weights).expanduser(), Path(network)
    arrays, meta = read_weights(weights)
    if not meta:
        meta = settings_beside(weights)
    return run_from_weights(load_network(network), arrays, meta, weights.name, data_source,
                            str(network.resolve()))


def settings_beside(weights: Path) -> dict[str, Any]:
    """What the project's settings.json beside `weights` says of the run (nothing if it is
    not there)."""
    path = weights.parent / SETTINGS_FILE
    if not path.is_file():
        return {}
    with open_regular(path, ExportError) as (file, size):
        try:
            settings = json.loads(file.read(size)) if size <= MAX_SETTINGS_BYTES else None
        except (OSError, ValueError):
            settings = None
    if not isinstance(settings, dict):
        raise ExportError(f"'{path}' is not the settings an exported project writes; move it "
                          "away or give the checkpoint.pt instead.")
    return {key: settings[key] for key in ("config", "class_names", "data_source")
            if key in settings}


def read_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of a .pt file by PyTorch name, and the checkpoint's other entries."""
    require("import")
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise ExportError(f"'{path}' is not a file; give the checkpoint.pt or weights.pt of "
                          "an exported project.")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a foreign or damaged file fails in many ways, all the same to a user
        raise ExportError(f"'{path.name}' cannot be read as PyTorch weights; give the "
                          "checkpoint.pt or weights.pt of an exported project.") from None
    meta = {}
    if isinstance(content, dict) and isinstance(content.get("model"), dict):
        meta, content = {k: v for k, v in content.items() if k != "model"}, content["model"]
    if not isinstance(content, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items()):
        raise ExportError(f"'{path.name}' holds no state dict of named tensors; give the "
                          "checkpoint.pt or weights.pt of an exported project.")
    return {k: v.detach().cpu().numpy() for k, v in content.items()}, meta


def run_from_weights(spec: NetworkSpec, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                     file_name: str, data_source: str | None = None,
                     network_file: str | None = None) -> Run:
    """A run of `spec` holding `arrays` (as `read_weights` gives them)."""
    fresh = Source.of_network(spec)  # raises the network's first error, in a sentence
    names = attribute_names(spec, reserved_names())
    expected = {k: a.shape for k, a in torch_state(fresh, names).items()}
    _check(arrays, expected, spec, file_name)
    normalizer = normalizer_from(arrays[f"{NORMALIZE}.mean"], arrays[f"{NORMALIZE}.std"])
    config = _config(meta, file_name)
    model = build(spec, NUMPY, np.random.default_rng(config.seed))
    for layer, info in zip(model.layers, model.analysis.layers[1:-1]):
        prefix = f"{names[layer.id]}."
        params, buffers = our_arrays(info, {k[len(prefix):]: a for k, a in arrays.items()
                                            if k.startswith(prefix)})
        for target, values in ((layer.params, params), (layer.buffers, buffers)):
            for key, value in values.items():
                target[key][...] = value
    classes = fresh.analysis.output.depth
    class_names = _class_names(meta, classes, file_name)
    source = data_source if data_source is not None else meta.get("data_source")
    if not (source is None or isinstance(source, str)):
        raise ExportError(f"The data set named in '{file_name}' is not a path or a name; "
                          "give one with --data.")
    created = datetime.now().isoformat(timespec="seconds")
    run = Run(spec, config, model, Optimizer(config.optimizer, NUMPY, config.momentum),
              normalizer, np.random.default_rng(config.seed), class_names, source,
              _data_name(meta, source), f"{spec.name} trained with PyTorch "
              f"{created.replace('T', ' ')}", created, network_file)
    run.history = _history(meta, file_name)
    run.epoch = len(run.history["epoch"])
    run.step = len(run.history["step"])
    return run


def _check(arrays: dict[str, np.ndarray], expected: dict[str, tuple], spec: NetworkSpec,
           file_name: str) -> None:
    for mode in ("image", "channel"):  # the normaliser's shapes say its mode
        shapes = normalizer_shapes(mode, spec.input_volume)
        if all(arrays.get(f"{NORMALIZE}.{k}", np.empty(0)).shape == s for k, s in shapes.items()):
            expected.update({f"{NORMALIZE}.{k}": s for k, s in shapes.items()})
            break
    fits = f"'{file_name}' does not fit '{spec.name}'"
    for key, shape in expected.items():
        if key not in arrays and not key.endswith(OPTIONAL):
            raise ExportError(f"{fits}: it lacks '{key}'; choose the network these weights "
                              "were trained for.")
    for key, a in arrays.items():
        if key not in expected:
            raise ExportError(f"{fits}: it has '{key}', which no layer of the network has; "
                              "choose the network these weights were trained for.")
        if key.endswith(OPTIONAL):
            continue
        if a.shape != expected[key]:
            raise ExportError(f"{fits}: '{key}' is {_shape(a.shape)} there but the network "
                              f"needs {_shape(expected[key])}.")
        if a.dtype.kind != "f" or not np.isfinite(a).all():
            raise ExportError(f"'{file_name}' holds {'non-finite' if a.dtype.kind == 'f' else 'non-float'} "
                              f"values in '{key}'; these weights cannot be used.")


def _shape(shape: tuple) -> str:
    return "×".join(map(str, shape)) or "a single number"


def _config(meta: dict, file_name: str) -> TrainConfig:
    if "config" not in meta:
        return TrainConfig()
    try:
        return config_from_dict(meta["config"])
    except TrainingError as e:
        raise ExportError(f"The settings in '{file_name}' cannot be used: {e}") from None


def _class_names(meta: dict, classes: int, file_name: str) -> list[str]:
    names = meta.get("class_names")
    if names is None:
        return [str(i) for i in range(classes)]
    if not (isinstance(names, list) and len(names) == classes
            and all(isinstance(n, str) for n in names)):
        raise ExportError(f"The class names in '{file_name}' are not {classes} texts, one per "
                          "class score of the network.")
    return names


def _data_name(meta: dict, source: str | None) -> str:
    if isinstance(meta.get("data_name"), str) and source == meta.get("data_source"):
        return meta["data_name"]
    if source is None or source in EMBEDDED:
        return EMBEDDED[source or "digits"].title
    return Path(source).name


def _history(meta: dict, file_name: str) -> dict[str, list]:
    history = new_history()
    given = meta.get("history") or {}
    for key in HISTORY_STEP_KEYS + HISTORY_EPOCH_KEYS:
        values = given.get(key, []) if isinstance(given, dict) else None
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ExportError(f"The curves in '{file_name}' are damaged ('{key}').")
        history[key] = [v if isinstance(v, int) or math.isfinite(v) else math.nan
                        for v in values]
    if len({len(history[k]) for k in HISTORY_STEP_KEYS}) > 1 or \
            len({len(history[k]) for k in HISTORY_EPOCH_KEYS}) > 1:
        raise ExportError(f"The curves in '{file_name}' are damaged (of unequal lengths).")
    return history
