"""A PyTorch project of a design or a run: model.py, weights.pt, train.py, settings.json,
network.json, README.md and the designer's own modules that train.py runs on."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from string import Template

import numpy as np

from engine.atomic import temporary_beside
from engine.export.errors import ExportError, require
from engine.export.layout import NORMALIZE, attribute_names, layer_arrays, normalizer_arrays
from engine.export.pytorch_model import model_source
from engine.export.source import Source
from engine.export.vendor import copy_modules
from engine.netfile import dumps
from engine.resources import export_project_file
from engine.shapes import format_bytes

NETWORK_FILE = "network.json"  # the network, beside the weights, for bringing them back
SETTINGS_FILE = "settings.json"  # the run's settings, classes and data set, for train.py
RESUME_FILE = "checkpoint.pt"  # train.py's own checkpoint, which --resume continues
GPU_COUNTS = (1, 2, 4, 8)


def reserved_names() -> set[str]:
    """Names a layer attribute of an nn.Module must not take."""
    import torch

    return set(dir(torch.nn.Module))


def torch_state(source: Source, names: dict[str, str]) -> dict[str, np.ndarray]:
    """The state dict of model.py's Net as NumPy arrays, in the module's order."""
    state = {f"{NORMALIZE}.{k}": a for k, a in normalizer_arrays(source.normalizer).items()}
    for info in source.analysis.layers[1:-1]:
        lid = info.layer.id
        for key, a in layer_arrays(info, source.params[lid], source.buffers[lid]).items():
            state[f"{names[lid]}.{key}"] = a
        if info.layer.type == "batchnorm":
            state[f"{names[lid]}.num_batches_tracked"] = np.array(0, np.int64)
    return state


def resume_state(source: Source, names: dict[str, str]) -> dict:
    """train.py's checkpoint of a run as it is, for `--resume`: weights, the optimizer's
    cache per PyTorch parameter (the weights and biases) in PyTorch's layout, the updates
    made, the epochs done and the curves; for a run stopped within an epoch, the images of
    it trained on and their sums, so that train.py takes only the rest of it."""
    import torch

    def tensors(arrays: dict[str, np.ndarray]) -> dict:
        return {k: torch.from_numpy(a) for k, a in arrays.items()}

    cache = [torch_state(replace(source, params=slot), names) for slot in source.slots]
    parameters = [k for k in torch_state(source, names) if k.endswith((".weight", ".bias"))]
    return {
        "epoch": source.epochs, "offset": source.offset, "sums": list(source.running),
        "history": source.history, "config": asdict(source.config),
        "class_names": list(source.class_names), "data_source": source.data_source,
        "model": tensors(torch_state(source, names)),
        "optimizer": {"steps": source.updates,
                      "slots": {k: [torch.from_numpy(slot[k]) for slot in cache]
                                for k in parameters}},
    }


def write_project(source: Source, folder: str | Path) -> Path:
    """Write the project into `folder`, which must be new or empty: whole, or not at all.

    It is written into a hidden folder beside it and renamed into place at the end, so a
    full disk leaves no half project behind that would refuse the next try; the hidden
    folder of an export that was killed goes at the next export to the same folder.
    """
    require("pytorch")
    folder = Path(folder).expanduser()
    target = Path(os.path.realpath(folder))  # a link to an empty folder is written through
    try:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ExportError(f"'{folder}' already exists and is not an empty folder; choose "
                              "a new folder for the project.")
        target.parent.mkdir(parents=True, exist_ok=True)
        with temporary_beside(target) as partial:
            try:
                partial.mkdir()
                _write_files(source, partial)
                if target.exists():  # the empty folder asked for: the project takes its place
                    partial.chmod(target.stat().st_mode & 0o7777)
                    target.rmdir()  # Windows renames onto no folder, not even an empty one
                partial.rename(target)
            finally:
                shutil.rmtree(partial, ignore_errors=True)  # gone already once renamed
    except (OSError, RuntimeError) as e:  # RuntimeError: torch.save's writer, in its own words
        reason = (e.strerror or str(e)) if isinstance(e, OSError) else "writing its weights failed"
        raise ExportError(f"Could not write the project into '{folder}': {reason}; free some "
                          "space or choose another folder.") from None
    return folder


def _write_files(source: Source, folder: Path) -> None:
    import torch

    names = attribute_names(source.spec, reserved_names())
    (folder / "model.py").write_text(model_source(source, names), encoding="utf-8")
    torch.save({k: torch.from_numpy(a) for k, a in torch_state(source, names).items()},
               folder / "weights.pt")
    if source.fitted:  # a run: train.py --resume continues it
        torch.save(resume_state(source, names), folder / RESUME_FILE)
    shutil.copyfile(export_project_file("train.py"), folder / "train.py")
    (folder / SETTINGS_FILE).write_text(json.dumps({
        "network": source.spec.name, "config": asdict(source.config),
        "data_source": source.data_source, "fit_normalization": not source.fitted,
        "class_names": source.class_names,
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / NETWORK_FILE).write_text(dumps(source.spec), encoding="utf-8")
    (folder / "README.md").write_text(_readme(source), encoding="utf-8")
    copy_modules(folder)


def per_gpu_memory(source: Source, gpus: int) -> tuple[int, int]:
    """Each GPU's share of the batch and the bytes the memory model gives it."""
    share = -(-source.config.batch_size // gpus)
    return share, source.analysis.memory(share, source.config.optimizer).total


def _readme(source: Source) -> str:
    c = source.config
    rows = ["| GPUs | images per GPU | memory per GPU |", "| ---: | ---: | ---: |"]
    for gpus in GPU_COUNTS:
        share, need = per_gpu_memory(source, gpus)
        rows.append(f"| {gpus} | {share} | {format_bytes(need)} |")
    origin = ("Exported from a run: `weights.pt` holds its trained weights, batch-norm "
              "statistics and normalisation, and `checkpoint.pt` the run as it is (its "
              f"optimizer's cache, {source.epochs} epoch{'' if source.epochs == 1 else 's'} "
              "done, its curves): "
              f"`train.py --resume checkpoint.pt --epochs {source.epochs + 10}` trains it 10 "
              "epochs further, its steps, schedule and curves going on where they were (a run "
              "stopped within an epoch trains only the rest of that epoch: as many images as "
              "it had left, though not necessarily the same ones, since the order here is "
              "PyTorch's)." if source.fitted else
              "Exported from a network file: `weights.pt` holds fresh initial weights, drawn "
              "as a new run draws them; `train.py` fits the normalisation on the training "
              "images when it starts.")
    return Template(export_project_file("README.md").read_text(encoding="utf-8")).substitute(
        name=source.spec.name, origin=origin, data=source.data_source or "the embedded digits",
        slug=re.sub(r"\W+", "-", source.spec.name.lower()).strip("-") or "convnet",
        optimizer=c.optimizer, batch=c.batch_size, memory="\n".join(rows))
