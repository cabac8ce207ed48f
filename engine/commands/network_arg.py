"""The commands' network argument: a network file, or the name of a template (`lenet5`)."""

from __future__ import annotations

from pathlib import Path

from engine.errors import NetworkFileError
from engine.resources import network_template, templates

HELP = f"a network file (.json) or a template: {', '.join(templates())}"


def network_file(text: str) -> Path:
    """The file `text` names: a path that exists wins over a template of the same name."""
    try:
        path = Path(text).expanduser()
        path.stat()
        return path
    except (FileNotFoundError, NotADirectoryError):
        pass
    # a folder on the way that may not be entered, a NUL in the path, an unknown ~user
    except (OSError, ValueError, RuntimeError) as e:
        reason = (getattr(e, "strerror", None) or str(e)).rstrip(".")
        raise NetworkFileError(f"'{text}' cannot be read: {reason}; check the path and that "
                               "you may open the folders on it.") from None
    if text in templates():
        return network_template(text)
    raise NetworkFileError(f"'{text}' does not exist (or name a template: "
                           f"{', '.join(templates())}).")
