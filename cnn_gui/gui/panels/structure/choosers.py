"""The structure panel's two drop-down lists: which model, and which module type to show."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy

from cnn_gui.core.model.models import MODELS

ALL_TYPES = "All types"
TYPE_FILTER_TIP = "Show only modules of one type (the tutorial's \"all conv layers\")"
USER_MODEL_TEXT = "Your own model from a .py file…"
_USER_MODEL_DATA = "\0user-model"  # item data of the last combo entry; never a model name


def fit_popup(combo: QComboBox) -> None:
    """The popup lists every entry whole, however narrow the box."""
    fm = combo.fontMetrics()
    widest = max((fm.horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
    combo.view().setMinimumWidth(widest + 4 * fm.averageCharWidth())


class ModelCombo(QComboBox):
    """The registry's models, then "Your own model…".

    Picking a model emits ``modelChosen(name)``; picking the last entry goes back to the
    current one at once and emits ``userModelWanted()`` (the owner asks which file and
    class, and selects the new entry with :meth:`set_current_model` once it has loaded).
    """

    modelChosen = Signal(str)
    userModelWanted = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for name, spec in MODELS.items():
            self.addItem(spec.title, name)
            self.setItemData(self.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        self.addItem(USER_MODEL_TEXT, _USER_MODEL_DATA)
        self.setItemData(self.count() - 1, "Load an nn.Module subclass from your own Python file",
                         Qt.ItemDataRole.ToolTipRole)
        self._model_index = 0
        self.currentIndexChanged.connect(self._on_index)
        self.currentIndexChanged.connect(self._update_tip)
        fit_popup(self)
        self._update_tip()

    def set_current_model(self, name: str, title: str) -> None:
        """Select (adding it if new) the entry for ``name`` without emitting modelChosen."""
        pos = self.findData(name)
        self.blockSignals(True)
        try:
            if pos < 0:
                pos = self.count() - 1  # before "Your own model…"
                self.insertItem(pos, title, name)
                self.setItemData(pos, name, Qt.ItemDataRole.ToolTipRole)
            else:
                self.setItemText(pos, title)
            self.setCurrentIndex(pos)
            self._model_index = pos
        finally:
            self.blockSignals(False)
        fit_popup(self)
        self._update_tip()

    def current_model_name(self) -> str | None:
        data = self.currentData()
        return None if data == _USER_MODEL_DATA else data

    def _on_index(self, pos: int) -> None:
        data = self.itemData(pos)
        if data == _USER_MODEL_DATA:
            # Go back to the current entry at once: the owner selects the new one
            # with set_current_model() once it has loaded.
            self.blockSignals(True)
            self.setCurrentIndex(self._model_index)
            self.blockSignals(False)
            self.userModelWanted.emit()
            return
        if data is None:
            return
        self._model_index = pos
        self.modelChosen.emit(data)

    def _update_tip(self, *_args) -> None:
        tip = self.currentData(Qt.ItemDataRole.ToolTipRole)
        self.setToolTip(f"{self.currentText()}\n{tip}" if tip else "")


class TypeCombo(QComboBox):
    """"All types", then each module type of the tree shown; its data is the type (None for all)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.addItem(ALL_TYPES, None)
        self.setToolTip(TYPE_FILTER_TIP)
        # A user's module types can have long names: elided here, whole in the popup.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(11)
        self.currentIndexChanged.connect(self._update_tip)

    def set_types(self, types: list[str], keep: str | None) -> None:
        """List ``types``, still showing ``keep`` where it is one of them (else all types),
        without emitting currentIndexChanged."""
        self.blockSignals(True)
        try:
            self.clear()
            self.addItem(ALL_TYPES, None)
            for t in types:
                self.addItem(t, t)
            pos = self.findData(keep) if keep else 0
            self.setCurrentIndex(max(pos, 0))
        finally:
            self.blockSignals(False)
        fit_popup(self)
        self._update_tip()

    def select(self, type_name: str | None) -> None:
        """Show ``type_name``; None, "", "All types" or a type not listed for all."""
        pos = self.findData(type_name) if type_name and type_name != ALL_TYPES else 0
        self.setCurrentIndex(max(pos, 0))

    def _update_tip(self, *_args) -> None:
        self.setToolTip(self.currentText() + "\n" + TYPE_FILTER_TIP)
