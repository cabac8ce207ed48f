"""The canvas: the layer stack painted top to bottom as cards, edited by mouse and keys.

A custom-painted scroll area: the cards' tops are laid out once per change of the network
or the width (a card with an error grows to show its whole sentence), so hit-testing a card
or the gap between two cards is one bisection. All edits go through the document.
"""

from __future__ import annotations

from bisect import bisect_right

from PySide6 import QtCore, QtGui, QtWidgets

from designer.canvas.card import (
    CARD_GAP, CARD_HEIGHT, MARGIN, MAX_CARD_WIDTH, VolumeScale, card_height, card_tooltip,
    paint_card,
)
from designer.canvas.icons import round_pen
from designer.canvas.mime import (
    layer_ids_from_mime, layer_ids_mime, layer_type_from_mime, layers_from_mime, layers_mime,
)
from designer.canvas.menus import build_context_menu
from designer.document import NetworkDocument

AUTOSCROLL_ZONE = 28


class CanvasView(QtWidgets.QAbstractScrollArea):
    """Draws `document.spec` as cards; `actions` holds the edit actions for menus."""

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self._scale = VolumeScale.of(document.analysis)
        self._anchor: int | None = None  # where a Shift-click range starts
        self._press: QtCore.QPoint | None = None
        self._pending_select: int | None = None
        self.drop_gap: int | None = None
        self._name_editor: QtWidgets.QLineEdit | None = None
        self._tops: list[float] = []  # each card's top in the content, then where the last ends
        self.setAcceptDrops(True)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(460, 240)
        self.viewport().setBackgroundRole(QtGui.QPalette.ColorRole.Window)
        self.verticalScrollBar().setSingleStep(24)
        self.actions = self._make_actions()
        document.spec_changed.connect(self._spec_changed)
        document.selection_changed.connect(self._selection_changed)
        document.replaced.connect(lambda: self.verticalScrollBar().setValue(0))
        self._update_actions()
        self._layout_cards()

    # --- geometry -------------------------------------------------------------------------
    def _card_width(self) -> float:
        return min(self.viewport().width() - 2 * MARGIN, MAX_CARD_WIDTH)

    def _layout_cards(self) -> None:
        width, font = self._card_width(), self.viewport().font()
        self._tops = [MARGIN]
        for info in self.document.analysis.layers:
            self._tops.append(self._tops[-1] + card_height(info, width, font) + CARD_GAP)
        self._update_scrollbar()

    def card_rect(self, index: int) -> QtCore.QRectF:
        """The card of layer `index` in viewport coordinates; one past the last card, where
        a card added at the end would go."""
        width = self._card_width()
        left = (self.viewport().width() - width) / 2
        top = self._tops[index] - self.verticalScrollBar().value()
        last = index == len(self._tops) - 1
        height = CARD_HEIGHT if last else self._tops[index + 1] - self._tops[index] - CARD_GAP
        return QtCore.QRectF(left, top, width, height)

    def card_at(self, pos: QtCore.QPoint) -> int | None:
        index = bisect_right(self._tops, pos.y() + self.verticalScrollBar().value()) - 1
        if 0 <= index < len(self.document.spec) and self.card_rect(index).contains(pos.toPointF()):
            return index
        return None

    def gap_at(self, pos: QtCore.QPoint) -> int:
        """The insertion index nearest to `pos`: 0 is above the first card."""
        y = pos.y() + self.verticalScrollBar().value()
        middles = [(top + bottom - CARD_GAP) / 2 for top, bottom in zip(self._tops, self._tops[1:])]
        return bisect_right(middles, y)

    def _content_height(self) -> int:
        return int(self._tops[-1]) - CARD_GAP + MARGIN

    def _update_scrollbar(self) -> None:
        bar = self.verticalScrollBar()
        bar.setPageStep(self.viewport().height())
        bar.setRange(0, max(0, self._content_height() - self.viewport().height()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._layout_cards()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(560, 600)

    def ensure_visible(self, index: int) -> None:
        rect = self.card_rect(index)
        bar = self.verticalScrollBar()
        if rect.top() < 0:
            bar.setValue(bar.value() + int(rect.top()) - MARGIN)
        elif rect.bottom() > self.viewport().height():
            bar.setValue(bar.value() + int(rect.bottom() - self.viewport().height()) + MARGIN)

    # --- document → view ------------------------------------------------------------------
    def _spec_changed(self) -> None:
        self._scale = VolumeScale.of(self.document.analysis)
        self._close_name_editor()
        self._layout_cards()
        self._update_actions()
        self.viewport().update()

    def _selection_changed(self) -> None:
        selected = self._selected_indexes()
        if selected:
            self.ensure_visible(selected[0])
        self._update_actions()
        self.viewport().update()

    def _selected_indexes(self) -> list[int]:
        ids = set(self.document.selected_ids)
        return [i for i, l in enumerate(self.document.spec.layers) if l.id in ids]

    def _ids(self, indexes) -> list[str]:
        layers = self.document.spec.layers
        return [layers[i].id for i in sorted(set(indexes))]

    # --- painting -------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self.viewport())
        analysis = self.document.analysis
        selected = set(self.document.selected_ids)
        pal = self.palette()
        first = max(0, bisect_right(self._tops, self.verticalScrollBar().value()) - 1)
        for i in range(first, len(analysis.layers)):
            info = analysis.layers[i]
            rect = self.card_rect(i)
            if rect.top() > self.viewport().height():
                break
            paint_card(p, rect, info, self._scale, pal, info.layer.id in selected)
            if i + 1 < len(analysis.layers):
                self._paint_link(p, rect)
        if self.drop_gap is not None:
            self._paint_drop_marker(p, self.drop_gap)
        if not analysis.layers:
            p.setPen(pal.color(QtGui.QPalette.ColorRole.PlaceholderText))
            p.drawText(self.viewport().rect(), QtCore.Qt.AlignmentFlag.AlignCenter,
                       "Drag layers here from the palette")

    def _paint_link(self, p: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        x = rect.left() + 28
        p.setPen(QtGui.QPen(self.palette().color(QtGui.QPalette.ColorRole.Mid), 2))
        p.drawLine(QtCore.QPointF(x, rect.bottom()), QtCore.QPointF(x, rect.bottom() + CARD_GAP))

    def _paint_drop_marker(self, p: QtGui.QPainter, gap: int) -> None:
        rect = self.card_rect(gap)
        y = rect.top() - CARD_GAP / 2
        color = self.palette().color(QtGui.QPalette.ColorRole.Highlight)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(round_pen(color, 3))
        p.drawLine(QtCore.QPointF(rect.left() + 6, y), QtCore.QPointF(rect.right() - 6, y))
        p.setBrush(color)
        p.drawEllipse(QtCore.QPointF(rect.left() + 6, y), 4, 4)

    def viewportEvent(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.ToolTip:
            index = self.card_at(event.pos())
            if index is None:
                QtWidgets.QToolTip.hideText()
            else:
                info = self.document.analysis.layers[index]
                QtWidgets.QToolTip.showText(event.globalPos(), card_tooltip(info), self.viewport())
            return True
        return super().viewportEvent(event)

    # --- mouse: selection and card drags --------------------------------------------------
    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        self.setFocus()
        index = self.card_at(event.position().toPoint())
        mods = event.modifiers()
        self._press = event.position().toPoint() if event.button() == QtCore.Qt.MouseButton.LeftButton else None
        self._pending_select = None
        current = self._selected_indexes()
        if index is None:
            if not mods:
                self.document.select([])
        elif mods & QtCore.Qt.KeyboardModifier.ControlModifier:
            toggled = set(current) ^ {index}
            self.document.select(self._ids(toggled))
            self._anchor = index
        elif mods & QtCore.Qt.KeyboardModifier.ShiftModifier and self._anchor is not None:
            lo, hi = sorted((self._anchor, index))
            self.document.select(self._ids(range(lo, hi + 1)))
        elif index in current:
            if self._press is not None:  # keep a multi-selection for a drag; reduce on release
                self._pending_select = index
        else:
            self.document.select(self._ids([index]))
            self._anchor = index

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._press is None:
            return
        distance = (event.position().toPoint() - self._press).manhattanLength()
        if distance >= QtWidgets.QApplication.startDragDistance() and self.document.selected_ids:
            self._press = self._pending_select = None
            drag = QtGui.QDrag(self)
            drag.setMimeData(layer_ids_mime(self._ids(self._selected_indexes())))
            drag.exec(QtCore.Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._pending_select is not None:
            self.document.select(self._ids([self._pending_select]))
            self._anchor = self._pending_select
        self._press = self._pending_select = None

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        index = self.card_at(event.position().toPoint())
        if index is not None:
            self.edit_name(index)

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:
        index = self.card_at(event.pos())
        if index is not None and index not in self._selected_indexes():
            self.document.select(self._ids([index]))
        build_context_menu(self, index).exec(event.globalPos())

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key, selected = event.key(), self._selected_indexes()
        step = {QtCore.Qt.Key.Key_Up: -1, QtCore.Qt.Key.Key_Down: 1}.get(key)
        if step and self.document.spec.layers:
            start = (selected[0] if step < 0 else selected[-1]) if selected else -step
            index = max(0, min(len(self.document.spec) - 1, start + step))
            self.document.select(self._ids([index]))
            self._anchor = index
        elif key == QtCore.Qt.Key.Key_F2 and selected:
            self.edit_name(selected[0])
        elif key == QtCore.Qt.Key.Key_Escape:
            self.document.select([])
        else:
            super().keyPressEvent(event)

    # --- drops from the palette and from other cards --------------------------------------
    def _drop_kind(self, mime: QtCore.QMimeData) -> str | None:
        if layer_type_from_mime(mime):
            return "type"
        ids = layer_ids_from_mime(mime)
        if ids and all(any(l.id == i for l in self.document.spec.layers) for i in ids):
            return "move"
        return None

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if self._drop_kind(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:
        kind = self._drop_kind(event.mimeData())
        if not kind:
            event.ignore()
            return
        pos = event.position().toPoint()
        bar = self.verticalScrollBar()
        if pos.y() < AUTOSCROLL_ZONE:
            bar.setValue(bar.value() - bar.singleStep())
        elif pos.y() > self.viewport().height() - AUTOSCROLL_ZONE:
            bar.setValue(bar.value() + bar.singleStep())
        self.drop_gap = self.gap_at(pos)
        event.setDropAction(QtCore.Qt.DropAction.CopyAction if kind == "type"
                            else QtCore.Qt.DropAction.MoveAction)
        event.accept()
        self.viewport().update()

    def dragLeaveEvent(self, event) -> None:
        self.drop_gap = None
        self.viewport().update()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        kind = self._drop_kind(event.mimeData())
        gap = self.gap_at(event.position().toPoint())
        self.drop_gap = None
        self.viewport().update()
        if kind == "type":
            self.document.add_layer(layer_type_from_mime(event.mimeData()), gap)
            event.setDropAction(QtCore.Qt.DropAction.CopyAction)
        elif kind == "move":
            self.document.move_layers(layer_ids_from_mime(event.mimeData()), gap)
            event.setDropAction(QtCore.Qt.DropAction.MoveAction)
        else:
            event.ignore()
            return
        event.accept()
        self.setFocus()

    # --- edits ----------------------------------------------------------------------------
    def _make_actions(self) -> dict[str, QtGui.QAction]:
        keys = QtGui.QKeySequence.StandardKey
        spec = {
            "cut": ("Cu&t", keys.Cut, self.cut),
            "copy": ("&Copy", keys.Copy, self.copy),
            "paste": ("&Paste", keys.Paste, self.paste),
            "duplicate": ("D&uplicate", QtGui.QKeySequence("Ctrl+D"), self.duplicate),
            "delete": ("&Delete", keys.Delete, self.delete_selected),
            "rename": ("&Rename…", QtGui.QKeySequence("F2"), self._rename_selected),
            "select_all": ("Select &All", keys.SelectAll, self.select_all),
        }
        actions = {}
        for name, (text, shortcut, slot) in spec.items():
            action = QtGui.QAction(text, self)
            set_shortcut(action, shortcut)
            action.triggered.connect(slot)
            actions[name] = action
        return actions

    def _update_actions(self) -> None:
        has_selection = bool(self.document.selected_ids)
        for name in ("cut", "duplicate", "delete", "rename"):
            self.actions[name].setEnabled(has_selection)
        self.actions["copy"].setEnabled(has_selection)

    def selected_layers(self):
        return [self.document.spec.layers[i] for i in self._selected_indexes()]

    def copy(self) -> None:
        if self.selected_layers():
            QtWidgets.QApplication.clipboard().setMimeData(layers_mime(self.selected_layers()))

    def cut(self) -> None:
        layers = self.selected_layers()
        if layers:
            self.copy()
            self.document.edit(self.document.spec.removed(l.id for l in layers),
                               f"Cut {', '.join(l.name for l in layers)}")

    def paste(self) -> None:
        layers = layers_from_mime(QtWidgets.QApplication.clipboard().mimeData())
        selected = self._selected_indexes()
        index = selected[-1] + 1 if selected else self.document.default_insert_index()
        self.document.paste_layers(index, layers)

    def duplicate(self) -> None:
        self.document.duplicate_layers(self.document.selected_ids)

    def delete_selected(self) -> None:
        self.document.remove_layers(self._ids(self._selected_indexes()))

    def select_all(self) -> None:
        self.document.select(l.id for l in self.document.spec.layers)

    def _rename_selected(self) -> None:
        selected = self._selected_indexes()
        if selected:
            self.edit_name(selected[0])

    def edit_name(self, index: int) -> None:
        """Open an inline editor over the card's name; Enter renames, Escape cancels."""
        self._close_name_editor()
        self.ensure_visible(index)
        layer = self.document.spec.layers[index]
        rect = self.card_rect(index)
        editor = QtWidgets.QLineEdit(layer.name, self.viewport())
        editor.setGeometry(int(rect.left() + 46), int(rect.top() + 5), 200, int(CARD_HEIGHT / 2))
        editor.selectAll()
        editor.installEventFilter(self)
        editor.editingFinished.connect(lambda: self._finish_rename(editor, layer.id))
        self._name_editor = editor
        editor.show()
        editor.setFocus()

    def _finish_rename(self, editor: QtWidgets.QLineEdit, layer_id: str) -> None:
        if self._name_editor is not editor:
            return
        name = editor.text().strip()
        self._close_name_editor()
        if name and any(l.id == layer_id for l in self.document.spec.layers):
            self.document.rename_layer(layer_id, name)

    def _close_name_editor(self) -> None:
        editor, self._name_editor = self._name_editor, None
        if editor is not None:
            editor.hide()
            editor.deleteLater()
            self.setFocus()

    def eventFilter(self, obj, event) -> bool:
        if (obj is self._name_editor and event.type() == QtCore.QEvent.Type.KeyPress
                and event.key() == QtCore.Qt.Key.Key_Escape):
            self._close_name_editor()
            return True
        return super().eventFilter(obj, event)


def set_shortcut(action: QtGui.QAction, key) -> None:
    """A standard key gets every binding the platform gives it (Copy: Ctrl+C and Ctrl+Insert)."""
    if isinstance(key, QtGui.QKeySequence.StandardKey):
        action.setShortcuts(key)
    else:
        action.setShortcut(key)
