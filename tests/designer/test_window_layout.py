"""The window's first-start layout at the common screen sizes: the inspector below the canvas
and the properties, every one of its columns in view, the memory panel's chart beside its
numbers where the dock is wide."""

import pytest

from PySide6 import QtCore

from designer.main_window import MainWindow
from engine.resources import network_template

# the two screens the guide names, less a window manager's title bar
SCREENS = [(1366, 738), (1920, 1050)]


@pytest.fixture
def first_start(qtbot):
    """A window sized like a maximised one on a first start (no saved layout)."""
    windows = []

    def make(width, height, template="default"):
        window = MainWindow()
        windows.append(window)
        window.open_template(network_template(template))
        window.resize(width, height)
        window.show()
        qtbot.waitExposed(window)
        # the default dock sizes are applied once the window is laid out: the properties
        # get a third of the width or so, the inspector two fifths of the height
        qtbot.waitUntil(lambda: window.properties_dock.width() >= 360
                        and window.inspector_dock.height() >= 0.35 * height)
        return window

    yield make
    for window in windows:
        window.document.mark_saved()
        window.close()


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("template", ["default", "vgg16"])
def test_the_inspector_shows_every_column_without_scrolling(first_start, qtbot, size, template):
    window = first_start(*size, template)
    view = window.inspector.view
    qtbot.waitUntil(lambda: view.viewport().width() >= view.horizontalHeader().length())
    assert not view.horizontalScrollBar().isVisible()
    assert window.dockWidgetArea(window.inspector_dock) == QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
    # the canvas keeps room for several cards, the properties beside it
    assert window.canvas.height() >= 0.4 * size[1] - 40


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_memory_chart_goes_beside_the_numbers_in_the_wide_dock(first_start, qtbot, size):
    window = first_start(*size)
    window.memory_dock.raise_()
    memory = window.memory
    pages = memory.pages

    def beside():  # the chart's left edge right of the numbers', in the panel's coordinates
        numbers_right = pages.mapTo(memory, QtCore.QPoint(pages.width(), 0)).x()
        return memory.chart_box.isVisible() and memory.chart_box.geometry().left() >= numbers_right

    qtbot.waitUntil(beside)
    # the verdict (fits or not, the largest batch) is in view without scrolling
    verdict = memory.largest_label
    bottom = verdict.mapTo(window.memory_dock, QtCore.QPoint(0, verdict.height()))
    assert bottom.y() <= window.memory_dock.height()


def test_a_narrow_memory_dock_puts_the_chart_below(qtbot):
    from designer.document import NetworkDocument
    from designer.memory_panel import MemoryPanel
    from engine.netfile import load_network

    panel = MemoryPanel(NetworkDocument(load_network(network_template("default"))))
    qtbot.addWidget(panel)
    panel.resize(420, 900)
    panel.show()
    qtbot.waitExposed(panel)
    pages = panel.pages
    qtbot.waitUntil(lambda: panel.chart_box.geometry().top()
                    >= pages.mapTo(panel, QtCore.QPoint(0, pages.height())).y())


def test_a_window_reopened_in_train_mode_gets_its_docks_back_in_design_mode(qtbot):
    """Closed in train mode, reopened (in train mode, before it is shown), then switched
    to design mode: the palette, properties and inspector come back as they were."""
    first = MainWindow()
    first.show()
    qtbot.waitExposed(first)
    shown = {dock.objectName() for dock in first.docks if dock.isVisible()}
    assert shown
    first.set_mode("train")
    first.close()
    again = MainWindow()
    again.show()
    qtbot.waitExposed(again)
    assert again.mode == "train" and not any(dock.isVisible() for dock in again.docks)
    again.set_mode("design")
    assert {dock.objectName() for dock in again.docks if dock.isVisible()} == shown
    again.close()


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_docks_keep_their_sizes_through_train_mode(first_start, qtbot, size):
    window = first_start(*size)
    sizes = {dock.objectName(): dock.size() for dock in window.docks if dock.isVisible()}
    window.set_mode("train")
    qtbot.wait(50)
    window.set_mode("design")
    qtbot.waitUntil(lambda: all(dock.isVisible() for dock in window.docks
                                if dock.objectName() in sizes))
    qtbot.wait(50)
    assert {dock.objectName(): dock.size() for dock in window.docks
            if dock.isVisible()} == sizes


def test_a_long_status_message_ends_in_an_ellipsis_before_the_summary(qtbot):
    window = MainWindow()
    window.resize(1366, 738)
    window.show()
    qtbot.waitExposed(window)
    bar = window.statusBar()
    long = "The learning rate finder " + "went on to 100 steps and more " * 12 + "the end."
    bar.showMessage(long, 5000)
    shown = bar.currentMessage()
    assert shown.endswith("…") and bar.toolTip() == long
    assert bar.fontMetrics().horizontalAdvance(shown) < window.summary.geometry().left()
    bar.showMessage("Saved.", 5000)
    assert bar.currentMessage() == "Saved." and bar.toolTip() == ""
    window.close()


@pytest.mark.parametrize("size", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("template", ["default", "vgg16"])
def test_every_row_of_the_memory_panel_is_in_view_without_scrolling(first_start, qtbot, size,
                                                                     template):
    window = first_start(*size, template)
    window.memory_dock.raise_()
    memory, pages = window.memory, window.memory.pages
    qtbot.waitUntil(lambda: memory.chart_box.isVisible()  # laid out side by side
                    and memory.chart_box.geometry().left()
                    >= pages.mapTo(memory, QtCore.QPoint(pages.width(), 0)).x())
    scroll = window.memory_dock.widget()
    assert scroll.verticalScrollBar().maximum() == 0
    shown = scroll.viewport().rect()
    for widget in (memory.batch_spin, memory.budget_combo, memory.fit_label, memory.use_largest,
                   memory.notes_label, *memory.part_labels.values(), memory.chart):
        assert shown.contains(QtCore.QRect(widget.mapTo(scroll.viewport(), QtCore.QPoint()),
                                           widget.size()))
