"""The drag-and-drop and clipboard formats shared by the palette, the canvas and the window.

Tests build the same `QMimeData` with these functions that a real drag carries.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6 import QtCore

from engine.errors import NetworkFileError
from engine.netfile import FORMAT, VERSION, spec_from_dict
from engine.spec import CATALOGUE, LayerSpec, make_layer

LAYER_TYPE_MIME = "application/x-convnet-designer-layer-type"
LAYER_IDS_MIME = "application/x-convnet-designer-layer-ids"
LAYERS_MIME = "application/x-convnet-designer-layers"
NETWORK_FILE_SUFFIX = ".json"


def layer_type_mime(type_key: str) -> QtCore.QMimeData:
    """What a palette item carries: the catalogue key of a layer type."""
    mime = QtCore.QMimeData()
    mime.setData(LAYER_TYPE_MIME, QtCore.QByteArray(type_key.encode("utf-8")))
    return mime


def layer_type_from_mime(mime: QtCore.QMimeData) -> str | None:
    if not mime.hasFormat(LAYER_TYPE_MIME):
        return None
    key = bytes(mime.data(LAYER_TYPE_MIME).data()).decode("utf-8", "replace")
    return key if key in CATALOGUE else None


def layer_ids_mime(layer_ids) -> QtCore.QMimeData:
    """What a card drag inside the canvas carries: the ids of the dragged layers."""
    mime = QtCore.QMimeData()
    mime.setData(LAYER_IDS_MIME, QtCore.QByteArray(json.dumps(list(layer_ids)).encode("utf-8")))
    return mime


def layer_ids_from_mime(mime: QtCore.QMimeData) -> list[str]:
    if not mime.hasFormat(LAYER_IDS_MIME):
        return []
    try:
        ids = json.loads(bytes(mime.data(LAYER_IDS_MIME).data()))
    except ValueError:
        return []
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def layers_mime(layers: list[LayerSpec]) -> QtCore.QMimeData:
    """Copied layers: JSON objects as a network file writes them, also as plain text."""
    text = json.dumps([{"type": l.type, "name": l.name, **dict(l.params)} for l in layers],
                      ensure_ascii=False, indent=1)
    mime = QtCore.QMimeData()
    mime.setData(LAYERS_MIME, QtCore.QByteArray(text.encode("utf-8")))
    mime.setText(text)
    return mime


def layers_from_mime(mime: QtCore.QMimeData) -> list[LayerSpec]:
    """The layers on the clipboard, validated like a file; [] if it holds none."""
    if mime.hasFormat(LAYERS_MIME):
        raw = bytes(mime.data(LAYERS_MIME).data()).decode("utf-8", "replace")
    elif mime.hasText():
        raw = mime.text()
    else:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(items, list) or not items:
        return []
    # The file loader validates a whole network, which must start with an input layer.
    holder = {"type": "input", "name": "input", **make_layer("input").params}
    data = {"format": FORMAT, "version": VERSION, "layers": [holder, *items]}
    try:
        return list(spec_from_dict(data, "the clipboard").layers[1:])
    except NetworkFileError:
        return []


def network_file_from_mime(mime: QtCore.QMimeData) -> Path | None:
    """The first local network file among dragged URLs (a file manager's drag)."""
    for url in mime.urls() if mime.hasUrls() else ():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(NETWORK_FILE_SUFFIX):
            return Path(url.toLocalFile())
    return None
