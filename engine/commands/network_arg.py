"""The commands' network argument: a network file, or the name of a template (`lenet5`)."""

from __future__ import annotations

from pathlib import Path

from engine.errors import NetworkFileError
from engine.resources import network_template, templates

HELP = f"a network file (.json) or a template: {', '.join(templates())}"


def network_file(text: str) -> Path:
    """The file `text` names: a path that exists wins over a template of the same name."""
    path = Path(text).expanduser()
    if path.exists():
        return path
    if text in templates():
        return network_template(text)
    raise NetworkFileError(f"'{text}' does not exist (or name a template: "
                           f"{', '.join(templates())}).")
