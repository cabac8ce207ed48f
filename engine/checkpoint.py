"""Checkpoint files: one uncompressed NumPy .npz archive, read without pickle.

It holds a "meta" entry (JSON text: format, version, the network spec, the training
settings, epoch/step/batch position, history, class names, data source, the random
generator's state) and one array per parameter ("param/<layer id>/<name>"),
batch-norm statistic ("buffer/..."), optimizer cache ("optim/<layer id>/<name>/<slot>")
and normalisation statistic ("norm/..."). Together they let a run continue
bit-for-bit where it stopped.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import NetworkFileError
from engine.netfile import atomic_write, spec_from_dict, spec_to_dict
from engine.spec import NetworkSpec

if TYPE_CHECKING:
    from engine.trainer import Trainer

FORMAT = "convnet-designer-checkpoint"
VERSION = 1
_GROUPS = ("param", "buffer", "optim", "norm")


class CheckpointError(NetworkFileError):
    """A checkpoint that cannot be written, read, or continued."""


@dataclass
class Checkpoint:
    """A checkpoint as read from disk, with host (NumPy) arrays."""

    spec: NetworkSpec
    meta: dict[str, Any]
    arrays: dict[str, dict[str, np.ndarray]]  # group → name → array


def save_checkpoint(trainer: "Trainer", path: str | os.PathLike) -> None:
    to_numpy = trainer.backend.to_numpy
    meta = {
        "format": FORMAT, "version": VERSION,
        "spec": spec_to_dict(trainer.spec),
        "config": asdict(trainer.config),
        "epoch": trainer.epoch, "step": trainer.step, "batch": trainer.batch,
        "running": trainer.running,
        "optimizer_steps": trainer.optimizer.steps,
        "rng": trainer.rng.bit_generator.state,
        "class_names": trainer.class_names,
        "data_source": trainer.data_source,
        "history": trainer.history,
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    groups = {
        "param": {key: to_numpy(v) for key, v, _ in trainer.model.parameters()},
        "buffer": {key: to_numpy(v) for key, v in trainer.model.buffers()},
        "optim": trainer.optimizer.state(),
        "norm": trainer.normalizer.to_state(),
    }
    for group, named in groups.items():
        arrays.update({f"{group}/{name}": np.asarray(a) for name, a in named.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write(path, buffer.getvalue())
    except OSError as e:
        raise CheckpointError(f"Could not save the checkpoint '{path}': {e.strerror or e}; "
                              "choose another folder or file name.") from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint; every problem is one CheckpointError sentence."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"The checkpoint '{path}' does not exist; check the path.") from None
    except OSError as e:
        raise CheckpointError(f"Could not read '{path}': {e.strerror or e}.") from None
    foreign = f"'{path.name}' is not a ConvNet Designer checkpoint"
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            entries = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile):
        raise CheckpointError(f"{foreign}, or it is damaged (it cannot be read as an archive of "
                              "arrays).") from None
    try:
        meta = json.loads(str(entries.pop("meta")))
    except (KeyError, ValueError):
        raise CheckpointError(f"{foreign}: it has no readable training record.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{foreign}: its training record has another format.")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"'{path.name}' is a checkpoint of format version "
                              f"{meta.get('version')}; this version reads version {VERSION}.")
    from engine.trainer import TrainConfig

    needed = {"spec", "config", "epoch", "step", "batch", "running", "optimizer_steps", "rng",
              "class_names", "data_source", "history"}
    missing = sorted(needed - set(meta))
    config_names = {f.name for f in fields(TrainConfig)}
    if missing or not isinstance(meta["config"], dict) or set(meta["config"]) != config_names:
        raise CheckpointError(f"'{path.name}' is an incomplete checkpoint "
                              f"({missing[0] if missing else 'its settings'} is missing or wrong).")
    spec = spec_from_dict(meta["spec"], path.name)
    arrays: dict[str, dict[str, np.ndarray]] = {group: {} for group in _GROUPS}
    for name, value in entries.items():
        group, _, rest = name.partition("/")
        if group not in arrays:
            raise CheckpointError(f"{foreign}: it holds an unknown entry '{name}'.")
        arrays[group][rest] = value
    return Checkpoint(spec, meta, arrays)


def restore(trainer: "Trainer", saved: Checkpoint, data: Any, control: Any,
            overrides: dict[str, Any]) -> "Trainer":
    """Set up `trainer` (a bare instance) from `saved`, with settings in `overrides` changed.

    With a different optimizer than the saved one, its cache starts empty."""
    from engine.data import Normalizer, load_data
    from engine.trainer import TrainConfig

    config = TrainConfig(**{**saved.meta["config"], **overrides})
    if data is None:
        data = load_data(saved.meta["data_source"], volume=saved.spec.input_volume)
    if len(data.class_names) != len(saved.meta["class_names"]):
        raise CheckpointError(f"The checkpoint was trained on {len(saved.meta['class_names'])} "
                              f"classes but '{data.name}' has {len(data.class_names)}.")
    trainer._setup(saved.spec, data, config, control, Normalizer.from_state(saved.arrays["norm"]))
    _copy_into(trainer.model.parameters(), saved.arrays["param"], trainer.backend)
    _copy_into(((k, v, None) for k, v in trainer.model.buffers()), saved.arrays["buffer"],
               trainer.backend)
    if config.optimizer == saved.meta["config"]["optimizer"]:
        trainer.optimizer.load_state(saved.arrays["optim"], saved.meta["optimizer_steps"])
    try:
        trainer.rng.bit_generator.state = saved.meta["rng"]
    except (TypeError, ValueError, KeyError):
        raise CheckpointError("The checkpoint's random-generator state is damaged.") from None
    meta = saved.meta
    trainer.epoch, trainer.step, trainer.batch = meta["epoch"], meta["step"], meta["batch"]
    trainer.running = dict(meta["running"])
    trainer.history = {key: list(values) for key, values in meta["history"].items()}
    trainer.class_names = list(meta["class_names"])
    trainer.data_source = meta["data_source"]
    trainer.last_good.save()
    return trainer


def _copy_into(targets, saved: dict[str, np.ndarray], backend) -> None:
    for key, value, _ in targets:
        if key not in saved or saved[key].shape != value.shape:
            raise CheckpointError(f"The checkpoint's arrays do not match its network "
                                  f"(entry '{key}' is missing or has the wrong shape).")
        value[...] = backend.asarray(saved[key], value.dtype)
