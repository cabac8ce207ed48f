"""The Train panel's settings: the data set picker and the form that makes a `TrainConfig`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from engine.backend import DeviceError, get_backend, gpu_available
from engine.commands.data import describe
from engine.data import DataSet, load_data
from engine.errors import ConvNetError
from engine.optim import OPTIMIZERS
from engine.schedules import SCHEDULES
from engine.spec import Volume
from engine.config import NORMALIZATIONS, TrainConfig

EMBEDDED = (("UCI digits (embedded, 8×8×1)", "digits", Volume(8, 8, 1)),
            ("Generated shapes (embedded, 32×32×3)", "shapes", Volume(32, 32, 3)))
VAL_FRACTION, SPLIT_SEED = 0.1, 0   # load_data's defaults, which checkpoints reload with


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


class _Loaded(QtCore.QObject):
    """Carries a data set loaded on a pool thread back to the GUI thread."""

    done = QtCore.Signal(int, object, object)   # ticket, key, DataSet or error sentence


class DataPicker(QtWidgets.QWidget):
    """Choose the data set; it is loaded off the GUI thread and described as `main.py data` does.

    The last loaded set is kept (`data_for`) so Train does not load it again.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.volume: Volume | None = None
        self._cache: tuple[tuple, DataSet] | None = None
        self._ticket = 0
        # Made before `_loaded`: children are deleted in order, so the pool's destructor
        # waits for a load in flight while the object it reports through still exists.
        self._pool = QtCore.QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)
        self._loaded = _Loaded(self)
        self._loaded.done.connect(self._show_loaded)
        self.combo = QtWidgets.QComboBox()
        for title, source, _ in EMBEDDED:
            self.combo.addItem(title, source)
        self.combo.currentIndexChanged.connect(self.refresh)
        self.open_button = QtWidgets.QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("A CIFAR-10/100 or MNIST folder, a folder with one "
                                    "sub-folder of images per class, or an .npz file.")
        self.open_button.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        menu = QtWidgets.QMenu(self.open_button)
        menu.addAction("Folder…", lambda: self.open(ask_data_path(self, folder=True)))
        menu.addAction("NPZ File…", lambda: self.open(ask_data_path(self, folder=False)))
        self.open_button.setMenu(menu)
        self.description = QtWidgets.QPlainTextEdit()
        self.description.setReadOnly(True)
        self.description.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        self.description.setLineWrapMode(QtWidgets.QPlainTextEdit.NoWrap)
        self.description.setMaximumHeight(100)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.open_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.description)

    @property
    def source(self) -> str:
        """What `load_data` takes: "digits", "shapes" or a path."""
        return self.combo.currentData()

    def set_volume(self, volume: Volume | None) -> None:
        """The network's input changed: prefer the embedded set of that size, then reload."""
        if volume == self.volume:
            return
        self.volume = volume
        if self.source in {s for _, s, _ in EMBEDDED}:
            match = next((s for _, s, v in EMBEDDED if v == volume), self.source)
            with QtCore.QSignalBlocker(self.combo):
                self.combo.setCurrentIndex(self.combo.findData(match))
        self.refresh()

    def select(self, source: str | None, data: DataSet | None = None) -> None:
        """Show `source` (adding a path to the list) and keep `data` as its loaded set."""
        source = source or "digits"
        if data is not None:
            self._cache = ((source, data.volume), data)
        index = self.combo.findData(source)
        if index < 0:
            self.combo.addItem(Path(source).name, source)
            index = self.combo.count() - 1
            self.combo.setItemData(index, source, QtCore.Qt.ToolTipRole)
        if index == self.combo.currentIndex():
            self.refresh()
        self.combo.setCurrentIndex(index)

    def open(self, path: str | None) -> None:
        if path:
            self.select(path)

    def data_for(self, volume: Volume | None) -> DataSet | None:
        """The loaded data set for the current source at `volume`, if it is loaded."""
        if self._cache and self._cache[0] == (self.source, volume):
            return self._cache[1]
        return None

    def refresh(self, *_) -> None:
        data = self.data_for(self.volume)
        if data is not None:
            self.description.setPlainText(describe(data, VAL_FRACTION, SPLIT_SEED))
            return
        self._ticket += 1
        ticket, key = self._ticket, (self.source, self.volume)
        self.description.setPlainText("Loading…")
        self._pool.start(lambda: self._load(ticket, key))

    def _load(self, ticket: int, key: tuple) -> None:   # on a pool thread
        try:
            result = load_data(key[0], key[1])
        except ConvNetError as e:
            result = str(e)
        except MemoryError:
            result = "The data set does not fit in memory."
        self._loaded.done.emit(ticket, key, result)

    @QtCore.Slot(int, object, object)
    def _show_loaded(self, ticket: int, key: tuple, result) -> None:
        if ticket != self._ticket:
            return   # the user has picked another set meanwhile
        if isinstance(result, str):
            self.description.setPlainText(result)
            return
        self._cache = (key, result)
        self.description.setPlainText(describe(result, VAL_FRACTION, SPLIT_SEED))


def _spin(minimum, maximum, value, suffix="", decimals=None, tip=""):
    box = QtWidgets.QSpinBox() if decimals is None else QtWidgets.QDoubleSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
        box.setStepType(QtWidgets.QAbstractSpinBox.AdaptiveDecimalStepType)
    box.setRange(minimum, maximum)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box


def _combo(items, value, tip=""):
    box = QtWidgets.QComboBox()
    box.addItems(items)
    box.setCurrentText(value)
    box.setToolTip(tip)
    return box


class TrainSettings(QtWidgets.QWidget):
    """The form: device, optimizer, schedule, batch, epochs, augmentation, seed."""

    def __init__(self, parent=None):
        super().__init__(parent)
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
            "optimizer": _combo(OPTIMIZERS, d.optimizer, "How the gradient updates the weights."),
            "lr": _spin(1e-6, 1e6, d.lr, decimals=6, tip="Learning rate: the step size."),
            "schedule": _combo(SCHEDULES, d.schedule, "How the learning rate changes over epochs."),
            "step_epochs": _spin(1, 10_000, d.step_epochs, " epochs",
                                 tip="Step schedule: epochs between learning-rate drops."),
            "gamma": _spin(0.001, 1.0, d.gamma, decimals=3,
                           tip="Step and exponential schedules: factor per drop or per epoch."),
            "momentum": _spin(0.0, 0.999, d.momentum, decimals=3,
                              tip="Momentum of the momentum, Nesterov and RMSProp updates."),
            "weight_decay": _spin(0.0, 1.0, d.weight_decay, decimals=6,
                                  tip="L2 regularization strength."),
            "batch_size": _spin(1, 65_536, d.batch_size, " images", tip="Images per step."),
            "epochs": _spin(1, 100_000, d.epochs, tip="Passes over the training images."),
            "flip": QtWidgets.QCheckBox("Random horizontal flips"),
            "crop_pad": _spin(0, 64, d.crop_pad, " px",
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
        for name, widget in self.widgets.items():
            form.addRow(labels.get(name, name.capitalize()), widget)
        self.widgets["schedule"].currentTextChanged.connect(self._schedule_changed)
        self._schedule_changed(d.schedule)

    def config(self) -> TrainConfig:
        values = {}
        for f in fields(TrainConfig):
            w = self.widgets[f.name]
            if isinstance(w, QtWidgets.QCheckBox):
                values[f.name] = w.isChecked()
            elif f.name == "device":
                values[f.name] = w.currentData()
            elif isinstance(w, QtWidgets.QComboBox):
                values[f.name] = w.currentText()
            else:
                values[f.name] = w.value()
        return TrainConfig(**values)

    def set_config(self, config: TrainConfig) -> None:
        for f in fields(TrainConfig):
            w, value = self.widgets[f.name], getattr(config, f.name)
            if isinstance(w, QtWidgets.QCheckBox):
                w.setChecked(value)
            elif f.name == "device":
                w.setCurrentIndex(max(w.findData(value), 0))
            elif isinstance(w, QtWidgets.QComboBox):
                w.setCurrentText(value)
            else:
                w.setValue(value)

    def _schedule_changed(self, schedule: str) -> None:
        self.widgets["step_epochs"].setEnabled(schedule == "step")
        self.widgets["gamma"].setEnabled(schedule in ("step", "exponential"))
