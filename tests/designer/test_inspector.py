import pytest
from PySide6 import QtCore

from designer.inspector import InspectorPanel
from designer.inspector_model import ERROR_BACKGROUND, IN_PLACE, format_count
from designer.memory_panel import MemoryPanel
from designer.memory_settings import memory_settings
from designer.properties import PropertiesPanel
from engine.shapes import format_bytes
from tests.designer.helpers import layer_named

Qt = QtCore.Qt


@pytest.fixture
def vgg(open_document, qtbot):
    document = open_document("vgg16")
    panel = InspectorPanel(document)
    qtbot.addWidget(panel)
    return document, panel


@pytest.fixture
def cifar(open_document, qtbot):
    document = open_document("cifar10")
    panel = InspectorPanel(document)
    qtbot.addWidget(panel)
    return document, panel


def test_one_row_per_layer_with_the_analysis_numbers_and_totals(vgg):
    document, panel = vgg
    model, analysis = panel.model, document.analysis
    assert model.rowCount() == len(document.spec.layers) + 1
    conv = analysis.info(layer_named(document, "conv1_1").id)
    row = conv.index
    assert [model.cell(row, c) for c in range(8)] == [
        "conv1_1", "CONV", "224×224×64", "1,792", format_bytes(224 * 224 * 64 * 4),
        format_bytes(224 * 224 * 64 * 4 * 32), format_count(conv.macs), "3×3"]
    assert model.cell(analysis.info(layer_named(document, "relu1_1").id).index, 4) == IN_PLACE
    totals = model.rowCount() - 1
    assert model.cell(totals, 0) == "Total"
    assert model.cell(totals, 3) == "138,357,544"
    assert model.cell(totals, 4) == format_bytes(analysis.total_activations * 4)
    assert not model.flags(model.index(totals, 0)) & Qt.ItemFlag.ItemIsSelectable
    assert panel.problem_box.isHidden()


def test_invalid_stride_turns_the_row_red_and_apply_fix_clears_it(cifar, qtbot):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.select([conv.id])
    document.set_params(conv.id, stride=2)
    model, row = panel.model, document.spec.index_of(conv.id)
    error = document.analysis.info(conv.id).error
    assert "16.5 is not a whole number" in error
    assert model.data(model.index(row, 0), Qt.ItemDataRole.BackgroundRole) == ERROR_BACKGROUND
    assert model.data(model.index(row, 3), Qt.ItemDataRole.ToolTipRole) == error
    assert model.data(model.index(row, 0), Qt.ItemDataRole.DecorationRole) is not None
    assert not panel.problem_box.isHidden() and error in panel.problem.text()
    assert visible_texts(panel.fix_buttons) == ["Set S=1", "Set F=4"]
    steps = document.undo_stack.count()

    qtbot.mouseClick(panel.fix_buttons[0], Qt.MouseButton.LeftButton)
    assert document.spec.layer(conv.id)["stride"] == 1
    assert document.analysis.valid and panel.problem_box.isHidden()
    assert model.data(model.index(row, 0), Qt.ItemDataRole.BackgroundRole) is None
    assert document.undo_stack.count() == steps + 1

    document.undo_stack.undo()
    assert document.analysis.info(conv.id).error == error
    assert model.data(model.index(row, 0), Qt.ItemDataRole.BackgroundRole) == ERROR_BACKGROUND


def visible_texts(buttons):
    return [b.text() for b in buttons if not b.isHidden()]


def test_every_fix_has_its_button_best_first_and_each_applies_its_own(cifar, qtbot):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.set_params(conv.id, size=2, stride=4, pad=0)
    assert panel.problem.text().endswith("8.5 is not a whole number; use S=2, F=4 or P=1")
    assert visible_texts(panel.fix_buttons) == ["Set S=2", "Set F=4", "Set P=1"]
    applied = {"Set S=2": {"stride": 2}, "Set F=4": {"size": 4}, "Set P=1": {"pad": 1}}
    for n, button in enumerate(panel.fix_buttons):
        text = button.text()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        layer = document.spec.layer(conv.id)
        assert {k: layer[k] for k in applied[text]} == applied[text]
        assert document.analysis.valid == (n < 2)  # P=1 makes the 9×9 output break the pool
        assert document.undo_stack.undoText() == f"Fix: s{text[1:]}"
        document.undo_stack.undo()


def test_the_selected_error_is_explained_before_the_first(cifar):
    document, panel = cifar
    conv, pool = layer_named(document, "conv"), layer_named(document, "pool")
    document.edit(document.spec.replaced(pool.with_params(size=0)), "break pool")
    document.edit(document.spec.replaced(conv.with_params(stride=2)), "break conv")
    assert panel.problem.text().startswith("⚠ conv:")
    document.select([pool.id])
    # Below conv's error the pool has no input volume, so only a range error can show.
    assert document.analysis.info(pool.id).error
    assert panel.problem.text().startswith("⚠ pool:")


def test_selection_follows_the_document_and_the_table(vgg):
    document, panel = vgg
    fc6 = layer_named(document, "fc6")
    document.select([fc6.id])
    selected = panel.view.selectionModel().selectedRows
    assert [i.row() for i in selected()] == [document.spec.index_of(fc6.id)]
    panel.view.selectRow(3)
    assert document.selected_ids == (document.spec.layers[3].id,)
    assert [i.row() for i in selected()] == [3]
    document.select([])
    assert selected() == []
    panel.view.selectRow(panel.model.rowCount() - 1)  # the totals row is not a layer
    assert document.selected_ids == () and selected() == []


def test_rows_follow_structural_edits_and_undo(vgg):
    document, panel = vgg
    pool5 = layer_named(document, "pool5")
    document.select([pool5.id])
    document.remove_layers([pool5.id])
    assert panel.model.rowCount() == len(document.spec.layers) + 1
    fc6 = document.analysis.info(layer_named(document, "fc6").id)
    assert panel.model.cell(fc6.index, 3) == f"{14 * 14 * 512 * 4096 + 4096:,}"
    document.undo_stack.undo()
    assert panel.model.layer_ids == tuple(l.id for l in document.spec.layers)
    assert panel.model.cell(fc6.index + 1, 3) == "102,764,544"


def test_batch_size_drives_the_batch_column(vgg):
    document, panel = vgg
    memory_settings(document).set_batch_size(8)
    model = panel.model
    row = document.spec.index_of(layer_named(document, "conv1_1").id)
    assert model.cell(row, 5) == format_bytes(224 * 224 * 64 * 4 * 8)
    assert model.headerData(5, Qt.Orientation.Horizontal) == "Batch ×8"


def test_a_bad_stride_typed_in_the_properties_is_flagged_everywhere_and_fixed(cifar, qtbot):
    document, inspector = cifar
    properties, memory = PropertiesPanel(document), MemoryPanel(document)
    qtbot.addWidget(properties)
    qtbot.addWidget(memory)
    conv = layer_named(document, "conv")
    inspector.view.selectRow(document.spec.index_of(conv.id))
    stride = properties.editors["stride"]
    stride.lineEdit().selectAll()
    qtbot.keyClicks(stride, "2")
    qtbot.keyClick(stride, Qt.Key.Key_Return)
    assert document.spec.layer(conv.id)["stride"] == 2 and document.undo_stack.count() == 1
    assert properties.volumes.text().startswith("⚠ (32 − 3 + 2·1)/2 + 1 = 16.5")
    assert memory.pages.currentWidget() is memory.invalid_label
    qtbot.mouseClick(inspector.fix_buttons[0], Qt.MouseButton.LeftButton)
    assert stride.value() == 1 and document.analysis.valid
    assert properties.volumes.text() == "32×32×3 → 32×32×12"
    assert memory.pages.currentIndex() == 0
    assert document.undo_stack.count() == 2


def test_columns_grow_to_fit_longer_texts_after_an_edit(open_document, qtbot):
    document = open_document("alexnet")
    panel = InspectorPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    conv1 = layer_named(document, "conv1")
    document.set_params(conv1.id, stride=2)  # 55×55×96 becomes 109×109×96; pool2 breaks
    assert document.analysis.info(conv1.id).output.width == 109
    shown = [c for c in range(panel.model.columnCount()) if not panel.view.isColumnHidden(c)]
    assert len(shown) == panel.model.columnCount() - 3  # the times: not measured
    for column in shown:
        assert panel.view.sizeHintForColumn(column) <= panel.view.columnWidth(column)


def test_fix_buttons_sit_beside_the_text_unless_they_would_squeeze_it(open_document, qtbot):
    document = open_document("default")
    panel = InspectorPanel(document)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    conv = layer_named(document, "conv1")
    document.set_params(conv.id, stride=2)  # short fixes: "Set S=1", "Set F=2"
    qtbot.waitUntil(lambda: panel.fix_buttons[0].isVisible())
    assert panel.fix_buttons[0].geometry().top() < panel.problem.geometry().bottom()
    document.undo_stack.undo()
    document.remove_layers([l.id for l in document.spec.layers[-2:]])  # no FC, no loss
    button = panel.fix_buttons[0]
    assert button.text() == "Add a Fully-connected layer and a Softmax loss at the bottom"
    qtbot.waitUntil(lambda: button.geometry().top() >= panel.problem.geometry().bottom())
