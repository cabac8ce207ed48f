"""Network files: a versioned, human-readable JSON format, strict loading, atomic saving.

    {"format": "convnet-designer", "version": 1, "name": "LeNet-5",
     "layers": [{"type": "input", "name": "input", "width": 32, "height": 32, "depth": 1},
                {"type": "conv", "name": "C1", "filters": 6, "size": 5, "stride": 1, "pad": 0},
                ...]}

Each layer object holds `type`, `name`, an optional stable `id` and its hyperparameters
(missing ones take the catalogue default). Loading never executes anything and turns
every problem into a `NetworkFileError` whose message is one plain sentence.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write
from engine.bounded import has_controls, is_text, open_regular, shown
from engine.errors import NetworkFileError
from engine.shapes import format_bytes
from engine.spec import CATALOGUE, LayerSpec, NetworkSpec, ParamDef, new_id

FORMAT = "convnet-designer"
VERSION = 1
# Far more layers than any network has (VGG-16: 40, the deepest template), and few enough that
# a network this deep is read and analysed in well under a second.
MAX_LAYERS = 1_000
# Room for MAX_LAYERS layers of 1 KiB each (a line of VGG-16's file is ~70 bytes), so that
# parsing the largest file allowed takes a fraction of a second and some tens of MiB.
MAX_FILE_BYTES = 1024 * 1024
_RESERVED = ("type", "name", "id")


def spec_to_dict(spec: NetworkSpec) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": spec.name,
        "layers": [
            {"type": l.type, "name": l.name, "id": l.id, **dict(l.params)} for l in spec.layers
        ],
    }


def dumps(spec: NetworkSpec, with_ids: bool = True) -> str:
    """The file's text: one line per layer, so a network reads top to bottom."""
    data = spec_to_dict(spec)
    if not with_ids:
        for layer in data["layers"]:
            del layer["id"]
    layers = ",\n".join("    " + json.dumps(l, ensure_ascii=False) for l in data["layers"])
    head = {k: v for k, v in data.items() if k != "layers"}
    return (json.dumps(head, ensure_ascii=False)[:-1]
            + f', "layers": [\n{layers}\n]}}\n').replace('{"format"', '{\n  "format"', 1)


def save_network(spec: NetworkSpec, path: str | os.PathLike) -> None:
    """Save atomically; a failure is a NetworkFileError naming the file."""
    try:
        atomic_write(path, dumps(spec).encode("utf-8"))
    except OSError as e:
        raise NetworkFileError(
            f"Could not save '{path}': {e.strerror or e}; choose another folder or file name."
        ) from None


def load_network(path: str | os.PathLike) -> NetworkSpec:
    """Read and validate a network file."""
    path = Path(path)
    with open_regular(path, NetworkFileError, name=f"'{path}'") as (file, size):
        if size > MAX_FILE_BYTES:
            raise NetworkFileError(f"'{path.name}' is too large to be a network file "
                                   f"({format_bytes(size)}; a network file holds at most "
                                   f"{format_bytes(MAX_FILE_BYTES)}).")
        raw = file.read(size)
    return loads(raw, path.name)


def loads(raw: bytes | str, source: str = "the file") -> NetworkSpec:
    """Parse and validate the text of a network file; `source` names it in messages."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise NetworkFileError(f"'{source}' is not a network file: it is not UTF-8 text.") from None
    if not text.strip():
        raise NetworkFileError(f"'{source}' is empty; it holds no network.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NetworkFileError(
            f"'{source}' is not a valid network file: its JSON breaks at line {e.lineno}, "
            f"column {e.colno} ({e.msg.lower()}); the file may be truncated or hand-edited."
        ) from None
    except ValueError:  # the only other one: an integer too long for Python to convert
        raise NetworkFileError(
            f"'{source}' is not a valid network file: it holds a number of more than "
            f"{sys.get_int_max_str_digits():,} digits, which no setting needs; the file is "
            f"damaged or hand-edited."
        ) from None
    except RecursionError:
        raise NetworkFileError(f"'{source}' is nested too deeply to be a network file.") from None
    return spec_from_dict(data, source)


def spec_from_dict(data: Any, source: str = "the file") -> NetworkSpec:
    problems = _Problems(source)
    if not isinstance(data, dict):
        problems.fail("it holds a JSON " + _json_kind(data) + ", not a network object")
    if data.get("format") != FORMAT:
        problems.fail(f'it is not a ConvNet Designer network (no "format": "{FORMAT}")')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        problems.fail('its "version" is missing or not a whole number')
    if version > VERSION:
        problems.fail(f"it was written by a newer ConvNet Designer (format version "
                      f"{shown(str(version))}); this version reads version {VERSION}, so "
                      f"update the app")
    if version < 1:
        problems.fail(f"its format version {shown(str(version))} is unknown")
    name = data.get("name", "Untitled")
    if not isinstance(name, str):
        problems.fail('its "name" must be text')
    if not is_text(name):
        problems.fail(f"its name '{shown(name)}' is not valid Unicode text (it holds a lone "
                      f"UTF-16 surrogate); rename the network")
    if has_controls(name):
        problems.fail(f"its name '{shown(name)}' holds control characters (a terminal would "
                      f"act on them); rename the network")
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        problems.fail('it has no "layers" list')
    if len(layers) > MAX_LAYERS:
        problems.fail(f"it has {len(layers):,} layers, more than any network needs; a network "
                      f"file holds at most {MAX_LAYERS:,}")
    specs = []
    for i, item in enumerate(layers, start=1):
        layer = _layer_from_dict(item, i, problems)
        if layer is not None:
            specs.append(layer)
    problems.raise_any()
    if specs[0].type != "input":
        problems.fail(f"its first layer '{shown(specs[0].name)}' is not an Input layer; "
                      "a network starts with its input volume")
    first_with: dict[str, int] = {}
    for i, layer in enumerate(specs, start=1):
        first = first_with.setdefault(layer.id, i)
        if first != i:
            problems.fail(f'layers {first} and {i} share the id "{shown(layer.id)}"; '
                          f"remove the id of one of them")
    return NetworkSpec(tuple(specs), name)


def _layer_from_dict(item: Any, i: int, problems: "_Problems") -> LayerSpec | None:
    if not isinstance(item, dict):
        problems.add(f"layer {i} is a JSON {_json_kind(item)}, not an object")
        return None
    type_ = item.get("type")
    if not isinstance(type_, str) or type_ not in CATALOGUE:
        known = ", ".join(CATALOGUE)
        problems.add(f"layer {i} has unknown type {shown(json.dumps(type_))}; "
                     f"use one of {known}")
        return None
    kind = CATALOGUE[type_]
    name = item.get("name", type_)
    if not isinstance(name, str) or not name.strip():
        problems.add(f"{_where(i, name)} needs a non-empty text \"name\"")
        return None
    if not is_text(name):
        problems.add(f"{_where(i, name)} has a name that is not valid Unicode text (it holds "
                     f"a lone UTF-16 surrogate); rename the layer")
        return None
    if has_controls(name):
        problems.add(f"{_where(i, name)} has a name with control characters (a terminal "
                     f"would act on them); rename the layer")
        return None
    layer_id = item["id"] if "id" in item else new_id()
    if not isinstance(layer_id, str) or not layer_id or not is_text(layer_id):
        problems.add(f'{_where(i, name)} has an "id" that is not text')
        return None
    params = {}
    for key, value in item.items():
        if key in _RESERVED:
            continue
        try:
            pdef = kind.param(key)
        except KeyError:
            takes = ", ".join(p.name for p in kind.params) or "no hyperparameters"
            problems.add(f"{_where(i, name)} has no field \"{shown(key)}\"; "
                         f"{kind.title} takes {takes}")
            continue
        message = _check_value(pdef, value)
        if message:
            problems.add(f"{_where(i, name)}: {pdef.name} {message}")
        else:
            params[key] = float(value) if pdef.kind is float else value
    return LayerSpec(type_, name, {**kind.defaults, **params}, layer_id)


def _where(i: int, name: Any) -> str:
    """How a message names layer `i`."""
    return f"layer {i} ('{shown(name)}')" if isinstance(name, str) else f"layer {i}"


def _check_value(pdef: ParamDef, value: Any) -> str | None:
    if pdef.kind is str:
        if value not in pdef.choices:
            return f"must be one of {', '.join(pdef.choices)}, not {shown(json.dumps(value))}"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, not {shown(json.dumps(value))}"
    if pdef.kind is int and not isinstance(value, int):
        return f"must be a whole number, not {value}"
    if value != value or value in (float("inf"), float("-inf")):
        return "must be a finite number"
    if pdef.minimum is not None and value < pdef.minimum:
        return f"must be at least {pdef.minimum:g}, not {shown(str(value))}"
    if pdef.maximum is not None and value > pdef.maximum:
        return f"must be at most {pdef.maximum:g}, not {shown(str(value))}"
    return None


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")


class _Problems:
    """Collects validation problems and raises them as one NetworkFileError."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    def fail(self, text: str) -> None:
        self.add(text)
        self.raise_any()

    def raise_any(self) -> None:
        if not self.items:
            return
        first, rest = self.items[0], len(self.items) - 1
        more = f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest else ""
        error = NetworkFileError(f"'{self.source}' cannot be opened: {first}{more}.")
        error.problems = list(self.items)
        raise error
