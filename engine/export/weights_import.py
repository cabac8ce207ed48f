"""Weights trained by an exported PyTorch project, brought back as a run the designer opens.

A .pt file is read with `torch.load(..., weights_only=True)`, which builds tensors and plain
containers only and runs no code from the file. It is either a state dict (weights.pt, or
any `torch.save(model.state_dict())` of model.py's Net) or train.py's checkpoint, whose
settings, classes, data source and curves come along. Every array is checked against the
network before any is used, and everything else against what a run file may hold, so the
run saved from it opens again; a mismatch is one sentence.
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engine.backend import NUMPY
from engine.bounded import is_text, open_regular, shown, unpack_problem
from engine.checkpoint import COUNTED, MAX_HISTORY, is_count, is_float
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
ZIP_MAGIC = b"PK\x03\x04"  # how torch.load tells its zip format from the legacy one
FLOAT32_MAX = np.finfo(np.float32).max  # a run keeps its weights as float32


def network_beside(weights: str | Path) -> Path | None:
    """The network file an exported project keeps beside its weights, if it is there."""
    return _beside(Path(weights).expanduser(), NETWORK_FILE)


def _beside(weights: Path, name: str) -> Path | None:
    path = weights.parent / name
    try:
        return path if path.is_file() else None
    except OSError as e:  # a folder that may not be searched
        raise ExportError(f"'{path}' cannot be looked for: {e.strerror or e}; "
                          "check the permissions of its folder.") from None


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
    path = _beside(weights, SETTINGS_FILE)
    if path is None:
        return {}
    with open_regular(path, ExportError) as (file, size):
        try:
            settings = json.loads(file.read(size)) if size <= MAX_SETTINGS_BYTES else None
        except (OSError, ValueError, RecursionError):  # RecursionError: [[[[… nested deeply
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
    unreadable = (f"'{path.name}' cannot be read as PyTorch weights; give the checkpoint.pt "
                  "or weights.pt of an exported project.")
    with open_regular(path, ExportError, f"'{path}'") as (file, size):
        _check_packing(file, size, path.name, unreadable)
        try:
            with warnings.catch_warnings():  # of a foreign pickle, besides the error below
                warnings.simplefilter("ignore")
                content = torch.load(file, map_location="cpu", weights_only=True)
        except Exception:  # a foreign or damaged file fails in many ways, all the same to a user
            raise ExportError(unreadable) from None
    meta = {}
    if isinstance(content, dict) and isinstance(content.get("model"), dict):
        meta, content = {k: v for k, v in content.items() if k != "model"}, content["model"]
    if not isinstance(content, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items()):
        raise ExportError(f"'{path.name}' holds no state dict of named tensors; give the "
                          "checkpoint.pt or weights.pt of an exported project.")
    return {k: _numpy(k, v, path.name) for k, v in content.items()}, meta


def _check_packing(file: BinaryIO, size: int, file_name: str, unreadable: str) -> None:
    """torch.load unpacks each entry of its zip format whole, to the size the archive's
    directory declares: together they must stay in proportion to the file. (Its legacy
    format fails on a tensor larger than the file holds before filling any memory.)"""
    if file.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
        try:
            unpacked = sum(info.file_size for info in zipfile.ZipFile(file).infolist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise ExportError(unreadable) from None
        problem = unpack_problem(unpacked, size)
        if problem:
            raise ExportError(f"'{file_name}' cannot be imported: {problem}; give the "
                              "checkpoint.pt or weights.pt of an exported project.")
    file.seek(0)


def _numpy(key: str, tensor: Any, file_name: str) -> np.ndarray:
    try:
        return tensor.detach().cpu().numpy()
    except (TypeError, RuntimeError, NotImplementedError):
        # bfloat16, float8 and quantized types, sparse layouts, conjugated or meta tensors
        raise ExportError(f"'{file_name}' holds '{shown(key)}' as a tensor of {_kind(tensor)}, "
                          "which NumPy cannot hold; save it as a dense float32 tensor on the "
                          "CPU and import it again.") from None


def _kind(tensor: Any) -> str:
    """Its type and whatever else keeps it from NumPy, e.g. "float32, sparse_coo"."""
    parts = [str(tensor.dtype)]
    if str(tensor.layout) != "torch.strided":
        parts.append(str(tensor.layout))
    if tensor.device.type != "cpu":
        parts.append(f"on the {tensor.device.type} device")
    if tensor.is_conj():
        parts.append("conjugated")
    return ", ".join(part.removeprefix("torch.") for part in parts)


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
    if not (source is None or is_text(source)):
        raise ExportError(f"The data set named in '{file_name}' is not a path or a name; "
                          "give one with --data.")
    if not (network_file is None or is_text(network_file)):
        raise ExportError(f"The path of the network file, '{shown(network_file)}', is not "
                          "UTF-8 text, which a run file must keep; move the network to a "
                          "path that is.")
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
            raise ExportError(f"{fits}: it has '{shown(key)}', which no layer of the network has; "
                              "choose the network these weights were trained for.")
        if key.endswith(OPTIONAL):
            continue
        if a.shape != expected[key]:
            raise ExportError(f"{fits}: '{key}' is {_shape(a.shape)} there but the network "
                              f"needs {_shape(expected[key])}.")
        if a.dtype.kind != "f":
            raise ExportError(f"'{file_name}' holds non-float values in '{key}'; these weights "
                              "cannot be used.")
        if not (np.abs(a) <= FLOAT32_MAX).all():  # false for NaN and infinity too
            raise ExportError(f"'{file_name}' holds non-finite values in '{key}' (or values "
                              "beyond float32's range); these weights cannot be used.")
    if (arrays[f"{NORMALIZE}.std"].astype(np.float32) <= 0).any():
        raise ExportError(f"'{file_name}' holds a normalisation that divides by a standard "
                          f"deviation that is not positive ('{NORMALIZE}.std'); these weights "
                          "cannot be used.")


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
            and all(map(is_text, names))):
        raise ExportError(f"The class names in '{file_name}' are not {classes} texts, one per "
                          "class score of the network.")
    return names


def _data_name(meta: dict, source: str | None) -> str:
    if is_text(meta.get("data_name")) and source == meta.get("data_source"):
        return meta["data_name"]
    if source is None or source in EMBEDDED:
        return EMBEDDED[source or "digits"].title
    return Path(source).name


def _history(meta: dict, file_name: str) -> dict[str, list]:
    """The curves as a run file keeps them: counts for "step" and "epoch", floats for the
    others (NaN where there is no finite value, as without validation images)."""
    history = new_history()
    given = meta.get("history") or {}
    for key in history:
        values = given.get(key, []) if isinstance(given, dict) else None
        fits = is_count if key in COUNTED else is_float
        if not (isinstance(values, list) and len(values) <= MAX_HISTORY
                and all(map(fits, values))):
            raise ExportError(f"The curves in '{file_name}' are damaged ('{key}').")
        history[key] = values if key in COUNTED else [
            float(v) if math.isfinite(v) else math.nan for v in values]
    if len({len(history[k]) for k in HISTORY_STEP_KEYS}) > 1 or \
            len({len(history[k]) for k in HISTORY_EPOCH_KEYS}) > 1:
        raise ExportError(f"The curves in '{file_name}' are damaged (of unequal lengths).")
    return history
