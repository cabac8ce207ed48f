"""The list of runs, on real run files: listing in the background, sorting, marks, problems,
rename and delete through the buttons, the refusal for the run that trains, the signals."""

import pytest
from PySide6 import QtCore, QtWidgets

from designer import dialogs
from designer.training.runs_model import COLUMNS
from designer.training.runs_view import RunsView
from engine.checkpoint import load_run, read_run_summary, save_run
from tests.designer.run_helpers import save_runs, trained_runs

WAIT = 30_000  # ms
Qt = QtCore.Qt


@pytest.fixture
def paths(tmp_path):
    return save_runs(tmp_path / "runs")


@pytest.fixture
def view(qtbot):
    v = RunsView()
    qtbot.addWidget(v)
    v.resize(1000, 400)
    v.show()
    yield v
    v.shutdown()


@pytest.fixture
def listed(qtbot, view, paths):
    """The view showing the folder of the three runs."""
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT):
        view.set_folder(paths[0].parent)
    return view


@pytest.fixture
def messages(view):
    received = []
    view.message.connect(received.append)
    return received


def cell(view, row, column, role=Qt.ItemDataRole.DisplayRole):
    return view.proxy.index(row, column).data(role)


def column_of(title):
    return next(i for i, c in enumerate(COLUMNS) if c.title == title)


def names(view):
    return [cell(view, row, 0) for row in range(view.proxy.rowCount())]


def select(view, *row_names):
    view.table.clearSelection()
    flags = QtCore.QItemSelectionModel.SelectionFlag
    for row in range(view.proxy.rowCount()):
        if cell(view, row, 0).split("  (")[0] in row_names:
            view.table.selectionModel().select(view.proxy.index(row, 0),
                                               flags.Select | flags.Rows)


def button(view, action):
    return next(b for b in view.findChildren(QtWidgets.QToolButton) if b.defaultAction() is action)


def click(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def no_question(*args):
    raise AssertionError("no question should be asked")


def test_every_run_is_listed_newest_first_with_date_network_data_epochs_and_accuracy(listed):
    alpha, beta, gamma = trained_runs()
    assert names(listed) == ["beta", "alpha", "gamma"]
    rows = [[cell(listed, row, c) for c in range(len(COLUMNS))] for row in range(3)]
    assert rows[0] == ["beta", "2026-11-02 10:30", "small", "quadrants", "3",
                       f"{100 * max(beta.history['val_acc']):.1f} %"]
    assert rows[2][1:5] == ["2026-10-30 18:05", "small", "quadrants", "1 of 4"]
    assert rows[1][5] == f"{100 * max(alpha.history['val_acc']):.1f} %"
    assert listed.status.text() == "3 runs"
    assert listed.problems.isHidden()
    assert listed.folder_label.toolTip() == str(listed.folder)
    tip = cell(listed, 0, 3, Qt.ItemDataRole.ToolTipRole)
    assert "momentum, lr 0.05, momentum 0.9" in tip and "batch 16" in tip and "beta.ckpt" in tip


def test_clicking_a_header_sorts_by_that_column_and_again_reverses(qtbot, listed):
    header = listed.table.horizontalHeader()

    def click_header(title):
        x = header.sectionViewportPosition(column_of(title)) + 5
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QtCore.QPoint(x, 5))

    click_header("Epochs")
    assert names(listed) == ["gamma", "alpha", "beta"]  # 1, 2, 3 epochs done
    click_header("Epochs")
    assert names(listed) == ["beta", "alpha", "gamma"]
    click_header("Name")
    assert names(listed) == ["alpha", "beta", "gamma"]
    accuracy = [r.best_val_acc for r in sorted_by(listed, "Best val. accuracy")]
    click_header("Best val. accuracy")
    shown = [cell(listed, row, column_of("Best val. accuracy")) for row in range(3)]
    assert shown == [f"{100 * a:.1f} %" for a in accuracy]


def sorted_by(view, title):
    column = COLUMNS[column_of(title)]
    return sorted(view.model.runs, key=column.key)


def test_the_current_run_is_bold_and_marked_and_the_training_run_marked(listed, paths):
    listed.set_current(paths[0])  # alpha
    listed.set_busy_path(paths[1])  # beta
    assert names(listed) == ["beta  (training)", "alpha  (open)", "gamma"]
    assert cell(listed, 1, 2, Qt.ItemDataRole.FontRole).bold()
    assert cell(listed, 0, 2, Qt.ItemDataRole.FontRole) is None
    listed.set_current(None)
    listed.set_busy_path(None)
    assert names(listed) == ["beta", "alpha", "gamma"]
    assert cell(listed, 1, 2, Qt.ItemDataRole.FontRole) is None


def test_a_file_that_is_not_a_run_is_one_line_under_the_list(qtbot, view, paths):
    (paths[0].parent / "broken.ckpt").write_bytes(b"not a run")
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT):
        view.set_folder(paths[0].parent)
    assert names(view) == ["beta", "alpha", "gamma"]
    assert view.problems.isVisible()
    assert view.problems.text().count("\n") == 0 and "'broken.ckpt' is not" in view.problems.text()


def test_listing_happens_in_the_background_and_a_listing_of_the_folder_before_is_dropped(
        qtbot, view, paths, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shown = []  # rows after each listing arrived (connected after the view's own slot)
    view.worker.finished.connect(lambda listing: shown.append((listing.folder.name,
                                                               len(view.model.runs))))
    view.set_folder(paths[0].parent)
    assert view.model.runs == [] and view.status.text() == "Reading the runs…"
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT,
                          check_params_cb=lambda listing: listing.folder.name == "other"):
        view.set_folder(other)
    assert shown == [("runs", 0), ("other", 0)]
    assert view.status.text() == "No runs in this folder yet."


def test_rename_through_the_button_renames_the_file_and_the_row(qtbot, listed, paths, messages,
                                                                monkeypatch):
    asked = []
    monkeypatch.setattr(dialogs, "ask_run_name",
                        lambda parent, current: asked.append(current) or "  delta ")
    select(listed, "alpha")
    with qtbot.waitSignal(listed.renamed, timeout=WAIT) as renamed:
        click(qtbot, button(listed, listed.rename_action))
    assert asked == ["alpha"] and renamed.args[0] == read_run_summary(paths[0])
    assert read_run_summary(paths[0]).name == "delta"
    assert sorted(names(listed)) == ["beta", "delta", "gamma"]
    assert messages == ["Renamed the run of alpha.ckpt to 'delta'."]
    assert [r.name for r in listed.selected()] == ["delta"]


def test_a_cancelled_or_unchanged_rename_writes_nothing(qtbot, listed, paths, monkeypatch):
    before = paths[0].stat().st_mtime_ns
    for answer in (None, "alpha"):
        monkeypatch.setattr(dialogs, "ask_run_name", lambda parent, current: answer)
        select(listed, "alpha")
        click(qtbot, button(listed, listed.rename_action))
        assert not listed.worker.busy
    assert paths[0].stat().st_mtime_ns == before


def test_delete_asks_first_and_then_removes_only_that_file_and_row(qtbot, listed, paths, messages,
                                                                   monkeypatch):
    monkeypatch.setattr(dialogs, "ask_delete_run", lambda parent, name, file: False)
    select(listed, "gamma")
    click(qtbot, button(listed, listed.delete_action))
    assert not listed.worker.busy and paths[2].exists()
    asked = []
    monkeypatch.setattr(dialogs, "ask_delete_run",
                        lambda parent, name, file: asked.append((name, file)) or True)
    with qtbot.waitSignal(listed.deleted, timeout=WAIT) as deleted:
        click(qtbot, button(listed, listed.delete_action))
    assert asked == [("gamma", "gamma.ckpt")] and deleted.args == [paths[2]]
    assert not paths[2].exists() and paths[0].exists() and paths[1].exists()
    assert names(listed) == ["beta", "alpha"] and listed.status.text() == "2 runs"
    assert messages == ["Deleted the run 'gamma' (gamma.ckpt)."]


def test_the_training_run_is_neither_renamed_nor_deleted_and_the_user_is_told_why(
        qtbot, listed, paths, messages, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_run_name", no_question)
    monkeypatch.setattr(dialogs, "ask_delete_run", no_question)
    listed.set_busy_path(paths[1])
    select(listed, "beta")
    content = paths[1].read_bytes()
    click(qtbot, button(listed, listed.rename_action))
    click(qtbot, button(listed, listed.delete_action))
    assert not listed.worker.busy and paths[1].read_bytes() == content
    assert messages == [f"'beta' is training and its file is rewritten every epoch; stop it "
                        f"before {doing} it." for doing in ("renaming", "deleting")]


def test_a_failed_rename_is_one_sentence_in_the_status_bar(qtbot, listed, paths, messages,
                                                           monkeypatch):
    monkeypatch.setattr(dialogs, "ask_run_name", lambda parent, current: "new")
    select(listed, "alpha")
    paths[0].write_bytes(b"overwritten by something else")
    with qtbot.waitSignal(listed.worker.failed, timeout=WAIT):
        click(qtbot, button(listed, listed.rename_action))
    assert len(messages) == 1 and "'alpha.ckpt' is not a ConvNet Designer run file" in messages[0]


def test_open_continue_and_compare_ask_the_owner(qtbot, listed, paths):
    opened, continued, compared = [], [], []
    listed.open_requested.connect(opened.append)
    listed.continue_requested.connect(continued.append)
    listed.compare_requested.connect(compared.append)
    select(listed, "gamma")
    assert not listed.compare_action.isEnabled()
    click(qtbot, button(listed, listed.open_action))
    click(qtbot, button(listed, listed.continue_action))
    rect = listed.table.visualRect(listed.proxy.index(2, 0))
    # A real double click is a click and then a double-click event.
    qtbot.mouseClick(listed.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(listed.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened == [paths[2], paths[2]] and continued == [paths[2]]
    select(listed, "gamma", "beta")
    assert listed.compare_action.isEnabled() and not listed.open_action.isEnabled()
    click(qtbot, button(listed, listed.compare_action))
    assert [[r.name for r in runs] for runs in compared] == [["beta", "gamma"]]


def test_the_context_menu_offers_the_same_actions(qtbot, listed):
    select(listed, "alpha")
    listed._context_menu(listed.table.visualRect(listed.proxy.index(1, 0)).center())
    menu = next(m for m in listed.findChildren(QtWidgets.QMenu) if m.isVisible())
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
        "Open", "Continue", "Rename…", "Delete…", "Compare Selected"]
    menu.close()


def test_open_run_file_and_choose_folder_go_through_their_dialogs(qtbot, view, paths, tmp_path,
                                                                  monkeypatch):
    opened = []
    view.open_requested.connect(opened.append)
    monkeypatch.setattr(dialogs, "ask_run_file", lambda parent, folder: str(paths[1]))
    monkeypatch.setattr(dialogs, "ask_runs_folder", lambda parent, folder: str(paths[0].parent))
    buttons = {b.text(): b for b in view.findChildren(QtWidgets.QPushButton)}
    click(qtbot, buttons["Open Run File…"])
    assert opened == [paths[1]]
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT):
        click(qtbot, buttons["Choose Folder…"])
    assert view.folder == paths[0].parent and sorted(names(view)) == ["alpha", "beta", "gamma"]
    assert view.folder_label.text().startswith("Runs in ")


def test_a_run_written_since_the_listing_is_read_again_or_added(qtbot, listed, paths):
    run = load_run(paths[0])
    run.name = "alpha again"
    save_run(run, paths[0])
    with qtbot.waitSignal(listed.worker.finished, timeout=WAIT):
        listed.run_changed(paths[0])
    run.name = "new one"
    save_run(run, paths[0].with_name("new.ckpt"))
    with qtbot.waitSignal(listed.worker.finished, timeout=WAIT):
        listed.run_changed(paths[0].with_name("new.ckpt"))
    assert sorted(names(listed)) == ["alpha again", "beta", "gamma", "new one"]


def test_columns_fit_their_texts_and_grow_when_a_written_run_no_longer_fits(qtbot, listed,
                                                                           paths):
    header, data = listed.table.horizontalHeader(), column_of("Data")

    def fits(row, column):
        index = listed.proxy.index(row, column)
        return header.sectionSize(column) >= listed.table.sizeHintForIndex(index).width()

    assert all(fits(row, c) for row in range(3) for c in range(1, len(COLUMNS)))
    before = header.sectionSize(data)
    run = load_run(paths[0])
    run.data_name = "a data set with a much longer name than any listed"
    save_run(run, paths[0])
    with qtbot.waitSignal(listed.worker.finished, timeout=WAIT):
        listed.run_changed(paths[0])
    row = names(listed).index("alpha")
    assert header.sectionSize(data) > before and fits(row, data)
    run.data_name = "short"
    save_run(run, paths[0])
    with qtbot.waitSignal(listed.worker.finished, timeout=WAIT):
        listed.run_changed(paths[0])
    assert header.sectionSize(data) > before  # no jitter: a column never shrinks in place


def test_a_refresh_keeps_the_selection(qtbot, listed):
    select(listed, "alpha", "gamma")
    with qtbot.waitSignal(listed.worker.finished, timeout=WAIT):
        listed.refresh()
    assert sorted(r.name for r in listed.selected()) == ["alpha", "gamma"]


@pytest.mark.slow
def test_two_hundred_runs_are_listed_without_blocking_the_window(qtbot, view, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    run = trained_runs()[0]
    for i in range(200):
        save_run(run, folder / f"run{i:03}.ckpt")
    view.set_folder(folder)
    assert view.proxy.rowCount() == 0  # the reading goes on in the background
    with qtbot.waitSignal(view.worker.finished, timeout=WAIT):
        pass
    assert view.proxy.rowCount() == 200 and view.status.text() == "200 runs"


def test_f2_renames_and_the_delete_key_deletes_the_selected_run(qtbot, listed, monkeypatch):
    asked = []
    monkeypatch.setattr(dialogs, "ask_run_name", lambda *a: asked.append("rename"))
    monkeypatch.setattr(dialogs, "ask_delete_run", lambda *a: asked.append("delete"))
    select(listed, "alpha")
    listed.table.activateWindow()
    listed.table.setFocus()
    qtbot.waitUntil(listed.table.hasFocus)
    qtbot.keyClick(listed.table, Qt.Key.Key_F2)
    qtbot.keyClick(listed.table, Qt.Key.Key_Delete)
    assert asked == ["rename", "delete"]
