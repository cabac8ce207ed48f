"""The inspector's advice: shares, filters × positions, the notes' hints shown gently, and the
time per layer measured in the background, after a run or read from `main.py bench`."""

import pytest
from PySide6 import QtCore

from designer.advice_bar import MEASURE, STOP
from designer.inspector import InspectorPanel
from designer.inspector_model import COLUMNS, FIRST_ADVICE, STALE
from designer.memory_settings import memory_settings
from designer.training.session import TrainingEnded
from designer.training.settings import TrainSettings
from designer.timing_store import timing_store
from engine.advice import design_hints
from engine.config import TrainConfig
from engine.layer_timings import timings_path
from engine.netfile import save_network
from engine.runs import runs_folder
from tests.designer.helpers import layer_named
from tests.designer.conftest import make_workspace
from tests.designer.test_training import RUN, is_a

Qt = QtCore.Qt
FWD, BWD, RATE, COMPUTE, MEMORY, PARAMS, PRODUCT = range(FIRST_ADVICE, len(COLUMNS))


@pytest.fixture
def panels(qtbot):
    """`panels(document)`: an inspector shown on `document`, its measuring stopped after."""
    made = []

    def make(document):
        made.append(InspectorPanel(document))
        qtbot.addWidget(made[-1])
        made[-1].resize(1200, 700)
        made[-1].show()
        return made[-1]
    yield make
    for panel in made:
        panel.timings.shutdown()


@pytest.fixture
def panel(panels, open_document, request):
    return panels(open_document(request.param))


def row_of(panel, name):
    return panel.document.spec.index_of(layer_named(panel.document, name).id)


def data(panel, row, column, role):
    return panel.model.data(panel.model.index(row, column), role)


@pytest.mark.parametrize("panel", ["vgg16"], indirect=True)
def test_shares_and_filters_times_positions_show_vgg16s_memory_early_parameters_in_fc(panel):
    model, analysis = panel.model, panel.document.analysis
    fc6, conv1 = row_of(panel, "fc6"), row_of(panel, "conv1_1")
    assert model.cell(fc6, PARAMS) == f"{100 * 102_764_544 / analysis.total_params:.1f} %"
    assert model.cell(conv1, MEMORY) == f"{100 * 224 * 224 * 64 / analysis.total_activations:.1f} %"
    assert model.cell(conv1, PARAMS) == "0.0 %"  # 1,792 of 138M: present, but tiny
    assert model.cell(row_of(panel, "relu1_1"), MEMORY) == ""  # in place: none
    assert model.cell(conv1, PRODUCT) == "3.21 M (1×)"
    assert model.cell(row_of(panel, "conv2_1"), PRODUCT) == "1.61 M (0.5×)"
    assert model.cell(fc6, PRODUCT) == ""
    totals = model.rowCount() - 1
    assert [model.cell(totals, c) for c in (COMPUTE, MEMORY, PARAMS)] == ["100 %"] * 3


@pytest.mark.parametrize("panel", ["alexnet"], indirect=True)
def test_a_hint_is_shown_gently_and_is_not_an_error(panel):
    conv5 = row_of(panel, "conv5")
    icon = data(panel, conv5, 0, Qt.ItemDataRole.DecorationRole)
    assert icon is not None and icon.cacheKey() == panel.model._information.cacheKey()
    assert data(panel, conv5, 0, Qt.ItemDataRole.BackgroundRole) is None  # no error red
    assert "fewer than the 384 of 'conv4'" in data(panel, conv5, 3, Qt.ItemDataRole.ToolTipRole)
    assert data(panel, row_of(panel, "conv4"), 0, Qt.ItemDataRole.DecorationRole) is None
    assert panel.advice.hints_box.isVisible() and not panel.problem_box.isVisible()
    assert panel.advice.hints.text().startswith("ℹ 'conv5' has 256 filters")
    assert panel.document.analysis.valid and panel.advice.measure.isEnabled()


@pytest.mark.parametrize("panel", ["default"], indirect=True)
def test_an_edit_against_the_notes_brings_a_hint_and_undo_takes_it_away(panel):
    document = panel.document
    conv2 = layer_named(document, "conv2")
    document.set_params(conv2.id, filters=4)
    assert design_hints(document.analysis) and panel.advice.hints_box.isVisible()
    assert data(panel, row_of(panel, "conv2"), 0, Qt.ItemDataRole.DecorationRole) is not None
    document.undo_stack.undo()
    assert not panel.advice.hints_box.isVisible()
    assert data(panel, row_of(panel, "conv2"), 0, Qt.ItemDataRole.DecorationRole) is None


def measure(qtbot, panel):
    panel.advice.measure.click()
    assert panel.advice.measure.text() == STOP
    qtbot.waitUntil(lambda: not panel.timings.measuring, timeout=RUN)


@pytest.mark.parametrize("panel", ["default"], indirect=True)
def test_measuring_in_the_background_fills_the_timings_and_an_edit_greys_them(qtbot, panel):
    memory_settings(panel.document).set_batch_size(8)
    model, grey = panel.model, Qt.ItemDataRole.ForegroundRole
    conv1 = row_of(panel, "conv1")
    assert model.cell(conv1, FWD) == ""
    time_columns = (FWD, BWD, RATE)
    actions = {a.text(): a for a in panel.view.horizontalHeader().actions()}
    # empty until measured: hidden, and their menu entries greyed out
    assert all(panel.view.isColumnHidden(c) for c in time_columns)
    assert not actions["Fwd ms"].isEnabled() and actions["Fwd ms"].isChecked()
    measure(qtbot, panel)
    assert panel.advice.measure.text() == MEASURE
    assert not any(panel.view.isColumnHidden(c) for c in time_columns)
    assert actions["Fwd ms"].isEnabled()
    header = panel.view.horizontalHeader()
    assert header.sectionSize(FWD) >= panel.view.fontMetrics().horizontalAdvance(
        model.cell(conv1, FWD))
    timed = [r for r in range(1, model.rowCount() - 2)]  # all but input, loss and totals
    assert all(float(model.cell(r, FWD)) > 0 for r in timed)
    assert float(model.cell(conv1, RATE).split(" / ")[0]) > 0
    assert data(panel, conv1, FWD, grey) is None
    assert "at batch 8 on the CPU" in model.headerData(FWD, Qt.Orientation.Horizontal,
                                                       Qt.ItemDataRole.ToolTipRole)
    assert "At batch 8 on the CPU" in panel.advice.timings.text()
    measured = model.cell(conv1, FWD)

    panel.document.set_params(layer_named(panel.document, "conv2").id, filters=48)
    assert model.cell(conv1, FWD) == measured       # still shown for the layers still there,
    assert data(panel, conv1, FWD, grey) is not None    # but greyed, and saying why
    assert data(panel, conv1, FWD, Qt.ItemDataRole.ToolTipRole) == STALE
    assert "measured before the last edits" in panel.advice.timings.text()
    panel.document.undo_stack.undo()                # the network measured, again
    assert data(panel, conv1, FWD, grey) is None and model.cell(conv1, FWD) == measured


@pytest.mark.parametrize("panel", ["default"], indirect=True)
def test_measuring_can_be_stopped(qtbot, panel):
    memory_settings(panel.document).set_batch_size(512)
    panel.advice.measure.click()
    panel.advice.measure.click()
    assert not panel.timings.measuring and panel.advice.measure.text() == MEASURE
    assert panel.model.cell(row_of(panel, "conv1"), FWD) == ""


@pytest.mark.parametrize("panel", ["default"], indirect=True)
def test_another_network_opened_stops_a_measurement_and_shows_none_of_its_timings(
        qtbot, panel, open_document):
    """Timings belong to the network measured: a template opened meanwhile is not timed by
    the measurement of the one before, nor shown its timings as stale ones."""
    measure(qtbot, panel)
    panel.advice.measure.click()  # measuring again, then another network comes
    assert panel.timings.measuring
    panel.document.reset(open_document("cifar10").spec, None)
    assert not panel.timings.measuring and panel.advice.measure.text() == MEASURE
    assert all(panel.model.cell(r, FWD) == "" for r in range(panel.model.rowCount()))
    qtbot.wait(300)  # whatever the cancelled measurement still reports is dropped
    assert not panel.timings.measuring


def test_timings_kept_beside_the_runs_are_found_and_a_damaged_file_is_one_sentence(
        qtbot, panels, open_document, tmp_path):
    document = open_document("default")
    path = tmp_path / "net.json"
    save_network(document.spec, path)
    document.set_path(path)
    panel = panels(document)
    measure(qtbot, panel)  # saves beside the network's runs, as main.py bench does
    saved = timings_path(runs_folder(path), document.spec)
    assert saved.exists()

    fresh = open_document("default")
    reader = panels(fresh)
    fresh.reset(fresh.spec, path)
    qtbot.waitUntil(lambda: reader.model.cell(row_of(reader, "conv1"), FWD) != "", timeout=RUN)

    saved.write_text("{ not json")
    other = open_document("default")
    broken = panels(other)
    other.reset(other.spec, path)
    qtbot.waitUntil(lambda: "damaged" in broken.advice.timings.text(), timeout=RUN)
    assert broken.advice.timings.text().endswith("measure again to replace it.")
    assert broken.model.cell(row_of(broken, "conv1"), FWD) == ""


def test_a_training_run_that_ends_measures_its_network(qtbot, panels, open_document,
                                                       monkeypatch):
    from designer import dialogs
    monkeypatch.setattr(dialogs, "show_error", lambda *args: pytest.fail(args[-1]))
    document = open_document("default")
    panel = panels(document)
    ws = make_workspace(qtbot, document)
    try:
        with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(TrainingEnded)):
            assert ws.train()
        assert timing_store(document).measuring
        qtbot.waitUntil(lambda: not timing_store(document).measuring, timeout=RUN)
        shown = timing_store(document).shown(document.spec)
        assert shown.timings.batch_size == 64 and not shown.stale  # the run's own batch size
        assert float(panel.model.cell(row_of(panel, "conv1"), FWD)) > 0
    finally:
        ws.shutdown()


def test_a_run_that_ends_after_another_network_was_opened_lends_it_no_timings(
        qtbot, panels, open_document, monkeypatch):
    """The run's own network is timed when it ends; the canvas holds another network by
    then (a variant saved from it, its layers' ids the same): none of those times appear
    on its rows, not even greyed as "measured before the last edits"."""
    from designer import dialogs
    monkeypatch.setattr(dialogs, "show_error", lambda *args: pytest.fail(args[-1]))
    document = open_document("default")
    panel = panels(document)
    ws = make_workspace(qtbot, document)
    trained = document.spec
    conv1 = layer_named(document, "conv1")
    try:
        with qtbot.waitSignal(ws.worker.finished, timeout=RUN, check_params_cb=is_a(TrainingEnded)):
            assert ws.train()
            document.reset(trained.replaced(conv1.with_params(filters=8)), None)
        qtbot.waitUntil(lambda: not timing_store(document).measuring, timeout=RUN)
        assert timing_store(document).shown(document.spec).timings is None
        assert all(panel.model.cell(r, FWD) == "" for r in range(panel.model.rowCount()))
        document.reset(trained, None)  # the run's network again: its own times, current
        shown = timing_store(document).shown(document.spec)
        assert shown.timings.batch_size == 64 and not shown.stale
    finally:
        ws.shutdown()


@pytest.mark.parametrize("panel", ["vgg16"], indirect=True)
def test_columns_are_hidden_from_the_header_menu_and_stay_hidden(panels, panel, open_document):
    actions = {a.text(): a for a in panel.view.horizontalHeader().actions()}
    assert "Layer" not in actions and {"Batch", "Fwd ms", "K·W2·H2"} <= set(actions)
    actions["Batch"].setChecked(False)
    actions["RF"].setChecked(False)
    assert panel.view.isColumnHidden(5) and panel.view.isColumnHidden(7)
    panel.document.reset(open_document("default").spec, None)  # the rows change
    assert panel.view.isColumnHidden(5)
    again = panels(open_document("vgg16"))                     # the next start
    assert again.view.isColumnHidden(5) and again.view.isColumnHidden(7)
    assert not again.view.isColumnHidden(PARAMS)


def test_a_smaller_batch_without_a_smaller_learning_rate_gets_a_hint_in_the_settings(
        qtbot, open_document):
    document = open_document("default")
    memory = memory_settings(document)
    settings = TrainSettings(memory)
    qtbot.addWidget(settings)
    hint, lr, batch = settings.batch_hint, settings.widgets["lr"], settings.widgets["batch_size"]
    batch.setValue(64)
    lr.setValue(0.04)                       # set for batch 64
    assert hint.isHidden()
    batch.setValue(16)
    assert not hint.isHidden() and "from 64 to 16" in hint.text.text()
    assert hint.use.text() == "Use 0.01"
    memory.set_batch_size(32)               # from the Memory panel, too
    assert hint.use.text() == "Use 0.02"
    hint.use.click()
    assert lr.value() == pytest.approx(0.02) and hint.isHidden()
    batch.setValue(8)
    assert not hint.isHidden()
    lr.setValue(0.005)                      # lowered by hand: the rate is set for 8 now
    assert hint.isHidden()
    settings.set_config(TrainConfig(lr=0.1, batch_size=128))   # a run's own settings
    assert hint.isHidden()
    batch.setValue(64)
    assert "from 128 to 64" in hint.text.text()


def test_a_failed_measurement_of_another_networks_run_says_nothing_about_this_one(
        qtbot, open_document, monkeypatch):
    """A run of the network before ends after another was opened and its timing fails: the
    failure is not shown under the network now on the canvas; one of this network is."""
    import designer.timing_store as store_module
    from engine.errors import ConvNetError

    def failing(*args):
        raise ConvNetError("The step did not fit in memory.")

    monkeypatch.setattr(store_module, "_measure", failing)
    document = open_document("default")
    store = timing_store(document)
    before = document.spec
    document.reset(open_document("lenet5").spec, None)
    store.measure(before, 8)
    qtbot.waitUntil(lambda: not store.measuring, timeout=RUN)
    assert store.status == ""
    store.measure(document.spec, 8)
    qtbot.waitUntil(lambda: not store.measuring, timeout=RUN)
    assert store.status == "The step did not fit in memory."
