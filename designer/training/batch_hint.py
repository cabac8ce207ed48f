"""The notes' "smaller batch sizes likely need smaller learning rates", said gently under the
training settings when the batch size goes down without the learning rate, with the rate
scaled to the new batch size one click away."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from designer.advice_bar import HINT_STYLE
from designer.memory_settings import MemorySettings
from engine.advice import batch_size_hint


class BatchHintView(QtWidgets.QFrame):
    """Hidden until the batch size is smaller than the one the learning rate was last set
    for (by hand, or by the run shown); setting the learning rate hides it."""

    def __init__(self, lr: QtWidgets.QDoubleSpinBox, memory: MemorySettings, parent=None):
        super().__init__(parent)
        self.setObjectName("hints")
        self.setStyleSheet(HINT_STYLE)
        self.lr, self.memory = lr, memory
        self.text = QtWidgets.QLabel()
        self.text.setWordWrap(True)
        self.use = QtWidgets.QPushButton()
        self.use.setToolTip("Set the learning rate scaled linearly with the batch size.")
        self.use.clicked.connect(lambda: self.lr.setValue(self._suggested))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.text)
        layout.addWidget(self.use, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        self._suggested = 0.0
        self.reset()
        lr.valueChanged.connect(self.reset)
        memory.changed.connect(self._update)

    def reset(self) -> None:
        """The learning rate is now set for the batch size as it is."""
        self._set_for = (self.memory.batch_size, self.lr.value())
        self._update()

    def _update(self) -> None:
        batch, lr = self._set_for
        hint = batch_size_hint(batch, self.memory.batch_size, lr, self.lr.value())
        appears = hint is not None and self.isHidden()
        self.setHidden(hint is None)
        if hint is not None:
            self._suggested = hint.suggested_lr
            self.text.setText(f"ℹ {hint.text}")
            self.use.setText(f"Use {hint.suggested_lr:.3g}")
        if appears:  # below the batch size, often under the fold of the settings' scroll area
            QtCore.QTimer.singleShot(0, self._bring_into_view)

    def _bring_into_view(self) -> None:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QtWidgets.QScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            parent.ensureWidgetVisible(self)
