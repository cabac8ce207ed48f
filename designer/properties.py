"""The properties editor: name and hyperparameters of the selected layer.

Values always come from the document: the widgets are refreshed from it on every
change (signals blocked), and every user change goes back through one document
edit, so the spec stays the only state.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from designer.param_editors import make_editor
from engine.spec import LayerSpec


class PropertiesPanel(QtWidgets.QWidget):
    """Edits the one selected layer; shows a hint when none or several are selected."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self._shown: tuple[str, str] | None = None  # (layer id, type) the editors are built for
        self.editors: dict[str, QtWidgets.QWidget] = {}

        self.title = QtWidgets.QLabel()
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.volumes = QtWidgets.QLabel()
        self.volumes.setWordWrap(True)
        self.description = QtWidgets.QLabel()
        self.description.setWordWrap(True)
        self.description.setForegroundRole(self.description.palette().ColorRole.PlaceholderText)
        self.hint = QtWidgets.QLabel()
        self.hint.setWordWrap(True)
        self.hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.hint.setForegroundRole(self.hint.palette().ColorRole.PlaceholderText)

        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setToolTip("The layer's name, shown on its card and in the inspector")
        self.name_edit.editingFinished.connect(self._rename)
        self.form = QtWidgets.QFormLayout()
        self.form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Name", self.name_edit)

        self.details = QtWidgets.QWidget()
        details = QtWidgets.QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(self.title)
        details.addWidget(self.volumes)
        details.addLayout(self.form)  # above the description: in a short dock it stays in view
        details.addWidget(self.description)
        details.addStretch(1)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.details)
        layout.addWidget(self.hint)
        self.setMinimumWidth(220)

        document.spec_changed.connect(self.refresh)
        document.selection_changed.connect(self.refresh)
        self.refresh()

    @property
    def layer_id(self) -> str | None:
        return self._shown[0] if self._shown else None

    def refresh(self) -> None:
        ids = self.document.selected_ids
        if len(ids) != 1:
            self._shown = None
            self.details.hide()
            self.hint.setText("Select a layer to edit its hyperparameters." if not ids else
                              f"{len(ids)} layers are selected; select one to edit it.")
            self.hint.show()
            return
        layer = self.document.spec.layer(ids[0])
        if self._shown != (layer.id, layer.type):
            self._build(layer)
        self._show(layer)
        self.hint.hide()
        self.details.show()

    def _build(self, layer: LayerSpec) -> None:
        while self.form.rowCount() > 1:  # row 0 is the name field
            self.form.removeRow(self.form.rowCount() - 1)
        self.editors = {}
        for param in layer.kind.params:
            editor = make_editor(param)
            editor.edited.connect(lambda value, name=param.name, kind=param.kind:
                                  self._set_param(name, kind(value)))
            label = QtWidgets.QLabel(param.label, toolTip=editor.toolTip())
            self.form.addRow(label, editor)
            self.editors[param.name] = editor
        self.description.setText(layer.kind.description + (
            "" if layer.kind.params else " It has no hyperparameters."))
        self._shown = (layer.id, layer.type)

    def _show(self, layer: LayerSpec) -> None:
        self.title.setText(f"{layer.name} — {layer.kind.title}")
        info = self.document.analysis.info(layer.id)
        if info.error:
            self.volumes.setText(f"⚠ {info.error}")
        elif info.output is None:
            self.volumes.setText("Output: unknown until the error above it is fixed")
        else:
            self.volumes.setText(f"{info.input} → {info.output}" if info.input else
                                 f"Output: {info.output}")
        with QtCore.QSignalBlocker(self.name_edit):
            if self.name_edit.text() != layer.name:
                self.name_edit.setText(layer.name)
        for name, editor in self.editors.items():
            editor.show_value(layer.params[name])

    def _set_param(self, name: str, value) -> None:
        if self.layer_id is not None:
            self.document.set_params(self.layer_id, **{name: value})

    def _rename(self) -> None:
        if self.layer_id is None:
            return
        name = self.name_edit.text().strip()
        if name and name != self.document.spec.layer(self.layer_id).name:
            self.document.rename_layer(self.layer_id, name)
        self.refresh()  # the name the layer has: an empty or a taken one is not kept
