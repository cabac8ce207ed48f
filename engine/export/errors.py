"""The export's error type, and the one sentence for a package the export needs."""

from __future__ import annotations

import importlib.util

from engine.errors import ConvNetError

INSTALL = "pip install 'convnet-designer[export]'"
# What each format needs, besides this app.
NEEDS = {"onnx": ("onnx",), "pytorch": ("torch",), "import": ("torch",)}


class ExportError(ConvNetError):
    """A network, run or weights file that cannot be exported or imported."""


def missing_package(what: str) -> str | None:
    """Why `what` ("onnx", "pytorch" or "import") cannot be done here, or None if it can."""
    absent = [name for name in NEEDS[what] if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    task = {"onnx": "Exporting to ONNX", "pytorch": "Exporting a PyTorch project",
            "import": "Importing PyTorch weights"}[what]
    return f"{task} needs the {absent[0]} package, which is not installed; install it with {INSTALL}."


def require(what: str) -> None:
    """Raise the sentence of `missing_package` if there is one."""
    reason = missing_package(what)
    if reason:
        raise ExportError(reason)
