"""The palette: layer types grouped as the notes group them, dragged onto the canvas."""

from __future__ import annotations

import html
from typing import Sequence

from PySide6 import QtCore, QtWidgets

from designer.canvas.icons import layer_icon
from designer.canvas.mime import LAYER_TYPE_MIME, layer_type_mime
from engine.spec import CATALOGUE, GROUPS, LayerType

TYPE_ROLE = QtCore.Qt.ItemDataRole.UserRole


def type_tooltip(kind: LayerType) -> str:
    """What the layer does and its hyperparameters, in the notes' words."""
    rows = "".join(
        f"<li><b>{html.escape(p.label)}</b>"
        + (f" — {html.escape(p.help)}" if p.help else "")
        + f" (default {html.escape(f'{p.default:g}' if p.kind is float else str(p.default))}"
        + (f" {html.escape(p.unit)}" if p.unit else "") + ")</li>"
        for p in kind.params)
    params = f"<ul style='margin:0'>{rows}</ul>" if rows else "<i>No hyperparameters.</i>"
    return (f"<p style='white-space:pre-wrap'><b>{html.escape(kind.title)}</b> "
            f"({html.escape(kind.symbol)})<br>{html.escape(kind.description)}</p>{params}"
            "<p><i>Drag onto the canvas, or double-click to add it above the loss.</i></p>")


class LayerPalette(QtWidgets.QTreeWidget):
    """Emits `type_activated(key)` on double-click/Enter; drags carry `layer_type_mime`."""

    type_activated = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(8)
        self.setIconSize(QtCore.QSize(24, 24))
        self.setDragEnabled(True)
        self.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for group in GROUPS:
            header = QtWidgets.QTreeWidgetItem(self, [group])
            header.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            font = header.font(0)
            font.setBold(True)
            header.setFont(0, font)
            for kind in (k for k in CATALOGUE.values() if k.group == group):
                item = QtWidgets.QTreeWidgetItem(header, [kind.title])
                item.setIcon(0, layer_icon(kind.key))
                item.setToolTip(0, type_tooltip(kind))
                item.setData(0, TYPE_ROLE, kind.key)
                item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable
                              | QtCore.Qt.ItemFlag.ItemIsDragEnabled)
                self._items[kind.key] = item
        self.expandAll()
        self.itemDoubleClicked.connect(self._activated)

    def minimumSizeHint(self) -> QtCore.QSize:
        """Wide enough for the longest title (Local response normalization), scroll bar
        included, so no title is cut however the dock is sized."""
        width = (self.sizeHintForColumn(0) + 2 * self.frameWidth()
                 + self.verticalScrollBar().sizeHint().width())
        return QtCore.QSize(width, super().minimumSizeHint().height())

    def item_for(self, type_key: str) -> QtWidgets.QTreeWidgetItem:
        return self._items[type_key]

    def mimeTypes(self) -> list[str]:
        return [LAYER_TYPE_MIME]

    def mimeData(self, items: Sequence[QtWidgets.QTreeWidgetItem]) -> QtCore.QMimeData:
        keys = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        return layer_type_mime(keys[0]) if keys else QtCore.QMimeData()

    def supportedDropActions(self) -> QtCore.Qt.DropAction:
        # The tree model reports this as its drag action too: a drag copies, never moves.
        return QtCore.Qt.DropAction.CopyAction

    def keyPressEvent(self, event) -> None:
        if event.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter) and self.currentItem():
            self._activated(self.currentItem())
        else:
            super().keyPressEvent(event)

    def _activated(self, item: QtWidgets.QTreeWidgetItem) -> None:
        key = item.data(0, TYPE_ROLE)
        if key:
            self.type_activated.emit(key)
