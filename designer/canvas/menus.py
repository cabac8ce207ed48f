"""The canvas's right-click menu: insert a layer type above or below, and the edit actions."""

from __future__ import annotations

from PySide6 import QtWidgets

from designer.canvas.icons import layer_icon
from engine.spec import CATALOGUE, GROUPS


def add_type_menu(menu: QtWidgets.QMenu, title: str, on_type) -> QtWidgets.QMenu:
    """A submenu listing the layer types by group; choosing one calls `on_type(key)`."""
    sub = menu.addMenu(title)
    for group in GROUPS:
        sub.addSection(group)
        for kind in (k for k in CATALOGUE.values() if k.group == group):
            action = sub.addAction(layer_icon(kind.key), kind.title)
            action.triggered.connect(lambda _=False, key=kind.key: on_type(key))
    return sub


def build_context_menu(canvas, index: int | None) -> QtWidgets.QMenu:
    document = canvas.document
    menu = QtWidgets.QMenu(canvas)
    if index is None:
        add_type_menu(menu, "Add layer", lambda key: document.add_layer(key))
    else:
        add_type_menu(menu, "Insert above", lambda key: document.add_layer(key, index))
        add_type_menu(menu, "Insert below", lambda key: document.add_layer(key, index + 1))
    menu.addSeparator()
    names = ("rename", "duplicate", "cut", "copy", "paste", "delete") if index is not None \
        else ("paste", "select_all")
    for name in names:
        menu.addAction(canvas.actions[name])
    return menu
