"""The live inspector: a table of every layer's volume, parameters, memory, multiply-adds,
receptive field, measured time and share of the totals, errors in red, each of the
analysis' suggested fixes one click away, and the notes' hints below.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from designer.advice_bar import AdviceBar
from designer.column_menu import ColumnMenu
from designer.inspector_model import TIMED, InspectorModel
from designer.memory_settings import memory_settings
from designer.timing_store import timing_store
from engine.advice import Hint, design_hints
from engine.shapes import Fix

Qt = QtCore.Qt


class InspectorPanel(QtWidgets.QWidget):
    """Follows the document: refreshed on every edit, selection kept in sync both ways."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.settings = memory_settings(document)
        self.timings = timing_store(document)
        self._syncing = False
        self._fixes: tuple[Fix, ...] = ()
        self._hints: list[Hint] = []

        self.model = InspectorModel(self)
        self.view = QtWidgets.QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.view.horizontalHeader().setHighlightSections(False)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.selectionModel().selectionChanged.connect(self._rows_selected)
        self.columns = ColumnMenu(self.view, "inspector/hidden_columns")

        self.problem = QtWidgets.QLabel()
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fix_buttons: list[QtWidgets.QPushButton] = []  # one per fix shown, best first
        self._buttons = QtWidgets.QHBoxLayout()
        self._buttons.addStretch(1)  # right-aligned when below the text
        self.problem_box = QtWidgets.QFrame()
        self.problem_box.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self._problem_layout = QtWidgets.QBoxLayout(
            QtWidgets.QBoxLayout.Direction.LeftToRight, self.problem_box)
        self._problem_layout.addWidget(self.problem, 1)
        self._problem_layout.addLayout(self._buttons)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.problem_box)
        self.advice = AdviceBar()
        self.advice.measure.clicked.connect(self.measure)
        layout.addWidget(self.advice)

        document.spec_changed.connect(self.refresh)
        document.selection_changed.connect(self._show_selection)
        self.settings.changed.connect(self.refresh)
        self.timings.changed.connect(self.refresh)
        self.refresh()

    # --- document → view ----------------------------------------------------------------
    def refresh(self) -> None:
        reset = self.model.layer_ids != tuple(l.id for l in self.document.spec.layers)
        analysis, timings = self.document.analysis, self.timings.shown(self.document.spec)
        self._hints = design_hints(analysis)
        self._syncing = True
        try:
            changed = self.model.set_analysis(analysis, self.settings.batch_size, self._hints,
                                              timings)
        finally:
            self._syncing = False
        self.advice.show_timings(timings, self.timings.measuring, self.timings.status,
                                 analysis.valid)
        # the time columns are empty until a measurement: they take no room before it
        self.columns.set_unavailable(frozenset() if timings.layers else TIMED)
        if reset:
            self.view.resizeColumnsToContents()
            self._show_selection()
        else:
            self._widen(changed)
            self._show_problem()

    def _widen(self, columns: set[int]) -> None:
        """Grow columns whose new texts no longer fit (never shrink them: no jitter while
        a spin box steps). Measuring texts is far cheaper than asking the view."""
        metrics = self.view.fontMetrics()
        bold = QtGui.QFontMetrics(self.model.bold_font)
        header = self.view.horizontalHeader()
        style = self.style()
        padding = 2 * style.pixelMetric(QtWidgets.QStyle.PixelMetric.PM_FocusFrameHMargin) + 12
        icon = style.pixelMetric(QtWidgets.QStyle.PixelMetric.PM_SmallIconSize) + 6
        last = self.model.rowCount() - 1  # the totals row, in bold
        for column in columns:
            width = max(max((metrics.horizontalAdvance(self.model.cell(r, column))
                             for r in range(last)), default=0),
                        bold.horizontalAdvance(self.model.cell(last, column))) + padding
            if column == 0 and self.model.has_icons():
                width += icon
            width = max(width, header.sectionSizeFromContents(column).width())
            if width > header.sectionSize(column):
                header.resizeSection(column, width)

    def _show_selection(self) -> None:
        ids = self.document.selected_ids
        rows = [i for i, lid in enumerate(self.model.layer_ids) if lid in ids]
        if rows == self._selected_rows():
            self._show_problem()  # already shown; re-selecting would disturb a drag-selection
            return
        selection = QtCore.QItemSelection()
        for row in rows:
            selection.select(self.model.index(row, 0),
                             self.model.index(row, self.model.columnCount() - 1))
        self._syncing = True
        try:
            self.view.selectionModel().select(
                selection, QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect)
        finally:
            self._syncing = False
        if rows:
            self.view.scrollTo(self.model.index(rows[0], 0))
        self._show_problem()

    def _show_problem(self) -> None:
        """The error of the selected layer, else the first error, else the network's
        problem (no loss layer), with a button for each of its fixes."""
        analysis = self.document.analysis
        selected = [analysis.info(i) for i in self.document.selected_ids]
        info = next((i for i in selected if i.error), None) or next(iter(analysis.errors), None)
        if info is not None:
            text, self._fixes = f"{info.layer.name}: {info.error}", info.fixes
        else:
            text, self._fixes = analysis.network_error, analysis.network_fixes
        self.advice.show_hints(self._hints, self.document.selected_ids)
        self.problem_box.setVisible(text is not None)
        self.problem.setText(f"⚠ {text}" if text else "")
        while len(self.fix_buttons) < len(self._fixes):
            button = QtWidgets.QPushButton()
            button.setToolTip("Apply this fix (one undo step)")
            button.clicked.connect(lambda _=False, n=len(self.fix_buttons): self.apply_fix(n))
            self._buttons.addWidget(button)
            self.fix_buttons.append(button)
        for n, button in enumerate(self.fix_buttons):
            button.setVisible(n < len(self._fixes))
            if n < len(self._fixes):
                label = self._fixes[n].text
                button.setText(label[0].upper() + label[1:])
        self._arrange_problem()

    def _arrange_problem(self) -> None:
        """The fix buttons beside the text while they take at most half the width (a
        few "Set S=2"), else below it (long ones), so the text is never squeezed."""
        shown = self.fix_buttons[:len(self._fixes)]
        wide = sum(b.sizeHint().width() for b in shown) > self.width() // 2
        Direction = QtWidgets.QBoxLayout.Direction
        self._problem_layout.setDirection(Direction.TopToBottom if wide else Direction.LeftToRight)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange_problem()

    # --- view → document ----------------------------------------------------------------
    def _rows_selected(self) -> None:
        if self._syncing:
            return
        self.document.select([self.model.layer_ids[r] for r in self._selected_rows()])

    def _selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.view.selectionModel().selectedRows())

    def measure(self) -> None:
        """Time each layer of the network at the memory panel's batch size, in the
        background; while measuring, stop."""
        if self.timings.measuring:
            self.timings.cancel()
        else:
            self.timings.measure(self.document.spec, self.settings.batch_size,
                                 network_file=self.document.path)

    def apply_fix(self, n: int) -> None:
        """Apply the shown problem's `n`th fix as one undo step."""
        self.document.apply_fix(self._fixes[n])
