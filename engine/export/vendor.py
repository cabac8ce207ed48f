"""The designer's own modules an exported project runs on, copied beside its train.py.

train.py reads data, normalises, augments, updates weights and schedules the learning rate
with these very files (the data readers of engine/data, engine/optim.py,
engine/schedules.py, engine/export/layout.py and what they import), so nothing is written
twice and the project needs neither this app nor its GUI. Which files are needed is read
from their imports, not listed by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
from pathlib import Path

from engine.resources import PACKAGE, embedded_digits_file

ROOTS = ("engine.data", "engine.optim", "engine.schedules", "engine.export.layout")


def module_closure(roots: tuple[str, ...] = ROOTS) -> dict[str, Path]:
    """Module name → source file of every `engine` module the roots import, directly or
    not, with the package __init__ files above each."""
    found: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        spec = importlib.util.find_spec(name)
        found[name] = Path(spec.origin)
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
        todo += [m for m in _imports(found[name]) if m not in found]
    return found


def _imports(path: Path) -> list[str]:
    """The `engine` modules a file imports (the engine imports absolutely only)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules += [a.name for a in node.names if _ours(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _ours(node.module):
            modules.append(node.module)
            # `from engine.data import cifar` names a module, not only an attribute
            if _is_package(node.module):
                modules += [f"{node.module}.{a.name}" for a in node.names
                            if importlib.util.find_spec(f"{node.module}.{a.name}")]
    return modules


def _is_package(module: str) -> bool:
    return importlib.util.find_spec(module).submodule_search_locations is not None


def _ours(module: str) -> bool:
    return module == "engine" or module.startswith("engine.")


def copy_modules(folder: Path) -> list[Path]:
    """Copy the closure and the embedded digits under `folder`; the paths written."""
    written = []
    for name, source in sorted(module_closure().items()):
        parts = name.split(".")
        relative = Path(*parts, "__init__.py") if source.name == "__init__.py" \
            else Path(*parts[:-1], f"{parts[-1]}.py")
        written.append(_copy(source, folder / relative))
    digits = embedded_digits_file()
    package = digits.parent.parent
    for source in (package / "__init__.py", digits, digits.with_name("ATTRIBUTION.md")):
        written.append(_copy(source, folder / PACKAGE / source.relative_to(package)))
    return written


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
