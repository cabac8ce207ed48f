import pytest
from PySide6 import QtCore, QtWidgets

from designer.inspector import InspectorPanel
from designer.param_editors import ChoiceEditor, FloatEditor, IntEditor, decade_step, format_float
from designer.properties import PropertiesPanel
from engine.spec import CATALOGUE
from tests.designer.helpers import layer_named

Qt = QtCore.Qt


@pytest.fixture
def cifar(open_document, qtbot):
    document = open_document("cifar10")
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    return document, panel


def test_hint_when_nothing_or_several_are_selected(cifar):
    document, panel = cifar
    assert panel.details.isHidden() and "Select a layer" in panel.hint.text()
    document.select([l.id for l in document.spec.layers[1:3]])
    assert panel.details.isHidden() and "2 layers are selected" in panel.hint.text()
    document.select([layer_named(document, "conv").id])
    assert panel.hint.isHidden() and not panel.details.isHidden()


def test_editors_are_typed_from_the_catalogue(cifar):
    document, panel = cifar
    document.select([layer_named(document, "conv").id])
    assert list(panel.editors) == [p.name for p in CATALOGUE["conv"].params]
    stride = panel.editors["stride"]
    assert isinstance(stride, IntEditor)
    assert (stride.minimum(), stride.maximum(), stride.value()) == (1, 1024, 1)
    assert stride.suffix() == " px" and "stride" in stride.toolTip()
    document.select([layer_named(document, "pool").id])
    assert isinstance(panel.editors["mode"], ChoiceEditor)
    assert panel.editors["mode"].currentText() == "max"
    assert panel.title.text() == "pool — Pooling"


def test_edit_is_one_undo_step_and_updates_the_inspector(cifar, qtbot):
    document, panel = cifar
    inspector = InspectorPanel(document)
    qtbot.addWidget(inspector)
    conv = layer_named(document, "conv")
    row = document.spec.index_of(conv.id)
    document.select([conv.id])
    panel.editors["filters"].setValue(24)
    assert document.spec.layer(conv.id)["filters"] == 24
    assert document.undo_stack.count() == 1
    assert inspector.model.cell(row, 2) == "32×32×24"
    assert inspector.model.cell(row, 3) == f"{3 * 3 * 3 * 24 + 24:,}"
    assert "32×32×3 → 32×32×24" in panel.volumes.text()


def test_consecutive_spin_steps_merge_into_one_undo_step(cifar, qtbot):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.select([conv.id])
    editor = panel.editors["filters"]
    for _ in range(3):
        qtbot.keyClick(editor, Qt.Key.Key_Up)
    assert document.spec.layer(conv.id)["filters"] == 15
    assert document.undo_stack.count() == 1
    panel.editors["pad"].setValue(0)  # another field: a step of its own
    assert document.undo_stack.count() == 2
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.spec.layer(conv.id)["filters"] == 12


def test_merged_steps_are_named_after_the_value_they_apply(cifar, qtbot):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.select([conv.id])
    stride = panel.editors["stride"]
    for value in ("2", "4"):
        stride.lineEdit().selectAll()
        qtbot.keyClicks(stride, value)
        qtbot.keyClick(stride, Qt.Key.Key_Return)
    assert document.undo_stack.count() == 1
    assert document.undo_stack.text(0) == "Set conv stride=4"
    assert document.undo_stack.undoText() == "Set conv stride=4"


def test_widgets_show_the_document_and_never_echo(cifar):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.select([conv.id])
    document.set_params(conv.id, filters=40)
    assert panel.editors["filters"].value() == 40
    document.undo_stack.undo()
    assert panel.editors["filters"].value() == 12
    assert document.undo_stack.count() == 1 and document.undo_stack.index() == 0


def test_rename_through_the_name_field(cifar):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.select([conv.id])
    panel.name_edit.setText("  conv1 ")
    panel.name_edit.editingFinished.emit()
    assert document.spec.layer(conv.id).name == "conv1"
    assert panel.title.text().startswith("conv1")
    panel.name_edit.setText("")
    panel.name_edit.editingFinished.emit()
    assert panel.name_edit.text() == "conv1" and document.undo_stack.count() == 1


def test_a_name_another_layer_has_is_refused_and_the_field_shows_the_name_again(cifar, qtbot):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.select([conv.id])
    panel.name_edit.setText("relu")
    with qtbot.waitSignal(document.edit_refused) as refused:
        panel.name_edit.editingFinished.emit()
    assert "another layer is already called 'relu'" in refused.args[0]
    assert document.spec.layer(conv.id).name == "conv" and panel.name_edit.text() == "conv"
    assert document.undo_stack.count() == 0


def test_a_name_with_control_characters_is_refused(cifar, qtbot):
    document, _ = cifar
    conv = layer_named(document, "conv")
    with qtbot.waitSignal(document.edit_refused) as refused:
        document.rename_layer(conv.id, "conv\x1b[2J")
    assert "control characters" in refused.args[0]
    assert document.spec.layer(conv.id).name == "conv" and document.undo_stack.count() == 0


def test_input_layer_edits_the_input_volume(cifar):
    document, panel = cifar
    document.select([document.spec.layers[0].id])
    assert list(panel.editors) == ["width", "height", "depth"]
    panel.editors["depth"].setValue(1)
    assert document.spec.input_volume.depth == 1
    assert document.analysis.layers[1].weights == 3 * 3 * 1 * 12


def test_scientific_values_are_shown_typed_and_stepped(open_document, qtbot):
    document = open_document("alexnet")
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    norm = layer_named(document, "norm1")
    document.select([norm.id])
    alpha = panel.editors["alpha"]
    assert isinstance(alpha, FloatEditor) and alpha.text() == "1e-4"
    alpha.lineEdit().selectAll()
    qtbot.keyClicks(alpha, "2.5e-4")
    qtbot.keyClick(alpha, Qt.Key.Key_Return)
    assert document.spec.layer(norm.id)["alpha"] == pytest.approx(2.5e-4)
    alpha.stepBy(1)
    assert document.spec.layer(norm.id)["alpha"] == pytest.approx(2.6e-4)
    assert document.undo_stack.count() == 1  # typing and stepping one field merge too


def test_float_steps_follow_the_decade():
    assert decade_step(0.75, 1) == pytest.approx(0.01)
    assert decade_step(1e-4, 1) == pytest.approx(1e-5)
    assert decade_step(1e-4, -1) == pytest.approx(1e-6)
    assert decade_step(0.0, 1) == 0.01
    assert [format_float(v) for v in (0.75, 1e-4, 2.5e-12, 2.0)] == ["0.75", "1e-4", "2.5e-12", "2"]
    assert format_float(1.5e6) == "1.5e6" and format_float(0.001) == "0.001"


def test_out_of_range_value_from_a_file_is_shown_as_it_is(cifar):
    document, panel = cifar
    conv = layer_named(document, "conv")
    document.edit(document.spec.replaced(conv.with_params(pad=-1)), "bad pad")
    document.select([conv.id])
    assert panel.editors["pad"].value() == -1
    assert document.analysis.info(conv.id).error


def test_switching_layers_rebuilds_the_form(cifar):
    document, panel = cifar
    document.select([layer_named(document, "relu").id])
    assert panel.editors == {} and "no hyperparameters" in panel.description.text()
    form_rows = panel.form.rowCount()
    document.select([layer_named(document, "fc").id])
    assert list(panel.editors) == ["units"] and panel.form.rowCount() == form_rows + 1
    assert isinstance(panel.findChild(QtWidgets.QLineEdit), QtWidgets.QLineEdit)


def test_editors_keep_their_height_under_a_two_line_warning_in_a_short_dock(window, qtbot):
    window.resize(1366, 768)
    window.resizeDocks([window.properties_dock], [400], Qt.Orientation.Horizontal)
    document, panel = window.document, window.properties
    conv = layer_named(document, "conv1")
    document.select([conv.id])
    document.set_params(conv.id, stride=3)
    qtbot.waitUntil(lambda: panel.volumes.height() >= 2 * panel.volumes.fontMetrics().lineSpacing())
    for editor in [panel.name_edit, *panel.editors.values()]:
        assert editor.height() >= editor.sizeHint().height()
