"""The canvas and palette driven like a user would: drops, drags, clicks, keys, menus."""

import html

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from designer.canvas.card import (
    BLOCK_AREA, CARD_GAP, CARD_HEIGHT, TEXT_LEFT, VOLUME_WIDTH, VolumeScale, card_summary,
    card_tooltip,
)
from designer.canvas.menus import build_context_menu
from designer.canvas.mime import (
    LAYER_TYPE_MIME, layer_ids_mime, layer_type_from_mime, layer_type_mime, layers_from_mime,
    layers_mime,
)
from designer.canvas.style import error_color
from designer.canvas.view import CanvasView
from engine.spec import CATALOGUE, NetworkSpec, make_layer, network

Qt = QtCore.Qt


def gap_point(canvas, gap):
    """A point in the canvas viewport in the gap above card `gap`."""
    rect = canvas.card_rect(gap)
    return QtCore.QPoint(int(rect.center().x()), int(rect.top() - CARD_GAP / 2))


def card_point(canvas, index):
    return canvas.card_rect(index).center().toPoint()


def click(qtbot, canvas, index, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, modifier, card_point(canvas, index))


def names(document):
    return [l.name for l in document.spec.layers]


def test_palette_items_carry_their_type_in_the_shared_mime_type(window):
    palette = window.palette_view
    assert palette.mimeTypes() == [LAYER_TYPE_MIME]
    for key, kind in CATALOGUE.items():
        item = palette.item_for(key)
        assert item.parent().text(0) == kind.group
        assert layer_type_from_mime(palette.mimeData([item])) == key
        assert html.escape(kind.description) in item.toolTip(0)
        assert all(html.escape(p.label) in item.toolTip(0) for p in kind.params)
        assert not item.icon(0).isNull()


def test_no_palette_title_is_cut_in_a_small_window(window, qtbot):
    palette = window.palette_view
    window.resize(1366, 768)
    window.resizeDocks([window.palette_dock], [100], Qt.Orientation.Horizontal)  # narrowest
    qtbot.waitUntil(lambda: window.palette_dock.width() < 300)
    # What Qt measures the widest item (Local response normalization) to need, indentation
    # and icon included, against the width it gets.
    assert palette.columnWidth(0) >= palette.sizeHintForColumn(0)


@pytest.mark.parametrize("key", list(CATALOGUE))
def test_dropping_each_type_inserts_it_where_the_marker_shows(window, send_drag, key):
    canvas, document = window.canvas, window.document
    before = document.spec
    send_drag(canvas, layer_type_mime(key), gap_point(canvas, 2), drop=False)
    assert canvas.drop_gap == 2  # the insertion marker sits between cards 1 and 2
    assert send_drag(canvas, layer_type_mime(key), gap_point(canvas, 2))
    assert canvas.drop_gap is None
    assert len(document.spec) == len(before) + 1
    added = document.spec.layers[2]
    assert added.type == key and dict(added.params) == CATALOGUE[key].defaults
    assert document.selected_ids == (added.id,)
    assert window.undo_action.text() == f"&Undo Add {CATALOGUE[key].title} {added.name}"
    document.undo_stack.undo()
    assert document.spec == before


def test_drop_at_the_top_and_bottom_of_the_stack(window, send_drag):
    canvas, document = window.canvas, window.document
    send_drag(canvas, layer_type_mime("relu"), QtCore.QPoint(100, 1))
    assert document.spec.layers[0].type == "relu"
    bar = canvas.verticalScrollBar()
    bar.setValue(bar.maximum())
    below_last = canvas.card_rect(len(document.spec) - 1).bottom() + 4
    send_drag(canvas, layer_type_mime("fc"), QtCore.QPoint(100, int(below_last)))
    assert document.spec.layers[-1].type == "fc"


def test_foreign_drags_are_refused(window, send_drag):
    mime = QtCore.QMimeData()
    mime.setText("conv")
    before = window.document.spec
    assert not send_drag(window.canvas, mime, gap_point(window.canvas, 1))
    assert not send_drag(window.canvas, layer_ids_mime(["not-a-layer"]), gap_point(window.canvas, 1))
    assert window.document.spec == before


def test_double_clicking_a_palette_type_adds_it_above_the_loss(window, qtbot):
    palette = window.palette_view
    rect = palette.visualItemRect(palette.item_for("dropout"))
    qtbot.mouseClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    layers = window.document.spec.layers
    assert layers[-2].type == "dropout" and layers[-1].type == "softmax"


def test_click_ctrl_click_and_shift_click_select(window, qtbot):
    canvas, document = window.canvas, window.document
    ids = [l.id for l in document.spec.layers]
    click(qtbot, canvas, 1)
    assert document.selected_ids == (ids[1],)
    click(qtbot, canvas, 4, Qt.KeyboardModifier.ShiftModifier)
    assert document.selected_ids == tuple(ids[1:5])
    click(qtbot, canvas, 3, Qt.KeyboardModifier.ControlModifier)
    assert document.selected_ids == (ids[1], ids[2], ids[4])
    click(qtbot, canvas, 6, Qt.KeyboardModifier.ControlModifier)
    assert document.selected_ids == (ids[1], ids[2], ids[4], ids[6])
    click(qtbot, canvas, 2)  # a plain click inside a selection keeps only that card
    assert document.selected_ids == (ids[2],)
    qtbot.keyClick(canvas, Qt.Key.Key_Down)
    assert document.selected_ids == (ids[3],)


def test_dragging_selected_cards_moves_them_in_one_undo_step(window, qtbot, send_drag):
    canvas, document = window.canvas, window.document
    original = document.spec
    click(qtbot, canvas, 1)
    click(qtbot, canvas, 2, Qt.KeyboardModifier.ShiftModifier)
    moving = list(document.selected_ids)
    assert send_drag(canvas, layer_ids_mime(moving), gap_point(canvas, 5))
    assert document.spec == original.moved(moving, 5)
    assert names(document)[1:5] == ["pool1", "conv2", "conv1", "relu1"]
    assert window.undo_action.text() == "&Undo Move conv1, relu1"
    document.undo_stack.undo()
    assert document.spec == original


def test_delete_key_removes_the_selection_and_undo_redo_restore_exactly(window, qtbot):
    canvas, document = window.canvas, window.document
    window.activateWindow()
    original = document.spec
    click(qtbot, canvas, 2)
    click(qtbot, canvas, 3, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert names(document) == [n for n in names_of(original) if n not in ("relu1", "pool1")]
    after = document.spec
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert document.spec == original
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert document.spec == after


@pytest.fixture
def linux_key_scheme(monkeypatch):
    """Qt's standard Redo as Linux binds it (Ctrl+Shift+Z only); offscreen Qt binds it as
    Windows does, Ctrl+Y too. Request it before `window`."""
    redo, linux = QtGui.QKeySequence.StandardKey.Redo, [QtGui.QKeySequence("Ctrl+Shift+Z")]
    bindings, set_shortcuts = QtGui.QKeySequence.keyBindings, QtGui.QAction.setShortcuts
    monkeypatch.setattr(QtGui.QKeySequence, "keyBindings",
                        staticmethod(lambda key: list(linux) if key == redo else bindings(key)))
    monkeypatch.setattr(QtGui.QAction, "setShortcuts", lambda action, keys: set_shortcuts(
        action, list(linux) if keys == redo else keys))


def test_ctrl_y_and_ctrl_shift_z_both_redo_on_linux_too(linux_key_scheme, window, qtbot):
    canvas, document = window.canvas, window.document
    window.activateWindow()
    click(qtbot, canvas, 2)
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    deleted = document.spec
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    for key, modifiers in ((Qt.Key.Key_Y, ctrl), (Qt.Key.Key_Z, ctrl | shift)):
        qtbot.keyClick(canvas, Qt.Key.Key_Z, ctrl)
        assert document.spec != deleted
        qtbot.keyClick(canvas, key, modifiers)
        assert document.spec == deleted


def names_of(spec):
    return [l.name for l in spec.layers]


def test_copy_paste_and_duplicate_make_fresh_ids_and_unique_names(window, qtbot):
    canvas, document = window.canvas, window.document
    click(qtbot, canvas, 1)  # conv1
    qtbot.keyClick(canvas, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    pasted = document.spec.layers[2]
    assert pasted.type == "conv" and pasted.name == "conv3"
    assert pasted.id != document.spec.layers[1].id
    assert dict(pasted.params) == dict(document.spec.layers[1].params)
    assert document.selected_ids == (pasted.id,)
    qtbot.keyClick(canvas, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert names(document)[3] == "conv4"
    assert len({l.id for l in document.spec.layers}) == len(document.spec)
    assert window.undo_action.text() == "&Undo Duplicate conv4"


def test_cut_then_paste_keeps_the_name(window, qtbot):
    canvas, document = window.canvas, window.document
    click(qtbot, canvas, 4)  # conv2
    canvas.actions["cut"].trigger()
    assert "conv2" not in names(document)
    click(qtbot, canvas, 0)
    canvas.actions["paste"].trigger()
    assert names(document)[1] == "conv2"


def test_clipboard_text_round_trips_and_rejects_garbage():
    layers = [make_layer("conv", "c", filters=8), make_layer("dropout", "d", p=0.25)]
    back = layers_from_mime(layers_mime(layers))
    assert [(l.type, l.name, dict(l.params)) for l in back] == \
        [(l.type, l.name, dict(l.params)) for l in layers]
    for text in ("conv", "[1, 2]", '[{"type": "conv", "filters": -3}]', "{}"):
        mime = QtCore.QMimeData()
        mime.setText(text)
        assert layers_from_mime(mime) == []


def test_double_click_edits_the_name_inline(window, qtbot):
    canvas, document = window.canvas, window.document
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=card_point(canvas, 1))
    editor = canvas.findChild(QtWidgets.QLineEdit)
    assert editor is not None and editor.text() == "conv1"
    editor.setText("features")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert document.spec.layers[1].name == "features"
    assert window.undo_action.text() == "&Undo Rename conv1 to features"
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=card_point(canvas, 2))
    editor = canvas.findChild(QtWidgets.QLineEdit)
    editor.setText("ignored")
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert document.spec.layers[2].name == "relu1"


def test_renaming_a_card_to_another_layers_name_is_refused_with_a_message(window, qtbot):
    canvas, document = window.canvas, window.document
    before, steps = document.spec, document.undo_stack.count()
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=card_point(canvas, 2))
    editor = canvas.findChild(QtWidgets.QLineEdit)
    editor.setText("conv1")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert document.spec == before and document.undo_stack.count() == steps
    assert window.statusBar().currentMessage() == (
        "Not renamed: another layer is already called 'conv1'; layer names must be unique.")


def type_action(menu, title):
    return next(a for a in menu.actions() if a.text() == title and not a.isSeparator())


def test_context_menu_inserts_above_and_below(window):
    canvas, document = window.canvas, window.document
    menu = build_context_menu(canvas, 3)
    submenus = {a.text(): a.menu() for a in menu.actions() if a.menu()}
    assert set(submenus) == {"Insert above", "Insert below"}
    pooling = type_action(submenus["Insert above"], "Pooling")
    pooling.trigger()
    assert document.spec.layers[3].type == "pool"
    fc = type_action(submenus["Insert below"], "Fully-connected")
    fc.trigger()
    assert document.spec.layers[4].type == "fc"
    texts = [a.text() for a in menu.actions() if not a.menu() and not a.isSeparator()]
    assert {"D&uplicate", "&Delete", "&Copy", "&Paste"} <= set(texts)


def test_cards_summarise_hyperparameters_as_the_notes_write_them():
    assert card_summary(make_layer("conv", filters=32, size=3, stride=1, pad=1)) == "CONV 3×3 ×32, S1 P1"
    assert card_summary(make_layer("pool")) == "POOL max 2×2 S2"
    assert card_summary(make_layer("fc", units=10)) == "FC 10"
    assert card_summary(make_layer("dropout", p=0.5)) == "DROP p=0.5"
    assert card_summary(make_layer("input", width=32, height=32, depth=3)) == "INPUT 32×32×3"


def test_volume_blocks_shrink_with_space_and_grow_with_depth(open_document):
    analysis = open_document("vgg16").analysis
    scale = VolumeScale.of(analysis)
    convs = [i for i in analysis.layers if i.layer.type == "conv"]
    first, last = scale.block(convs[0].output), scale.block(convs[-1].output)
    assert first.height() > last.height() and first.width() < last.width()


def test_a_card_with_an_error_is_red_and_says_why(window, qtbot):
    canvas, document = window.canvas, window.document
    conv = document.spec.layers[1]
    document.set_params(conv.id, stride=3, size=4, pad=0)
    info = document.analysis.layers[1]
    assert info.error and info.error in card_tooltip(info)
    assert all(html.escape(fix.text) in card_tooltip(info) for fix in info.fixes)
    assert card_redness(canvas, 1) > card_redness(canvas, 0) + 15


def test_a_session_of_edits_undoes_to_the_exact_original_and_redoes_to_the_end(
        window, qtbot, send_drag):
    canvas, document = window.canvas, window.document
    original = document.spec
    send_drag(canvas, layer_type_mime("batchnorm"), gap_point(canvas, 2))
    click(qtbot, canvas, 1)
    click(qtbot, canvas, 2, Qt.KeyboardModifier.ShiftModifier)
    send_drag(canvas, layer_ids_mime(document.selected_ids), gap_point(canvas, 6))
    canvas.duplicate()
    document.set_params(document.spec.layers[-2].id, units=12)
    document.set_params(document.spec.layers[-2].id, units=14)  # merges with the step above
    canvas.delete_selected()
    document.rename_layer(document.spec.layers[1].id, "first")
    final, steps = document.spec, document.undo_stack.count()
    assert steps == 6
    window.show_history()
    assert window.history_dock.isVisible() and window.history.model().rowCount() == steps + 1
    for _ in range(steps):
        window.undo_action.trigger()
    assert document.spec == original
    for _ in range(steps):
        window.redo_action.trigger()
    assert document.spec == final


def test_pressing_and_moving_on_a_selected_card_starts_a_drag_of_the_selection(
        window, qtbot, send_drag, monkeypatch):
    canvas, document = window.canvas, window.document
    started = []
    monkeypatch.setattr(QtGui.QDrag, "exec", lambda drag, *a: started.append(drag.mimeData()))
    click(qtbot, canvas, 1)
    click(qtbot, canvas, 2, Qt.KeyboardModifier.ControlModifier)
    start = card_point(canvas, 2)
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas.viewport(), start + QtCore.QPoint(0, 40))
    assert len(started) == 1 and document.selected_ids  # the selection survives the press
    moved = document.spec.moved(document.selected_ids, 0)
    send_drag(canvas, started[0], QtCore.QPoint(100, 1))
    assert document.spec == moved and names(document)[:2] == ["conv1", "relu1"]


def test_delete_typed_in_a_property_editor_edits_text_not_layers(window, qtbot):
    document = window.document
    document.select([document.spec.layers[1].id])
    count = len(document.spec)
    window.activateWindow()
    for editor in (window.properties.name_edit,
                   next(w for w in window.properties.findChildren(QtWidgets.QAbstractSpinBox)
                        if w.isVisible())):
        editor.setFocus()
        qtbot.keyClick(editor, Qt.Key.Key_Delete)
    assert len(document.spec) == count


def card_redness(canvas, index):
    """How much redder than green the bottom edge of a card's background is."""
    image = canvas.viewport().grab().toImage()
    rect = canvas.card_rect(index)
    color = image.pixelColor(int(rect.center().x()), int(rect.bottom() - 3))
    return color.red() - color.green()


def test_a_network_without_a_loss_says_so_once_and_its_cards_stay_normal(window, qtbot):
    canvas, document = window.canvas, window.document
    document.remove_layers([document.spec.layers[-1].id])  # the network is being built
    last = len(document.spec) - 1
    assert card_redness(canvas, last) <= card_redness(canvas, 0) + 5
    assert not document.analysis.errors
    inspector = window.inspector
    assert inspector.problem.text() == (
        "⚠ The network has no loss layer to train with; add a Softmax loss at the bottom.")
    assert window.summary.text() == (
        "⚠ The network has no loss layer to train with; add a Softmax loss at the bottom.")
    qtbot.mouseClick(inspector.fix_buttons[0], Qt.MouseButton.LeftButton)
    assert document.spec.layers[-1].type == "softmax" and document.analysis.valid
    assert inspector.problem_box.isHidden() and "⚠" not in window.summary.text()


def test_the_status_bar_counts_one_layer_as_a_layer(window):
    one_error = network("one", (8, 8, 1), make_layer("conv", stride=2), make_layer("softmax"))
    window.document.reset(one_error, None)
    assert window.summary.text() == "1 layer with errors (red cards)"
    window.document.reset(network("two", (8, 8, 1), make_layer("fc"), make_layer("softmax")), None)
    assert window.summary.text().startswith("3 layers · ")
    window.document.reset(NetworkSpec((make_layer("input"),)), None)
    assert window.summary.text().startswith("⚠ The network has no loss layer")


def test_another_network_opens_at_its_top(window, open_document):
    canvas, document = window.canvas, window.document
    document.reset(open_document("alexnet").spec, None)
    canvas.verticalScrollBar().setValue(canvas.verticalScrollBar().maximum())
    assert canvas.verticalScrollBar().value() > 0
    document.reset(open_document("vgg16").spec, None)
    assert canvas.verticalScrollBar().value() == 0 and canvas.card_rect(0).top() >= 0


def test_no_more_layers_than_a_network_file_holds(window, qtbot, monkeypatch):
    import designer.document as document_module
    document = window.document
    monkeypatch.setattr(document_module, "MAX_LAYERS", len(document.spec.layers) + 1)
    document.add_layer("relu")
    with qtbot.waitSignal(document.edit_refused) as refused:
        document.add_layer("relu")
    assert "at most" in refused.args[0] and len(document.spec.layers) == document_module.MAX_LAYERS


def red_text_lines(canvas, index):
    """The lines of error-red text below a card's name, left of its volume: the first and
    last pixel row of each."""
    image = canvas.viewport().grab().toImage()
    rect, red = canvas.card_rect(index), error_color(canvas.palette())
    columns = range(int(rect.left() + TEXT_LEFT), int(rect.right() - BLOCK_AREA - VOLUME_WIDTH))
    rows = [y for y in range(int(rect.top() + CARD_HEIGHT / 2), int(rect.bottom()))
            if any(abs(image.pixelColor(x, y).red() - red.red()) < 40
                   and abs(image.pixelColor(x, y).green() - red.green()) < 40 for x in columns)]
    lines = []
    for y in rows:
        if lines and y == lines[-1][1] + 1:
            lines[-1][1] = y
        else:
            lines.append([y, y])
    return lines


def test_a_card_shows_its_whole_error_sentence_on_as_many_lines_as_it_needs(qtbot, open_document):
    document = open_document("default")
    canvas = CanvasView(document)
    qtbot.addWidget(canvas)
    canvas.resize(canvas.sizeHint())  # the canvas's usual width
    canvas.show()
    qtbot.waitExposed(canvas)
    conv = document.spec.layers[1]
    document.set_params(conv.id, stride=3, size=4, pad=0)  # (8 − 4 + 2·0)/3 + 1 = 2.333
    error = document.analysis.layers[1].error
    card = canvas.card_rect(1)
    assert canvas.fontMetrics().horizontalAdvance(error) > card.width() - TEXT_LEFT - BLOCK_AREA

    lines = red_text_lines(canvas, 1)
    assert len(lines) >= 2 and card.height() > CARD_HEIGHT
    assert canvas.card_rect(2).top() == card.bottom() + CARD_GAP
    bottom = QtCore.QPoint(int(card.center().x()), int(card.bottom()) - 4)
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=bottom)
    assert document.selected_ids == (conv.id,)
    QtWidgets.QApplication.sendEvent(canvas.viewport(), QtGui.QHelpEvent(
        QtCore.QEvent.Type.ToolTip, bottom, canvas.viewport().mapToGlobal(bottom)))
    assert html.escape(error) in QtWidgets.QToolTip.text()
    QtWidgets.QToolTip.hideText()

    document.undo_stack.undo()
    assert canvas.card_rect(1).height() == CARD_HEIGHT
