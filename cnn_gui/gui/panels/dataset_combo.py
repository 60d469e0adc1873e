"""The training panel's dataset chooser: the built-in datasets, the image folders chosen so
far and "Image folder…", with the datasets the current model cannot read greyed out."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QWidget

from cnn_gui.core.data.folder_names import folder_name, folder_path, is_folder_dataset, is_located
from cnn_gui.core.data.folder_record import locate_folder, remember_folder
from cnn_gui.core.data.registry import DATASETS
from cnn_gui.core.formatting import shape_text

SHORT_DATASET = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
FOLDER_ITEM = "\0folder"  # item data of the last dataset entry; never a dataset name
FOLDER_ITEM_TEXT = "Image folder…"
FOLDER_TIP = ("Your own images: a folder with one subfolder per class (cat/*.png, dog/*.jpg); "
              "resized to the model's input, 20 % held out for testing")


class DatasetCombo(QComboBox):
    """Dataset names as item data; the last item, "Image folder…", asks for a folder (the
    panel does the asking: :meth:`is_folder_item`, :meth:`remember`, :meth:`restore`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._input_shape: tuple[int, int, int] | None = None
        for name, info in DATASETS.items():
            self.addItem(SHORT_DATASET.get(name, info.title), name)
            extra = "" if info.bundled else " (downloaded on first use)"
            self.setItemData(self.count() - 1, f"{info.title}, {shape_text(info.input_shape)}{extra}",
                             Qt.ItemDataRole.ToolTipRole)
        self.addItem(FOLDER_ITEM_TEXT, FOLDER_ITEM)
        self.setItemData(self.count() - 1, FOLDER_TIP, Qt.ItemDataRole.ToolTipRole)
        self._before = self.currentIndex()

    def dataset(self) -> str | None:
        """The chosen dataset's name; None while "Image folder…" itself is current."""
        data = self.currentData()
        return data if data != FOLDER_ITEM else None

    def is_folder_item(self, pos: int) -> bool:
        return self.itemData(pos) == FOLDER_ITEM

    def remember(self, pos: int) -> None:
        """``pos`` is the choice to go back to when asking for a folder is cancelled."""
        self._before = pos

    def restore(self) -> None:
        self.setCurrentIndex(self._before)

    def select(self, name: str) -> None:
        """Choose ``name``; a ``folder:PATH`` is added to the list first (before "Image folder…").

        A checkpoint names its image folder by its name only (``folder:shapes``): the folder
        of that name already in the list is chosen, else the one found beside its run or in
        the recent runs (core/data/folder_record.py); else an item says it is not found, and
        Image folder… gives it."""
        if is_folder_dataset(name) and not is_located(name):
            found = self._same_folder(name)
            name = self.itemData(found) if found >= 0 else locate_folder(name) or name
        if is_located(name):
            self._drop_missing(folder_name(name))
            remember_folder(folder_path(name))  # a checkpoint of that name finds it
        pos = self.findData(name)
        if pos < 0 and is_folder_dataset(name):
            pos = self.count() - 1
            self.insertItem(pos, *self._folder_item(name))
            self.setItemData(pos, self._folder_tip(name), Qt.ItemDataRole.ToolTipRole)
        if pos >= 0:
            self.setCurrentIndex(pos)
            self._before = pos

    def _drop_missing(self, wanted: str) -> None:
        """Remove the "(not found)" item of a folder named ``wanted``: it has been found."""
        for row in reversed(range(self.count())):
            data = self.itemData(row)
            if is_folder_dataset(data) and not is_located(data) and folder_name(data) == wanted:
                self.removeItem(row)

    def _same_folder(self, name: str) -> int:
        """The row of a located folder named like ``name``'s, or -1."""
        wanted = folder_name(name)
        for row in range(self.count()):
            data = self.itemData(row)
            if is_located(data) and folder_name(data) == wanted:
                return row
        return -1

    @staticmethod
    def _folder_item(name: str) -> tuple[str, str]:
        shown = folder_name(name) or folder_path(name)
        return (f"Folder: {shown}" if is_located(name) else f"Folder: {shown} (not found)"), name

    @staticmethod
    def _folder_tip(name: str) -> str:
        if is_located(name):
            return folder_path(name)
        return (f"These weights were trained on an image folder named {folder_name(name)!r}. A checkpoint "
                "records its name, not where it is, and it is not beside the run or in the recent runs: "
                "choose it with Image folder… to train on it or test with it")

    def fit_model(self, shape, model_title: str) -> None:
        """Disable datasets whose images do not fit a model taking ``shape`` (C, H, W)."""
        self._input_shape = tuple(int(v) for v in shape) if shape is not None else None
        model: QStandardItemModel = self.model()
        first_ok = None
        for row in range(self.count()):
            name = self.itemData(row)
            info = DATASETS.get(name)
            if info is None:  # "Image folder…" and chosen folders: read at the model's own shape
                continue
            item = model.item(row)
            ok = self._input_shape is None or tuple(info.input_shape) == self._input_shape
            item.setEnabled(ok)
            if ok:
                first_ok = row if first_ok is None else first_ok
                tip = f"{info.title}, {shape_text(info.input_shape)}"
                if not info.bundled:
                    tip += " (downloaded on first use)"
            else:
                tip = (f"{model_title} needs {shape_text(self._input_shape)} images; "
                       f"{SHORT_DATASET.get(name, info.title)} is {shape_text(info.input_shape)}")
            self.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
        current = self.currentIndex()
        if current >= 0 and not model.item(current).isEnabled() and first_ok is not None:
            self.setCurrentIndex(first_ok)

    def is_enabled(self, name: str) -> bool:
        pos = self.findData(name)
        return pos >= 0 and self.model().item(pos).isEnabled()
