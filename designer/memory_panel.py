"""The memory panel: training memory for a batch size and optimizer, split as the notes
split it, checked against a memory budget, and drawn per layer.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from designer.memory_chart import ACTIVATION_COLOUR, PARAMETER_COLOUR, LayerMemoryChart
from designer.memory_settings import CUSTOM, GPU, PRESETS, memory_settings
from engine.config import MAX_BATCH_SIZE
from engine.optim import OPTIMIZERS
from engine.shapes import BYTES_PER_FLOAT, OPTIMIZER_STATE_COPIES, format_bytes

Qt = QtCore.Qt
PARTS = (  # MemoryEstimate field, label, tooltip
    ("input_batch", "Input batch", "The batch of input images"),
    ("activations", "Kept activations",
     "The output volumes kept from the forward to the backward pass, for the whole batch"),
    ("gradients", "Activation gradients",
     "The gradients of the backward pass: two buffers used in turn, each as large as the "
     "largest gradient it holds. In the forward pass they hold the outputs that only the "
     "next layer reads, such as a convolution's feeding a pool"),
    ("parameters", "Parameters", "Weights and biases"),
    ("parameter_gradients", "Parameter gradients", "The gradient of every parameter"),
    ("optimizer_state", "Optimizer state", "The optimizer's cache: momentum, RMSProp or Adam moments"),
    ("workspace", "Workspace",
     "What layers keep from the forward to the backward pass besides their outputs: "
     "im2col matrices, dropout masks, normalised inputs; and one scratch buffer they share"),
    ("last_good", "Last good copy",
     "A copy of the weights and optimizer cache from before the last update, which is put "
     "back if the loss becomes NaN or infinite"),
    ("temporaries", "Temporaries",
     "The largest array that comes and goes during a step: a convolution's filters and "
     "biases as one matrix for its products, or the optimizer's working copies of a piece "
     "of the parameters"),
)
OPTIMIZER_TITLES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov momentum",
                    "rmsprop": "RMSProp", "adam": "Adam"}
FITS_COLOUR, TOO_BIG_COLOUR = QtGui.QColor(40, 160, 70), QtGui.QColor(225, 60, 50)
SIDE_BY_SIDE_WIDTH = 960  # pixels from which the three columns fit side by side


def _swatch(rgb: tuple[int, int, int]) -> str:
    return f"<span style='color: rgb{rgb}'>■</span>"


class MemoryPanel(QtWidgets.QWidget):
    """Batch size, optimizer and budget controls, the memory split and the per-layer chart."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.settings = memory_settings(document)

        self.batch_spin = QtWidgets.QSpinBox()
        self.batch_spin.setRange(1, MAX_BATCH_SIZE)
        self.batch_spin.setKeyboardTracking(False)
        self.batch_spin.setAccelerated(True)
        self.batch_spin.setToolTip("Images per training step")
        self.batch_spin.valueChanged.connect(self.settings.set_batch_size)
        self.optimizer_combo = QtWidgets.QComboBox()
        for key in OPTIMIZERS:
            copies = OPTIMIZER_STATE_COPIES[key]
            self.optimizer_combo.addItem(OPTIMIZER_TITLES[key], key)
            self.optimizer_combo.setItemData(
                self.optimizer_combo.count() - 1,
                f"keeps {copies} extra cop{'y' if copies == 1 else 'ies'} of the parameters",
                Qt.ItemDataRole.ToolTipRole)
        self.optimizer_combo.currentIndexChanged.connect(
            lambda i: self.settings.set_optimizer(self.optimizer_combo.itemData(i)))
        self.budget_combo = QtWidgets.QComboBox()
        for key in PRESETS:
            self.budget_combo.addItem(f"{key} GiB", key)
        self.budget_combo.addItem("Custom", CUSTOM)
        self.budget_combo.addItem("GPU free memory", GPU)
        self.budget_combo.currentIndexChanged.connect(
            lambda i: self.settings.set_budget(self.budget_combo.itemData(i)))
        self.custom_spin = QtWidgets.QDoubleSpinBox()
        self.custom_spin.setRange(0.1, 4096)
        self.custom_spin.setDecimals(1)
        self.custom_spin.setSuffix(" GiB")
        self.custom_spin.setKeyboardTracking(False)
        self.custom_spin.valueChanged.connect(self.settings.set_custom_gib)
        budget_row = QtWidgets.QHBoxLayout()
        budget_row.addWidget(self.budget_combo, 1)
        budget_row.addWidget(self.custom_spin)

        controls = QtWidgets.QFormLayout()
        controls.addRow("Batch size", self.batch_spin)
        controls.addRow("Optimizer", self.optimizer_combo)
        controls.addRow("Budget", budget_row)

        self.part_labels: dict[str, QtWidgets.QLabel] = {}
        split = QtWidgets.QGridLayout()
        split.setColumnStretch(0, 1)
        for row, (key, title, tip) in enumerate((*PARTS, ("total", "Total", "Memory for one training step"))):
            tip = f"<p>{tip}</p>"  # rich text, which a tooltip wraps
            name, value = QtWidgets.QLabel(title, toolTip=tip), QtWidgets.QLabel(toolTip=tip)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if key == "total":
                for label in (name, value):
                    font = label.font()
                    font.setBold(True)
                    label.setFont(font)
            split.addWidget(name, row, 0)
            split.addWidget(value, row, 1)
            self.part_labels[key] = value

        self.notes_label = QtWidgets.QLabel(toolTip=(
            "The course notes' rule of thumb: add up all volumes, times 4 bytes, times 2 for "
            "the gradients, plus the parameters (with their gradients and the optimizer "
            "cache). This engine also keeps workspace such as im2col matrices and frees "
            "activation gradients as the backward pass goes."))
        self.notes_label.setWordWrap(True)
        self.fit_label = QtWidgets.QLabel()
        self.fit_label.setWordWrap(True)
        self.largest_label = QtWidgets.QLabel()
        self.largest_label.setWordWrap(True)
        self.use_largest = QtWidgets.QPushButton()
        self.use_largest.setToolTip("Set the batch size to the largest that fits the budget")
        self.use_largest.clicked.connect(lambda: self.settings.set_batch_size(self.largest_batch))
        largest_row = QtWidgets.QHBoxLayout()
        largest_row.addWidget(self.largest_label, 1)
        largest_row.addWidget(self.use_largest)

        self.chart = LayerMemoryChart()
        self.log_check = QtWidgets.QCheckBox("Log scale")
        self.log_check.setToolTip("Show both series over orders of magnitude")
        self.log_check.setChecked(self.chart.log_scale)
        self.log_check.toggled.connect(self.chart.set_log_scale)
        self.legend = QtWidgets.QLabel()
        chart_row = QtWidgets.QHBoxLayout()
        chart_row.addWidget(self.legend, 1)
        chart_row.addWidget(self.log_check)

        numbers = QtWidgets.QWidget()
        numbers_layout = QtWidgets.QVBoxLayout(numbers)
        numbers_layout.setContentsMargins(0, 0, 0, 0)
        # the verdict first, where a short dock still shows it
        numbers_layout.addWidget(self.fit_label)
        numbers_layout.addLayout(largest_row)
        numbers_layout.addWidget(self.notes_label)
        numbers_layout.addStretch(1)
        self.invalid_label = QtWidgets.QLabel()
        self.invalid_label.setWordWrap(True)
        self.invalid_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(numbers)
        self.pages.addWidget(self.invalid_label)
        summary = QtWidgets.QWidget()
        summary_layout = QtWidgets.QVBoxLayout(summary)
        summary_layout.setContentsMargins(0, 0, 0, 0)
        summary_layout.addLayout(controls)
        summary_layout.addWidget(self.pages, 1)
        self.split_box = QtWidgets.QWidget()
        split_layout = QtWidgets.QVBoxLayout(self.split_box)
        split_layout.setContentsMargins(0, 0, 0, 0)
        split_layout.addLayout(split)
        split_layout.addStretch(1)
        self.chart_box = QtWidgets.QWidget()
        chart_layout = QtWidgets.QVBoxLayout(self.chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addLayout(chart_row)
        chart_layout.addWidget(self.chart, 1)

        # Three columns in a wide dock (the settings and the verdict, the split, the chart),
        # so that the dock below the canvas shows every row at 1366×768 without scrolling;
        # in a narrow dock the same, top to bottom.
        self._layout = QtWidgets.QBoxLayout(QtWidgets.QBoxLayout.Direction.TopToBottom, self)
        self._layout.addWidget(summary, 2)
        self._layout.addWidget(self.split_box)
        self._layout.addWidget(self.chart_box, 3)

        self.largest_batch = 0
        document.spec_changed.connect(self.refresh)
        self.settings.changed.connect(self.refresh)
        self.refresh()

    # --- the settings, for other views --------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    @property
    def optimizer(self) -> str:
        return self.settings.optimizer

    @property
    def budget_bytes(self) -> int:
        return self.settings.budget_bytes

    # --- document and settings → widgets ------------------------------------------------
    def refresh(self) -> None:
        self._show_settings()
        analysis = self.document.analysis
        if not analysis.valid:
            first = analysis.network_error or analysis.errors[0].error
            self.invalid_label.setText(
                "The network has an error, so its memory cannot be computed yet. "
                f"Fix it in the inspector first:\n\n{first}")
            self.pages.setCurrentWidget(self.invalid_label)
            self.split_box.hide()
            self.chart_box.hide()
            return
        self.pages.setCurrentIndex(0)
        self.split_box.show()
        self.chart_box.show()
        s = self.settings
        memory = analysis.memory(s.batch_size, s.optimizer)
        for key, _, _ in PARTS:
            part = getattr(memory, key)
            self.part_labels[key].setText(
                f"{format_bytes(part)}  ({100 * part / memory.total:.0f} %)")
        self.part_labels["total"].setText(format_bytes(memory.total))
        self.notes_label.setText("The notes' rule of thumb gives "
                                 f"{format_bytes(analysis.notes_rule_bytes(s.batch_size, s.optimizer))}.")
        budget = s.budget_bytes
        fits = memory.total <= budget
        verb = "fits in" if fits else "does not fit in"
        self.fit_label.setText(f"{'✓' if fits else '✗'} A batch of {s.batch_size} needs "
                               f"{format_bytes(memory.total)}: it {verb} the "
                               f"{format_bytes(budget).replace('.0 ', ' ')} budget.")
        self._colour(self.fit_label, FITS_COLOUR if fits else TOO_BIG_COLOUR)
        self.largest_batch = min(analysis.largest_batch(budget, s.optimizer), MAX_BATCH_SIZE)
        if self.largest_batch:
            self.largest_label.setText(f"Largest batch that fits: {self.largest_batch:,}")
        else:
            self.largest_label.setText("Not even one image fits in this budget.")
        self.use_largest.setText(f"Use {self.largest_batch:,}")
        self.use_largest.setEnabled(0 < self.largest_batch != s.batch_size)
        self.legend.setText(f"{_swatch(ACTIVATION_COLOUR)} Activations, batch of {s.batch_size}"
                            f"&nbsp;&nbsp;{_swatch(PARAMETER_COLOUR)} Parameters")
        shown = [i for i in analysis.layers if i.allocated or i.params]
        self.chart.set_layers(
            [i.layer.name for i in shown],
            [i.allocated * BYTES_PER_FLOAT * s.batch_size for i in shown],
            [i.params * BYTES_PER_FLOAT for i in shown])

    def _show_settings(self) -> None:
        s = self.settings
        for widget, update in (
                (self.batch_spin, lambda: self.batch_spin.setValue(s.batch_size)),
                (self.optimizer_combo, lambda: self.optimizer_combo.setCurrentIndex(
                    self.optimizer_combo.findData(s.optimizer))),
                (self.budget_combo, self._show_budget),
                (self.custom_spin, lambda: self.custom_spin.setValue(s.custom_gib))):
            with QtCore.QSignalBlocker(widget):
                update()
        self.custom_spin.setVisible(s.budget == CUSTOM)

    def _show_budget(self) -> None:
        s = self.settings
        gpu = self.budget_combo.findData(GPU)
        item = self.budget_combo.model().item(gpu)
        if s.gpu_free is None:
            item.setEnabled(False)
            item.setText("GPU free memory (no GPU)")
            item.setToolTip(s.gpu_reason)
        else:
            item.setEnabled(True)
            item.setText(f"GPU free memory ({format_bytes(s.gpu_free)})")
            item.setToolTip("What CuPy reports as free on the GPU right now")
        self.budget_combo.setCurrentIndex(self.budget_combo.findData(s.budget))

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        Direction = QtWidgets.QBoxLayout.Direction
        wide = event.size().width() >= SIDE_BY_SIDE_WIDTH
        self._layout.setDirection(Direction.LeftToRight if wide else Direction.TopToBottom)

    @staticmethod
    def _colour(label: QtWidgets.QLabel, colour: QtGui.QColor) -> None:
        palette = label.palette()
        palette.setColor(QtGui.QPalette.ColorRole.WindowText, colour)
        label.setPalette(palette)
