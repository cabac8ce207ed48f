"""What an install ships: every package of the source tree and the app's own files, found
through engine.resources wherever they were installed."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from engine.errors import NetworkFileError
from engine.resources import (
    PACKAGE, embedded_digits_file, icon, is_bundled, network_template, templates,
)

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_of_the_source_tree_is_listed():
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("engine", "designer") for p in (ROOT / top).rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == found | {PACKAGE}
    assert SETUPTOOLS["package-dir"] == {PACKAGE: "resources"}


def test_resources_ship_except_screenshots_and_the_conversion_tool():
    patterns = SETUPTOOLS["package-data"][PACKAGE]
    files = {p.relative_to(ROOT / "resources").as_posix() for p in (ROOT / "resources").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"}
    left_out = {f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)}
    assert left_out == {"data/convert_uci_digits.py"} | {
        f for f in files if f.startswith("screenshots/")}


def test_the_app_finds_its_own_files():
    assert set(templates()) >= {"lenet5", "alexnet", "zfnet", "vgg16", "cifar10", "default"}
    assert network_template("lenet5").is_file() and is_bundled(network_template("lenet5"))
    assert embedded_digits_file().is_file() and icon("app.svg").is_file()
    assert not is_bundled(ROOT / "README.md")


def test_an_unknown_template_names_the_templates():
    with pytest.raises(NetworkFileError, match="no template 'lenet6'; the templates are alexnet"):
        network_template("lenet6")
