"""The Train workspace's settings: the data set picker and the form that makes a `TrainConfig`.

The batch size and the optimizer are the document's memory settings (`memory_settings`):
the Memory panel and this form show and change the same two values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from designer.background import Worker
from designer.memory_panel import OPTIMIZER_TITLES
from designer.memory_settings import MemorySettings
from designer.training.batch_hint import BatchHintView
from engine.backend import DeviceError, get_backend, gpu_available
from engine.commands.data import describe
from engine.config import MAX_BATCH_SIZE, MAX_CROP_PAD, MAX_EPOCHS, NORMALIZATIONS, TrainConfig
from engine.data import EMBEDDED, DataSet, load_data
from engine.data.load import SPLIT_SEED, VAL_FRACTION
from engine.optim import OPTIMIZERS
from engine.schedules import SCHEDULES
from engine.spec import Volume
from engine.task import TaskState


def ask_data_path(parent, folder: bool) -> str | None:
    """A data set folder (CIFAR, MNIST, image folder) or an .npz file chosen by the user."""
    if folder:
        path = QtWidgets.QFileDialog.getExistingDirectory(parent, "Open Data Set Folder")
    else:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open Data Set File", "",
                                                        "NumPy archives (*.npz)")
    return path or None


def gpu_unavailable_reason() -> str | None:
    """Why training on the GPU is impossible here (one sentence), or None when it is possible."""
    if gpu_available():
        return None
    try:
        get_backend("gpu")
    except DeviceError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class DataInfo:
    """What is known of the chosen data set before training loads it."""

    title: str
    volume: Volume
    class_count: int
    train_count: int  # after the validation split


@dataclass(frozen=True)
class _Described:
    key: tuple
    data: DataSet


def _load(state: TaskState, source: str, volume: Volume | None) -> _Described:
    return _Described((source, volume), load_data(source, volume))


class DataPicker(QtWidgets.QWidget):
    """Choose the data set. The embedded sets are described without loading them; a set on
    disk is loaded (off the GUI thread) when the user chooses it, to describe it, and kept
    for Train. Nothing is loaded for a network that is merely opened."""

    changed = QtCore.Signal()  # the source, its description or its loaded data changed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.volume: Volume | None = None
        self._loaded: _Described | None = None
        self._problem = ""
        self.worker = Worker(self)
        self.worker.finished.connect(self._on_loaded)
        self.worker.failed.connect(self._on_failed)
        self.combo = QtWidgets.QComboBox()
        for source, embedded in EMBEDDED.items():
            self.combo.addItem(f"{embedded.title}, {embedded.volume}", source)
        self.combo.currentIndexChanged.connect(self._source_changed)
        # Long names (a data set's path) must not widen the column: the popup shows them whole.
        self.combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.open_button = QtWidgets.QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("A CIFAR-10/100 or MNIST folder, a folder with one "
                                    "sub-folder of images per class, or an .npz file.")
        self.open_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(self.open_button)
        menu.addAction("Folder…", lambda: self.open(ask_data_path(self, folder=True)))
        menu.addAction("NPZ File…", lambda: self.open(ask_data_path(self, folder=False)))
        self.open_button.setMenu(menu)
        self.description = QtWidgets.QLabel()
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.open_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.description)
        self._describe()

    @property
    def source(self) -> str:
        """What `load_data` takes: "digits", "shapes" or a path."""
        return self.combo.currentData()

    def set_volume(self, volume: Volume | None) -> None:
        """The network's input changed: prefer the embedded set of that size."""
        if volume == self.volume:
            return
        self.volume = volume
        if self.source in EMBEDDED and volume is not None:
            match = next((s for s, e in EMBEDDED.items() if e.volume == volume), None) or next(
                (s for s, e in EMBEDDED.items() if e.volume.depth == volume.depth), self.source)
            with QtCore.QSignalBlocker(self.combo):
                self.combo.setCurrentIndex(self.combo.findData(match))
        self._describe()

    def select(self, source: str | None, data: DataSet | None = None) -> None:
        """Show `source` (adding a path to the list) and keep `data` as its loaded set."""
        source = source or "digits"
        if data is not None:
            self._loaded = _Described((source, data.volume), data)
        index = self.combo.findData(source)
        if index < 0:
            self.combo.addItem(Path(source).name, source)
            index = self.combo.count() - 1
            self.combo.setItemData(index, source, QtCore.Qt.ItemDataRole.ToolTipRole)
        with QtCore.QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(index)
        self._source_changed()

    def open(self, path: str | None) -> None:
        if path:
            self.select(path)

    def data_for(self, volume: Volume | None) -> DataSet | None:
        """The loaded data set for the current source at `volume`, if it is loaded."""
        if self._loaded and self._loaded.key == (self.source, volume):
            return self._loaded.data
        return None

    def info(self) -> DataInfo | None:
        """Title, image size, classes and training images of the chosen set, if known."""
        if self.source in EMBEDDED:
            e = EMBEDDED[self.source]
            train = e.train_count - round(e.train_count * VAL_FRACTION)
            return DataInfo(e.title, e.volume, len(e.class_names), train)
        data = self.data_for(self.volume)
        if data is None:
            return None
        return DataInfo(data.name, data.volume, len(data.class_names), len(data.train_x))

    def _source_changed(self, *_) -> None:
        self._problem = ""
        if self.source not in EMBEDDED and self.data_for(self.volume) is None:
            self.worker.forget()   # a set chosen before this one no longer matters
            self.worker.submit(_load, self.source, self.volume)
        self._describe()

    def _describe(self) -> None:
        data = self.data_for(self.volume)
        self.description.setToolTip(describe(data, VAL_FRACTION, SPLIT_SEED) if data else "")
        if data is not None:
            test = f", {len(data.test_x):,} test images" if data.test_x is not None else ""
            text = (f"{data.name}: {len(data.train_x):,} training and {len(data.val_x):,} "
                    f"validation images{test} of {data.volume}, {len(data.class_names)} "
                    "classes." + "".join(f" {note[0].upper()}{note[1:]}." for note in data.notes))
        elif self.source in EMBEDDED:
            e = EMBEDDED[self.source]
            test = f", {e.test_count:,} test images" if e.test_count else ""
            text = (f"{e.title}: {e.train_count:,} training images{test} of {e.volume}, "
                    f"{len(e.class_names)} classes; {VAL_FRACTION:.0%} of the training images "
                    "are kept for validation. Loaded when training starts.")
        elif self._problem:
            text = self._problem
        else:
            text = f"Loading {Path(self.source).name}…"
        self.description.setText(text)
        self.changed.emit()

    def _on_loaded(self, described: _Described | None) -> None:
        if described is not None:
            self._loaded = described
            self._describe()

    def _on_failed(self, sentence: str) -> None:
        self._problem = sentence
        self._describe()


def _spin(minimum, maximum, value, suffix="", decimals=None, tip=""):
    box = QtWidgets.QSpinBox() if decimals is None else QtWidgets.QDoubleSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
        box.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    box.setRange(minimum, maximum)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box


def _combo(items, value, tip="", titles=None):
    box = QtWidgets.QComboBox()
    for item in items:
        box.addItem((titles or {}).get(item, item), item)
    box.setCurrentIndex(box.findData(value))
    box.setToolTip(tip)
    return box


class TrainSettings(QtWidgets.QWidget):
    """The form: device, optimizer, schedule, batch, epochs, augmentation, seed."""

    def __init__(self, memory: MemorySettings, parent=None):
        super().__init__(parent)
        self.memory = memory
        d = TrainConfig()
        self.device = QtWidgets.QComboBox()
        self.device.addItem("CPU (NumPy)", "cpu")
        self.device.addItem("GPU (CuPy)", "gpu")
        reason = gpu_unavailable_reason()
        if reason:
            item = self.device.model().item(1)
            item.setEnabled(False)
            item.setToolTip(reason)
        self.widgets: dict[str, QtWidgets.QWidget] = {
            "device": self.device,
            "optimizer": _combo(OPTIMIZERS, memory.optimizer,
                                "How the gradient updates the weights (shared with the "
                                "Memory panel).", OPTIMIZER_TITLES),
            "lr": _spin(1e-6, 1e6, d.lr, decimals=6, tip="Learning rate: the step size."),
            "schedule": _combo(SCHEDULES, d.schedule, "How the learning rate changes over epochs."),
            "step_epochs": _spin(1, MAX_EPOCHS, d.step_epochs, " epochs",
                                 tip="Step schedule: epochs between learning-rate drops."),
            "gamma": _spin(0.001, 1.0, d.gamma, decimals=3,
                           tip="Step and exponential schedules: factor per drop or per epoch."),
            "momentum": _spin(0.0, 0.999, d.momentum, decimals=3,
                              tip="Momentum of the momentum and Nesterov updates."),
            "weight_decay": _spin(0.0, 1.0, d.weight_decay, decimals=6,
                                  tip="L2 regularization strength."),
            "batch_size": _spin(1, MAX_BATCH_SIZE, memory.batch_size, " images",
                                tip="Images per step (shared with the Memory panel)."),
            "epochs": _spin(1, MAX_EPOCHS, d.epochs, tip="Train until this many epochs are done."),
            "flip": QtWidgets.QCheckBox("Random horizontal flips"),
            "crop_pad": _spin(0, MAX_CROP_PAD, d.crop_pad, " px",
                              tip="Random crops: pad by this much, then cut back (0: off)."),
            "normalization": _combo(NORMALIZATIONS, d.normalization,
                                    "Mean subtraction per channel, or of the mean image."),
            "seed": _spin(0, 2**31 - 1, d.seed, tip="Seed of weights, shuffling and augmentation."),
        }
        labels = {"lr": "Learning rate", "step_epochs": "Step every", "gamma": "Gamma",
                  "weight_decay": "Weight decay", "batch_size": "Batch size",
                  "crop_pad": "Crop padding", "flip": "Augmentation"}
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, widget in self.widgets.items():
            form.addRow(labels.get(name, name.capitalize()), widget)
            if name == "batch_size":
                self.batch_hint = BatchHintView(self.widgets["lr"], memory)
                form.addRow(self.batch_hint)
        self.widgets["schedule"].currentIndexChanged.connect(self._schedule_changed)
        self._schedule_changed()
        self.widgets["batch_size"].valueChanged.connect(memory.set_batch_size)
        self.widgets["optimizer"].currentIndexChanged.connect(
            lambda _: memory.set_optimizer(self.widgets["optimizer"].currentData()))
        memory.changed.connect(self._follow_memory)

    def add_beside(self, name: str, widget: QtWidgets.QWidget) -> None:
        """Show `widget` beside the field `name` (e.g. a button that fills it in)."""
        form = self.layout()
        row, _ = form.getWidgetPosition(self.widgets[name])
        taken = form.takeRow(row)
        pair = QtWidgets.QWidget()
        line = QtWidgets.QHBoxLayout(pair)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(taken.fieldItem.widget(), 1)
        line.addWidget(widget)
        form.insertRow(row, taken.labelItem.widget(), pair)

    def config(self) -> TrainConfig:
        values = {}
        for f in fields(TrainConfig):
            w = self.widgets[f.name]
            if isinstance(w, QtWidgets.QCheckBox):
                values[f.name] = w.isChecked()
            elif isinstance(w, QtWidgets.QComboBox):
                values[f.name] = w.currentData()
            else:
                values[f.name] = w.value()
        return TrainConfig(**values)

    def set_config(self, config: TrainConfig) -> None:
        for f in fields(TrainConfig):
            w, value = self.widgets[f.name], getattr(config, f.name)
            if isinstance(w, QtWidgets.QCheckBox):
                w.setChecked(value)
            elif isinstance(w, QtWidgets.QComboBox):
                w.setCurrentIndex(max(w.findData(value), 0))
            else:
                w.setValue(value)
        self.batch_hint.reset()  # the run's learning rate was set for its batch size

    def _follow_memory(self) -> None:
        for name, value in (("batch_size", self.memory.batch_size),
                            ("optimizer", self.memory.optimizer)):
            w = self.widgets[name]
            with QtCore.QSignalBlocker(w):
                if isinstance(w, QtWidgets.QComboBox):
                    w.setCurrentIndex(w.findData(value))
                else:
                    w.setValue(value)

    def _schedule_changed(self, *_) -> None:
        schedule = self.widgets["schedule"].currentData()
        self.widgets["step_epochs"].setEnabled(schedule == "step")
        self.widgets["gamma"].setEnabled(schedule in ("step", "exponential"))
