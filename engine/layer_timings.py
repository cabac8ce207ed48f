"""Measured time per layer, kept where the window finds it after `main.py bench` or a run.

One small JSON file per network structure in the network's runs folder (`engine.runs`),
named after a hash of the layers' types and hyperparameters: renaming layers keeps the
timings, any other change looks for another file. The file repeats the whole hash and its
layer types, so timings measured on another network are refused, never shown.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from engine.atomic import atomic_write
from engine.backend import get_backend
from engine.bench import LayerTiming, benchmark
from engine.bounded import open_regular
from engine.errors import ConvNetError
from engine.spec import NetworkSpec
from engine.task import TaskState

FORMAT = "convnet-designer-timings"
VERSION = 1
MAX_FILE_BYTES = 1024 * 1024
_PREFIX = "timings-"


class TimingsError(ConvNetError):
    """A timings file that cannot be read or does not belong to the network."""


@dataclass(frozen=True)
class MeasuredTimings:
    """One `bench` of a network: a timing per layer between its input and its loss."""

    structure: str  # structure_key of the network measured
    batch_size: int
    device: str
    measured: str  # ISO date and time
    layers: tuple[LayerTiming, ...]


@dataclass(frozen=True)
class Measurement:
    """What measuring in the background returns: the timings, and why they were not
    saved if they could not be."""

    timings: MeasuredTimings
    problem: str | None = None


def structure_key(spec: NetworkSpec) -> str:
    """A hash of the layers' types and hyperparameters, in order (names left out)."""
    layers = [[layer.type, dict(layer.params)] for layer in spec.layers]
    return hashlib.sha256(json.dumps(layers, sort_keys=True).encode()).hexdigest()


def timings_path(folder: Path, spec: NetworkSpec) -> Path:
    return Path(folder) / f"{_PREFIX}{structure_key(spec)[:16]}.json"


def from_bench(spec: NetworkSpec, batch_size: int, device: str,
               layers: list[LayerTiming]) -> MeasuredTimings:
    return MeasuredTimings(structure_key(spec), batch_size, device,
                           datetime.now().isoformat(timespec="seconds"), tuple(layers))


def save_timings(timings: MeasuredTimings, spec: NetworkSpec, folder: Path) -> Path:
    """Write `timings` of `spec` into `folder` atomically; OSError if it cannot be written."""
    path = timings_path(folder, spec)
    content = {"format": FORMAT, "version": VERSION, **asdict(timings),
               "layers": [asdict(t) for t in timings.layers]}
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(content, indent=1).encode("utf-8"))
    return path


def load_timings(spec: NetworkSpec, folder: Path) -> MeasuredTimings | None:
    """The timings saved in `folder` for `spec`, None if there are none; TimingsError for
    a file that is malformed or was measured on another network."""
    path = timings_path(folder, spec)
    if not path.exists():
        return None
    with open_regular(path, TimingsError, name=f"'{path}'") as (file, size):
        if size > MAX_FILE_BYTES:
            raise TimingsError(f"The timings file '{path}' is too large to be one; "
                               "measure again to replace it.")
        raw = file.read(size)
    try:
        timings = _from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError):
        raise TimingsError(f"The timings file '{path}' is damaged; measure again to "
                           "replace it.") from None
    types = [layer.type for layer in spec.layers[1:-1]]
    if timings.structure != structure_key(spec) or [t.type for t in timings.layers] != types:
        raise TimingsError(f"The timings file '{path}' was measured on another network; "
                           "measure again to replace it.")
    return timings


def _from_dict(data: dict) -> MeasuredTimings:
    if data["format"] != FORMAT or data["version"] != VERSION:
        raise ValueError("not a timings file of this version")
    layers = tuple(_timing(item) for item in data["layers"])
    timings = MeasuredTimings(data["structure"], data["batch_size"], data["device"],
                              data["measured"], layers)
    if not (isinstance(timings.batch_size, int) and timings.batch_size >= 1
            and all(isinstance(v, str) for v in (timings.structure, timings.device,
                                                 timings.measured))):
        raise ValueError("bad header")
    return timings


def _timing(item: dict) -> LayerTiming:
    timing = LayerTiming(**item)
    seconds = [timing.forward_s] + ([] if timing.backward_s is None else [timing.backward_s])
    if not (all(isinstance(v, str) for v in (timing.name, timing.type, timing.output))
            and all(isinstance(s, (int, float)) and math.isfinite(s) and s >= 0
                    for s in seconds)
            and all(isinstance(m, int) and m >= 0
                    for m in (timing.forward_macs, timing.backward_macs))):
        raise ValueError("bad layer timing")
    return timing


def measure(state: TaskState, spec: NetworkSpec, batch_size: int, device: str,
            folder: Path | None, repeats: int = 3) -> Measurement:
    """A background task: time every layer of `spec` (`engine.bench`) and save the timings
    into `folder` (None: keep them only in memory)."""
    result = benchmark(spec, batch_size, get_backend(device), repeats, check=state.check)
    timings = from_bench(spec, batch_size, result.device, result.layers)
    if folder is None:
        return Measurement(timings)
    try:
        save_timings(timings, spec, folder)
    except OSError as e:
        return Measurement(timings, f"The timings could not be saved in '{folder}' "
                                    f"({e.strerror or e}); they are shown until the app closes.")
    return Measurement(timings)

