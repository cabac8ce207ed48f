"""Run files (checkpoints): saving and loading a `Run`, as one uncompressed NumPy .npz
archive read without pickle.

Entries:
- "meta": JSON text: format and version, the network spec, the settings, the run's name,
  start time and network file, the position (epoch, offset in images, step), the sums of
  the epoch in progress, the optimizer's step count, the random generator's state, the
  class names and the data source;
- "param/<layer id>/<name>", "buffer/<layer id>/<name>": weights and batch-norm statistics;
- "optim/<layer id>/<name>/<slot>": the optimizer's cache;
- "norm/mode|mean|std": the normaliser;
- "history/<key>": the curves, one array per key.

Loading checks every entry against the network the file itself describes before reading
its values: declared shapes and types come first, so a damaged or hand-edited file costs
no more memory than the network it names, and every problem is one sentence. Version-1
files (position in batches, history inside "meta") still open.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.atomic import atomic_write
from engine.backend import Backend, free_memory, get_backend
from engine.bounded import is_text, open_regular, shown
from engine.config import TrainConfig, TrainingError, config_from_dict
from engine.data import Normalizer
from engine.data.preprocess import MODES
from engine.errors import NetworkFileError
from engine.model import build
from engine.netfile import spec_from_dict, spec_to_dict
from engine.npzarchive import NpzArchive
from engine.optim import Optimizer
from engine.run import HISTORY_EPOCH_KEYS, HISTORY_STEP_KEYS, Run, new_running
from engine.shapes import OPTIMIZER_STATE_COPIES, Analysis, analyse, format_bytes
from engine.spec import NetworkSpec

FORMAT = "convnet-designer-checkpoint"
VERSION = 2
EXTENSION = ".ckpt"
FILE_FILTER = f"Training runs (*{EXTENSION});;All files (*)"
META = "meta"  # the entry of the training record
# The training record is small text (the history lives in arrays): a bound far above any
# real one keeps a hostile file from declaring gigabytes of it.
MAX_META_CHARS = 16 * 1024 * 1024
# Steps: the curves of the longest run anyone will train here (100 epochs of ImageNet at
# batch 25); as Python lists the three step curves then take about 0.5 GB.
MAX_HISTORY = 5_000_000
COUNTED = ("step", "epoch")  # the curves of whole numbers; the others are floats
MAX_COUNT = 2 ** 62  # of steps, epochs or images: far beyond any run, and within an int64


class CheckpointError(NetworkFileError):
    """A run file that cannot be written, read, or continued."""


@dataclass(frozen=True)
class RunSummary:
    """What a list of runs shows, read without the weights."""

    path: Path
    name: str
    created: str
    spec: NetworkSpec
    config: TrainConfig
    data_name: str
    epochs_done: int
    best_val_acc: float | None
    history: dict[str, list]
    step: int  # training steps taken


# --- saving ----------------------------------------------------------------------------------
def save_run(run: Run, path: str | os.PathLike, exclusive: bool = False) -> None:
    """Write everything needed to continue `run` bit for bit, atomically, without pickle.
    With `exclusive`, a file already at `path` is kept and FileExistsError raised."""
    to_numpy = run.backend.to_numpy
    meta = {
        "format": FORMAT, "version": VERSION,
        "spec": spec_to_dict(run.spec), "config": asdict(run.config),
        "name": run.name, "created": run.created, "network_file": run.network_file,
        "epoch": run.epoch, "offset": run.offset, "step": run.step,
        "running": run.running, "optimizer_steps": run.optimizer.steps,
        "rng": run.rng.bit_generator.state, "class_names": run.class_names,
        "data_source": run.data_source, "data_name": run.data_name,
    }
    arrays = {META: np.array(json.dumps(meta, ensure_ascii=False))}
    groups = {
        "param": {key: to_numpy(v) for key, v, _ in run.model.parameters()},
        "buffer": {key: to_numpy(v) for key, v in run.model.buffers()},
        "optim": run.optimizer.state(run.model.store),
        "norm": run.normalizer.to_state(),
        "history": {key: np.asarray(values, _history_dtype(key))
                    for key, values in run.history.items()},
    }
    for group, named in groups.items():
        arrays.update({f"{group}/{name}": np.asarray(a) for name, a in named.items()})
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays), exclusive)
    except OSError as e:
        if exclusive and isinstance(e, FileExistsError):
            raise
        raise CheckpointError(f"Could not save the run '{path}': {e.strerror or e}; "
                              "choose another folder or file name.") from None


def _history_dtype(key: str) -> Any:
    return np.int64 if key in COUNTED else np.float64


# --- loading ---------------------------------------------------------------------------------
def load_run(path: str | os.PathLike, device: str | None = None) -> Run:
    """Read and check a run file; `device` (cpu, gpu, auto) overrides the saved one.
    Every problem is one CheckpointError sentence."""
    path = Path(path)
    with _Archive(path) as archive:
        meta = archive.meta()
        spec, analysis = archive.network(meta)
        config = archive.config(meta)
        if device is not None:
            config = TrainConfig(**{**asdict(config), "device": device})
        backend = get_backend(config.device)
        _check_room(analysis, config.optimizer, backend, path)
        rng = np.random.default_rng()  # dropout draws from it: its state is set below
        model = build(spec, backend, rng)
        for key, value, _ in model.parameters():
            value[...] = backend.asarray(archive.array(f"param/{key}", value.shape))
        for key, value in model.buffers():
            value[...] = backend.asarray(archive.array(f"buffer/{key}", value.shape))
        optimizer = Optimizer(config.optimizer, backend, config.momentum)
        steps = archive.count(meta, "optimizer_steps")
        optimizer.load_state(archive.optimizer_cache(model, config.optimizer, steps), steps,
                             model.store)
        try:
            rng.bit_generator.state = meta["rng"]
        except (TypeError, ValueError, KeyError, OverflowError):
            archive.fail("its random-generator state is damaged")
        run = Run(spec, config, model, optimizer, archive.normalizer(spec), rng,
                  archive.class_names(meta, analysis), archive.text_or_none(meta, "data_source"),
                  **archive.identity(meta))
        run.epoch, run.step = archive.count(meta, "epoch"), archive.count(meta, "step")
        run.offset = archive.offset(meta, config)
        run.running = archive.running(meta)
        run.history = archive.history(meta)
        archive.check_all_used()
    return run


def read_run_summary(path: str | os.PathLike) -> RunSummary:
    """Name, network, settings, data, epochs, best validation accuracy and curves of a run
    file, without its weights (for a list of runs and for comparing runs)."""
    path = Path(path)
    with _Archive(path) as archive:
        meta = archive.meta()
        spec, _ = archive.network(meta)
        config = archive.config(meta)
        history = archive.history(meta)
        identity = archive.identity(meta)
        step = archive.count(meta, "step")
    accuracies = [v for v in history["val_acc"] if math.isfinite(v)]
    return RunSummary(path, identity["name"], identity["created"], spec, config,
                      identity["data_name"], len(history["epoch"]), max(accuracies, default=None),
                      history, step)


def _check_room(analysis: Analysis, optimizer: str, backend: Backend, path: Path) -> None:
    """The weights, their gradients and the optimizer's cache must fit before the model is
    built from a file that may declare any network at all."""
    m = analysis.memory(1, optimizer)
    need = m.parameters + m.parameter_gradients + m.optimizer_state
    free = free_memory(backend)
    if free is not None and need > free:
        raise CheckpointError(f"The network of '{path.name}' needs {format_bytes(need)} for its "
                              f"weights alone but only {format_bytes(free)} is free; open it "
                              "on a machine with more memory.")


class _Archive:
    """A run file opened for checking: only a regular file is read, every array through
    `NpzArchive` (its declared size checked against the file before it is allocated), then
    its shape and type against what the network needs."""

    def __init__(self, path: Path):
        self.path = path
        self.foreign = f"'{path.name}' is not a ConvNet Designer run file"
        self._file = open_regular(path, CheckpointError, f"'{path}'")
        file, size = self._file.__enter__()
        try:
            self.npz = NpzArchive(file, size, f"'{path.name}'", CheckpointError,
                                  "use another run file")
        except CheckpointError:
            self._file.__exit__(None, None, None)
            raise CheckpointError(f"{self.foreign}, or it is damaged (it cannot be read as an "
                                  "archive of arrays).") from None
        self.members = set(self.npz.files)
        self.version = VERSION
        self.used: set[str] = set()

    def __enter__(self) -> "_Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.npz.__exit__(*exc)
        self._file.__exit__(*exc)

    def fail(self, problem: str) -> None:
        raise CheckpointError(f"'{self.path.name}' is damaged or was edited by hand: {problem}; "
                              "use another run file.")

    # --- arrays ----------------------------------------------------------------------------
    def _read(self, key: str) -> np.ndarray:
        if key not in self.members:
            self.fail(f"the entry '{key}' is missing")
        self.used.add(key)
        return self.npz[key]

    def array(self, key: str, shape: tuple[int, ...], kind: str = "f") -> np.ndarray:
        """A numeric array that must have exactly `shape` (kind "f": float, finite; "i": int)."""
        a = self._read(key)
        if a.shape != tuple(shape):
            self.fail(f"the entry '{key}' has shape {a.shape} but its network needs "
                      f"{tuple(shape)}")
        if a.dtype.kind not in ("f" if kind == "f" else "iu"):
            need = "floating-point numbers" if kind == "f" else "whole numbers"
            self.fail(f"the entry '{key}' holds {a.dtype} values, not {need}")
        if kind == "f":
            a = a.astype(np.float64 if key.startswith("history/") else np.float32)
            if not key.startswith("history/") and not np.isfinite(a).all():
                self.fail(f"the entry '{key}' holds values that are not finite")
        return a

    def vector(self, key: str, limit: int, kind: str = "f") -> np.ndarray:
        """A 1-D array of any length up to `limit`."""
        a = self._read(key)
        if a.ndim != 1 or len(a) > limit:
            self.fail(f"the entry '{key}' has shape {a.shape}, not a list of at most "
                      f"{limit:,} values")
        return self.array(key, a.shape, kind)

    def text(self, key: str, limit: int) -> str:
        a = self._read(key)
        if a.shape != () or a.dtype.kind != "U" or a.dtype.itemsize > 4 * limit:
            self.fail(f"the entry '{key}' is not a text of at most {limit:,} characters")
        return str(a[()])

    # --- the training record -----------------------------------------------------------------
    def meta(self) -> dict:
        if META not in self.members:
            raise CheckpointError(f"{self.foreign}: it has no readable training record.")
        try:
            meta = json.loads(self.text(META, MAX_META_CHARS))
        except (ValueError, RecursionError):
            raise CheckpointError(f"{self.foreign}: it has no readable training record.") \
                from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{self.foreign}: its training record has another format.")
        version = meta.get("version")
        if version not in (1, VERSION):
            raise CheckpointError(f"'{self.path.name}' is a run file of format version "
                                  f"{shown(repr(version))}; this version reads versions 1 and "
                                  f"{VERSION}.")
        self.version = version
        return meta

    def field(self, meta: dict, key: str, check: Callable[[Any], bool], what: str) -> Any:
        if key not in meta:
            self.fail(f"its training record has no '{key}'")
        if not check(meta[key]):
            self.fail(f"its '{key}' is not {what}")
        return meta[key]

    def count(self, meta: dict, key: str) -> int:
        return self.field(meta, key, is_count, "a whole number of 0 or more")

    def text_or_none(self, meta: dict, key: str) -> str | None:
        return self.field(meta, key, lambda v: v is None or is_text(v), "text")

    def network(self, meta: dict) -> tuple[NetworkSpec, Analysis]:
        try:
            spec = spec_from_dict(self.field(meta, "spec", lambda v: isinstance(v, dict),
                                             "a network"), self.path.name)
        except NetworkFileError as e:
            self.fail(f"its network cannot be read ({str(e).rstrip('.')})")
        analysis = analyse(spec)
        if not analysis.valid:
            self.fail("its network has errors, so it cannot have been trained")
        return spec, analysis

    def config(self, meta: dict) -> TrainConfig:
        try:
            return config_from_dict(self.field(meta, "config", lambda v: isinstance(v, dict),
                                               "a table of settings"))
        except TrainingError as e:
            self.fail(f"its settings are damaged ({str(e).rstrip('.')})")

    def identity(self, meta: dict) -> dict[str, Any]:
        if self.version == 1:
            created = datetime.fromtimestamp(self.path.stat().st_mtime)
            source = meta.get("data_source")
            return {"name": self.path.stem, "created": created.isoformat(timespec="seconds"),
                    "network_file": None, "data_name": source if is_text(source) else "digits"}
        return {"name": self.field(meta, "name", is_text, "text"),
                "created": self.field(meta, "created", _is_date, "a date and time"),
                "network_file": self.text_or_none(meta, "network_file"),
                "data_name": self.field(meta, "data_name", is_text, "text")}

    def class_names(self, meta: dict, analysis: Analysis) -> list[str]:
        classes = analysis.output.depth
        return list(self.field(
            meta, "class_names",
            lambda v: isinstance(v, list) and len(v) == classes and all(map(is_text, v)),
            f"a list of {classes} class names (one per class score of its network)"))

    def offset(self, meta: dict, config: TrainConfig) -> int:
        if self.version == 1:
            return self.count(meta, "batch") * config.batch_size
        return self.count(meta, "offset")

    def running(self, meta: dict) -> dict:
        if self.version == 1 and isinstance(meta.get("running"), dict):
            # it had no count of steps: its position was that count
            meta["running"] = {**meta["running"], "steps": meta.get("batch")}

        def ok(v):
            return (isinstance(v, dict) and set(v) == set(new_running())
                    and is_finite(v["loss"]) and v["loss"] >= 0
                    and all(map(is_count, (v["correct"], v["seen"], v["steps"])))
                    and v["correct"] <= v["seen"])
        running = self.field(meta, "running", ok, "the sums of an epoch in progress")
        return {**running, "loss": float(running["loss"])}

    def history(self, meta: dict) -> dict[str, list]:
        """The curves, each value one that saving the run can write again: a count for
        "step" and "epoch", a float (NaN where there was no validation) for the others."""
        if self.version == 1:
            def ok(v):
                return (isinstance(v, dict)
                        and set(v) == set(HISTORY_STEP_KEYS + HISTORY_EPOCH_KEYS)
                        and all(isinstance(values, list) and all(
                            map(is_count if key in COUNTED else is_float, values))
                            for key, values in v.items()))
            saved = self.field(meta, "history", ok, "the curves of a run")
            history = {key: values if key in COUNTED else list(map(float, values))
                       for key, values in saved.items()}
        else:
            history = {}
            for key in HISTORY_STEP_KEYS + HISTORY_EPOCH_KEYS:
                a = self.vector(f"history/{key}", MAX_HISTORY, "i" if key in COUNTED else "f")
                if key in COUNTED and len(a) and not (a.min() >= 0 and a.max() < MAX_COUNT):
                    self.fail(f"the entry 'history/{key}' holds values that are not whole "
                              "numbers of 0 or more")
                history[key] = a.tolist()
        for keys in (HISTORY_STEP_KEYS, HISTORY_EPOCH_KEYS):
            if len({len(history[k]) for k in keys}) != 1:
                self.fail(f"its curves {', '.join(keys)} have different lengths")
        return history

    def normalizer(self, spec: NetworkSpec) -> Normalizer:
        v = spec.input_volume
        mode = self.text("norm/mode", 16)
        if mode not in MODES:
            self.fail(f"its normalisation '{shown(mode)}' is unknown")
        shapes = {"channel": ((v.depth,), (v.depth,)), "image": ((v.height, v.width, v.depth),
                                                                 (1,))}[mode]
        mean, std = (self.array(f"norm/{k}", shape) for k, shape in zip(("mean", "std"), shapes))
        if (std <= 0).any():
            self.fail("its normalisation divides by a standard deviation that is not positive")
        return Normalizer(mode, mean, std)

    def optimizer_cache(self, model, optimizer: str, steps: int) -> dict[str, np.ndarray]:
        """All of the optimizer's slots for every parameter, or none before its first step."""
        copies = OPTIMIZER_STATE_COPIES[optimizer]
        wanted = {f"optim/{key}/{i}": value.shape for key, value, _ in model.parameters()
                  for i in range(copies)}
        present = {k for k in self.members if k.startswith("optim/")}
        if not present and (steps == 0 or copies == 0):
            return {}
        if present != set(wanted):
            extra = sorted(present - set(wanted))
            missing = sorted(set(wanted) - present)
            self.fail(f"its optimizer cache {'lacks' if missing else 'has an unknown'} entry "
                      f"'{shown((missing or extra)[0])}'")
        return {key[len("optim/"):]: self.array(key, shape) for key, shape in wanted.items()}

    def check_all_used(self) -> None:
        unknown = sorted(set(self.members) - self.used)
        if unknown:
            self.fail(f"it holds an unknown entry '{shown(unknown[0])}'")


def is_count(v: Any) -> bool:
    """A whole number of 0 or more that every count (and a saved int64) can hold."""
    return type(v) is int and 0 <= v < MAX_COUNT


def is_float(v: Any) -> bool:
    """A number that is a float, or an int that converts to one."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return isinstance(v, float) or abs(v) <= sys.float_info.max


def is_finite(v: Any) -> bool:
    return is_float(v) and math.isfinite(v)


def _is_date(v: Any) -> bool:
    if not is_text(v):
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True
