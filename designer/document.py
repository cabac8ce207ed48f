"""The open network: its spec, analysis, selection, file path and undo stack.

Views never change the spec themselves: they call the edit methods here, each of
which pushes one `SpecEdit` onto the undo stack.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6 import QtCore, QtGui

from engine.bounded import has_controls
from engine.netfile import MAX_LAYERS
from engine.shapes import Analysis, Fix, analyse
from engine.spec import LOSS_TYPES, LayerSpec, NetworkSpec, make_layer, new_id


class SpecEdit(QtGui.QUndoCommand):
    """One edit of the network: the spec before and after, and a readable text.

    Consecutive edits with the same `merge_key` (e.g. spin-box steps on one field)
    merge into one undo step.
    """

    _ids: dict[str, int] = {}

    def __init__(self, document: "NetworkDocument", after: NetworkSpec, text: str,
                 merge_key: str | None = None):
        super().__init__(text)
        self.document = document
        self.before = document.spec
        self.after = after
        self.merge_key = merge_key

    def id(self) -> int:
        if self.merge_key is None:
            return -1
        return self._ids.setdefault(self.merge_key, len(self._ids) + 1)

    def mergeWith(self, other: QtGui.QUndoCommand) -> bool:
        if not isinstance(other, SpecEdit) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        self.setText(other.text())  # names the value applied now, not the first step's
        self.setObsolete(self.after == self.before)
        return True

    def redo(self) -> None:
        self.document._set_spec(self.after)

    def undo(self) -> None:
        self.document._set_spec(self.before)


class NetworkDocument(QtCore.QObject):
    """A network being edited; emits `spec_changed` after every change, undo included.

    A run trains its own copy of the network (`engine.run.Run.spec`), so editing goes on
    while it trains."""

    spec_changed = QtCore.Signal()
    selection_changed = QtCore.Signal()
    path_changed = QtCore.Signal()
    replaced = QtCore.Signal()  # another network is shown: not an edit of the one before
    dirty_changed = QtCore.Signal(bool)
    edit_refused = QtCore.Signal(str)  # why an edit was not done, in one sentence

    def __init__(self, spec: NetworkSpec, path: str | Path | None = None, parent=None):
        super().__init__(parent)
        self._spec = spec
        self._analysis = analyse(spec)
        self._path = Path(path) if path else None
        self._selected: tuple[str, ...] = ()
        self.undo_stack = QtGui.QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    # --- state -------------------------------------------------------------------------
    @property
    def spec(self) -> NetworkSpec:
        return self._spec

    @property
    def analysis(self) -> Analysis:
        return self._analysis

    @property
    def path(self) -> Path | None:
        return self._path

    def set_path(self, path: str | Path | None) -> None:
        self._path = Path(path) if path else None
        self.path_changed.emit()

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def _clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean)

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def reset(self, spec: NetworkSpec, path: str | Path | None, dirty: bool = False) -> None:
        """Show another network (a file just opened): a fresh undo history, nothing selected.

        `dirty=True` (a recovered copy) keeps it modified until it is saved.
        """
        self.undo_stack.clear()
        self._selected = ()
        self._set_spec(spec)
        self.replaced.emit()
        self.set_path(path)
        if dirty:
            self.undo_stack.resetClean()
        self.selection_changed.emit()

    @property
    def selected_ids(self) -> tuple[str, ...]:
        return self._selected

    def select(self, layer_ids) -> None:
        ids = tuple(i for i in layer_ids if any(l.id == i for l in self._spec.layers))
        if ids != self._selected:
            self._selected = ids
            self.selection_changed.emit()

    def _set_spec(self, spec: NetworkSpec) -> None:
        # Selection is pruned before spec_changed, so no slot sees an id that is gone.
        ids = {l.id for l in spec.layers}
        kept = tuple(i for i in self._selected if i in ids)
        self._spec = spec
        self._analysis = analyse(spec)
        selection_changed, self._selected = kept != self._selected, kept
        self.spec_changed.emit()
        if selection_changed:
            self.selection_changed.emit()

    # --- edits: each is one undo step ---------------------------------------------------
    def edit(self, after: NetworkSpec, text: str, merge_key: str | None = None) -> None:
        if after != self._spec:
            self.undo_stack.push(SpecEdit(self, after, text, merge_key))

    def insert_layers(self, index: int, layers: list[LayerSpec], text: str | None = None) -> None:
        if len(self._spec.layers) + len(layers) > MAX_LAYERS:  # its file could not be opened
            self.edit_refused.emit(f"Not added: a network holds at most {MAX_LAYERS:,} layers.")
            return
        names = ", ".join(l.name for l in layers)
        self.edit(self._spec.inserted(index, layers), text or f"Insert {names}")
        self.select([l.id for l in layers])

    def default_insert_index(self) -> int:
        """Where a new layer goes by default: at the end, but above a final loss layer."""
        layers = self._spec.layers
        return len(layers) - 1 if layers and layers[-1].type in LOSS_TYPES else len(layers)

    def add_layer(self, type_key: str, index: int | None = None) -> None:
        """A new layer of a catalogue type with its defaults and a fresh name like conv3."""
        layer = make_layer(type_key, self._spec.unique_name(type_key.replace("_", "")))
        at = self.default_insert_index() if index is None else index
        self.insert_layers(at, [layer], f"Add {layer.kind.title} {layer.name}")

    def paste_layers(self, index: int, layers: list[LayerSpec], text: str = "Paste") -> None:
        """Insert copies of `layers` with fresh ids and names no other layer has."""
        copies = fresh_copies(self._spec, layers)
        if copies:
            self.insert_layers(index, copies, f"{text} {', '.join(l.name for l in copies)}")

    def duplicate_layers(self, layer_ids) -> None:
        ids = set(layer_ids)
        originals = [l for l in self._spec.layers if l.id in ids]
        if originals:
            after = max(self._spec.index_of(l.id) for l in originals) + 1
            self.paste_layers(after, originals, "Duplicate")

    def remove_layers(self, layer_ids) -> None:
        ids = list(layer_ids)
        names = ", ".join(self._spec.layer(i).name for i in ids)
        self.edit(self._spec.removed(ids), f"Delete {names}")

    def move_layers(self, layer_ids, index: int) -> None:
        ids = list(layer_ids)
        names = ", ".join(self._spec.layer(i).name for i in ids)
        self.edit(self._spec.moved(ids, index), f"Move {names}")

    def set_params(self, layer_id: str, **params) -> None:
        layer = self._spec.layer(layer_id)
        fields = ", ".join(f"{k}={v}" for k, v in params.items())
        self.edit(self._spec.replaced(layer.with_params(**params)),
                  f"Set {layer.name} {fields}", merge_key=f"{layer_id}:{','.join(params)}")

    def rename_layer(self, layer_id: str, name: str) -> None:
        """Names are unique (exports use them as identifiers): a taken one is refused."""
        layer = self._spec.layer(layer_id)
        if has_controls(name):  # a network file with it could not be opened again
            self.edit_refused.emit("Not renamed: a layer name may not hold control characters.")
            return
        if any(l.name == name and l.id != layer_id for l in self._spec.layers):
            self.edit_refused.emit(f"Not renamed: another layer is already called '{name}'; "
                                   "layer names must be unique.")
            return
        self.edit(self._spec.replaced(layer.renamed(name)), f"Rename {layer.name} to {name}")

    def apply_fix(self, fix: Fix) -> None:
        self.edit(fix.apply(self._spec), f"Fix: {fix.text}")

    def replace_spec(self, spec: NetworkSpec, text: str) -> None:
        self.edit(spec, text)


def fresh_copies(spec: NetworkSpec, layers: list[LayerSpec]) -> list[LayerSpec]:
    """Copies of `layers` with new ids, renamed (conv1 → conv3) where `spec` has the name."""
    copies: list[LayerSpec] = []
    for layer in layers:
        so_far = spec.inserted(len(spec), copies)
        name = layer.name
        if any(l.name == name for l in so_far):
            name = so_far.unique_name(name.rstrip("0123456789") or layer.type)
        copies.append(replace(layer, id=new_id(), name=name))
    return copies
