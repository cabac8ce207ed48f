import numpy as np
import pytest
from PySide6 import QtCore

import designer.memory_settings as memory_settings_module
from designer.inspector import InspectorPanel
from designer.memory_panel import PARTS, MemoryPanel
from designer.memory_settings import GPU, MemorySettings
from engine.shapes import GIB, format_bytes

Qt = QtCore.Qt


@pytest.fixture
def vgg(open_document, qtbot):
    document = open_document("vgg16")
    panel = MemoryPanel(document)
    qtbot.addWidget(panel)
    return document, panel


def shown_parts(panel):
    return {key: panel.part_labels[key].text().split("  ")[0] for key, _, _ in PARTS}


def expected_parts(document, batch, optimizer):
    memory = document.analysis.memory(batch, optimizer)
    return {key: format_bytes(getattr(memory, key)) for key, _, _ in PARTS}


def test_batch_size_changes_the_numbers_as_the_analysis_says(vgg):
    document, panel = vgg
    assert shown_parts(panel) == expected_parts(document, 32, "momentum")
    panel.batch_spin.setValue(7)
    assert panel.batch_size == 7
    assert shown_parts(panel) == expected_parts(document, 7, "momentum")
    assert panel.part_labels["total"].text() == format_bytes(document.analysis.memory(7).total)
    assert QtCore.QSettings().value("memory/batch_size", type=int) == 7
    assert document.undo_stack.count() == 0  # a view setting, not an edit


def test_optimizer_state_follows_the_optimizer(vgg):
    document, panel = vgg
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("adam"))
    assert panel.optimizer == "adam"
    params = document.analysis.total_params * 4
    assert panel.part_labels["optimizer_state"].text().startswith(format_bytes(2 * params))
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("sgd"))
    assert panel.part_labels["optimizer_state"].text().startswith("0 B")


def test_largest_batch_for_the_budget_and_use_it(vgg, qtbot):
    document, panel = vgg
    panel.budget_combo.setCurrentIndex(panel.budget_combo.findData("6"))
    largest = document.analysis.largest_batch(6 * GIB, "momentum")
    assert panel.budget_bytes == 6 * GIB and panel.largest_batch == largest > 0
    assert f"{largest:,}" in panel.largest_label.text()
    assert "does not fit" in panel.fit_label.text()
    qtbot.mouseClick(panel.use_largest, Qt.MouseButton.LeftButton)
    assert panel.batch_spin.value() == largest and "fits in" in panel.fit_label.text()
    assert document.analysis.memory(largest).total <= 6 * GIB < document.analysis.memory(largest + 1).total
    assert not panel.use_largest.isEnabled()


def test_custom_budget(vgg):
    document, panel = vgg
    panel.budget_combo.setCurrentIndex(panel.budget_combo.findData("custom"))
    assert panel.custom_spin.isVisibleTo(panel)
    panel.custom_spin.setValue(2.5)
    assert panel.budget_bytes == int(2.5 * GIB)
    assert panel.largest_batch == document.analysis.largest_batch(int(2.5 * GIB), "momentum")


def test_gpu_budget_is_disabled_with_a_reason_without_a_gpu(open_document, qtbot, monkeypatch):
    monkeypatch.setattr(memory_settings_module, "query_gpu_free_memory", lambda: (None, "No GPU found."))
    panel = MemoryPanel(open_document("cifar10"))
    qtbot.addWidget(panel)
    item = panel.budget_combo.model().item(panel.budget_combo.findData(GPU))
    assert not item.isEnabled() and item.toolTip() == "No GPU found."
    panel.settings.set_budget(GPU)
    assert panel.settings.budget == "4"


def test_gpu_free_memory_is_a_budget_when_a_gpu_is_seen(open_document, qtbot, monkeypatch):
    monkeypatch.setattr(memory_settings_module, "query_gpu_free_memory", lambda: (3 * GIB, ""))
    document = open_document("vgg16")
    panel = MemoryPanel(document)
    qtbot.addWidget(panel)
    panel.budget_combo.setCurrentIndex(panel.budget_combo.findData(GPU))
    assert panel.budget_bytes == 3 * GIB
    assert panel.largest_batch == document.analysis.largest_batch(3 * GIB, "momentum")


def test_vgg_chart_puts_memory_early_and_parameters_in_fc6(vgg):
    document, panel = vgg
    chart = panel.chart
    for log_scale in (False, True):
        panel.log_check.setChecked(log_scale)
        activations = np.asarray(chart.activation_bars.opts["width"])
        parameters = np.asarray(chart.parameter_bars.opts["width"])
        assert len(activations) == len(parameters) == len(chart.layer_names)
        assert chart.layer_names[int(np.argmax(activations))] == "conv1_1"
        assert chart.layer_names[int(np.argmax(parameters))] == "fc6"
    assert "relu1_1" not in chart.layer_names  # in place: no memory of its own


def test_chart_bars_scale_with_the_batch(vgg):
    document, panel = vgg
    before = np.asarray(panel.chart.activation_bars.opts["width"]).copy()
    panel.batch_spin.setValue(64)
    assert np.allclose(panel.chart.activation_bars.opts["width"], 2 * before)


def test_an_invalid_network_shows_its_error_instead_of_numbers(vgg):
    document, panel = vgg
    conv = next(l for l in document.spec.layers if l.name == "conv1_1")
    document.set_params(conv.id, stride=4)
    assert panel.pages.currentWidget() is panel.invalid_label
    assert document.analysis.errors[0].error in panel.invalid_label.text()
    document.undo_stack.undo()
    assert panel.pages.currentIndex() == 0


def test_settings_are_shared_with_the_inspector_and_remembered(vgg, qtbot):
    document, panel = vgg
    inspector = InspectorPanel(document)
    qtbot.addWidget(inspector)
    assert inspector.settings is panel.settings
    panel.batch_spin.setValue(16)
    assert inspector.model.headerData(5, Qt.Orientation.Horizontal) == "Batch ×16"
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("rmsprop"))
    remembered = MemorySettings()
    assert (remembered.batch_size, remembered.optimizer) == (16, "rmsprop")


def test_a_failing_gpu_query_leaves_the_gpu_budget_disabled(monkeypatch):
    import engine.backend

    def broken():
        raise RuntimeError("cudaErrorInsufficientDriver")
    monkeypatch.setattr(engine.backend, "gpu_free_memory", broken)
    free, reason = memory_settings_module.query_gpu_free_memory()
    assert free is None and "cudaErrorInsufficientDriver" in reason


def test_notes_rule_of_thumb_is_shown_beside_the_engine_figure(qtbot, open_document):
    document = open_document("vgg16")
    panel = MemoryPanel(document)
    qtbot.addWidget(panel)
    expected = format_bytes(document.analysis.notes_rule_bytes(panel.batch_size, panel.optimizer))
    assert expected in panel.notes_label.text()



def written_names(chart):
    """The layer names on the chart's left axis (pyqtgraph has no getter for set ticks)."""
    return [name for _, name in chart.getAxis("left")._tickLevels[0]]


def test_a_short_chart_names_every_other_layer_rather_than_overlap_them(vgg, qtbot):
    _, panel = vgg
    chart = panel.chart
    panel.resize(1100, 260)
    panel.show()
    qtbot.waitExposed(panel)
    names = written_names(chart)
    assert names[0] == "input" and len(names) < len(chart.layer_names)
    room_per_name = chart.getPlotItem().vb.height() / len(names)
    assert room_per_name >= chart.fontMetrics().height()
    panel.resize(1100, 900)
    qtbot.waitUntil(lambda: written_names(chart) == chart.layer_names)
