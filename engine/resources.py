"""Where the app's own files live: network templates, embedded data and icons.

They sit in the repository's top-level `resources/` folder, which installs as the package
`convnet_designer_resources` (pyproject.toml maps it; a top-level `resources` package could
collide with another distribution's). Every install unpacks it as plain files, so each
function returns a real path.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from engine.errors import NetworkFileError

PACKAGE = "convnet_designer_resources"


def _root() -> Path:
    return Path(files(PACKAGE))


def templates() -> list[str]:
    """The template names, `network_template` accepts each: ["alexnet", "cifar10", …]."""
    return sorted(p.stem for p in (_root() / "networks").glob("*.json"))


def network_template(name: str) -> Path:
    """The file of the template `name` (e.g. "lenet5"); unknown names raise NetworkFileError."""
    if name not in templates():
        raise NetworkFileError(f"There is no template '{name}'; the templates are "
                               f"{', '.join(templates())}.")
    return _root() / "networks" / f"{name}.json"


def is_bundled(path: Path) -> bool:
    """Whether `path` lies inside the app's own resources (which are not the user's to write)."""
    return Path(path).resolve().is_relative_to(_root().resolve())


def embedded_digits_file() -> Path:
    """The embedded UCI digits (.npz); `ATTRIBUTION.md` beside it credits the source."""
    return _root() / "data" / "uci_digits.npz"


def export_project_file(name: str) -> Path:
    """A file every exported PyTorch project holds as it is: train.py, or its README
    template."""
    return _root() / "project" / name


def icon(name: str) -> Path:
    """An icon file, e.g. icon("app.svg")."""
    return _root() / "icons" / name
