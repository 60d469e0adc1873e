"""The training settings, the Train/Pause/Stop buttons and the run's progress.

:class:`TrainingPanel` knows nothing about threads or models: it turns its fields into a
:class:`~cnn_gui.core.config.TrainConfig` (``config()``), emits ``trainRequested`` /
``pauseRequested`` / ``resumeRequested`` / ``stopRequested``, and shows what it is told
(``set_state``, ``show_progress``, ``show_finished``, ``reset``).

The panel must fit a 1280-pixel screen next to the two docks, so it never asks for more
than about 450 px: the settings wrap (:class:`FlowLayout`) instead of widening the
window, long texts elide (:class:`ElidedLabel`, full text in the tooltip) and combo
boxes are sized to their fixed titles, or elide (devices) with the full name in the
tooltip and the popup.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnn_gui.core.config import DEFAULT_PRESET, OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig
from cnn_gui.core.data.registry import DATASETS
from cnn_gui.core.devices import available_devices
from cnn_gui.core.events import BatchEnded, FitEnded
from cnn_gui.core.formatting import clock_duration as format_duration  # noqa: F401 - the window's name
from cnn_gui.core.formatting import plural
from cnn_gui.core.formatting import shape_text as _shape_text

# Short enough to show whole in the box; the item tooltips spell the recipe out.
PRESET_TITLES = {
    "tutorial": "Tutorial (Adam, 3 epochs)",
    "fast": "Fast (one-cycle, 1 epoch)",
}
OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD (momentum)"}
SCHEDULE_TITLES = {"constant": "Constant rate", "onecycle": "One-cycle"}
SHORT_DATASET = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

IDLE_TEXT = "Ready: press Train"
FOLDER_ITEM = "\0folder"  # item data of the last dataset entry; never a dataset name
FOLDER_ITEM_TEXT = "Image folder…"
FOLDER_TIP = ("Your own images: a folder with one subfolder per class (cat/*.png, dog/*.jpg); "
              "resized to the model's input, 20 % held out for testing")
# Device names can be long ("Auto (CUDA 0: NVIDIA GeForce RTX 4090)"): the box shows this
# many characters' width and elides the rest; the tooltip and the popup show it whole.
DEVICE_CHARS = 16
PROGRESS_MIN_CHARS = 12




def _recipe_text(cfg: TrainConfig) -> str:
    lr = "peak lr" if cfg.schedule == "onecycle" else "lr"
    return (f"{OPTIMIZER_TITLES.get(cfg.optimizer, cfg.optimizer)}, {lr} {cfg.lr:g}, batch {cfg.batch_size}, "
            f"{SCHEDULE_TITLES.get(cfg.schedule, cfg.schedule).lower()}, {plural(cfg.epochs, 'epoch')}")


class FlowLayout(QLayout):
    """Items left to right, wrapping to a new line when the width runs out.

    Its minimum width is its widest item, so it never widens a window; it reports the
    height it needs for a width (``heightForWidth``), which QBoxLayout honours. Hidden
    widgets take no room.
    """

    def __init__(self, parent: QWidget | None = None, h_spacing: int = 10, v_spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._h = h_spacing
        self._v = v_spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt's name)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        # Not "everything on one line": a hint of ~1,700 px would only invite a window to
        # grow. The height a width needs comes from heightForWidth.
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest item (items are never squeezed below their size hint)."""
        shown = self._shown()
        m = self.contentsMargins()
        w = max((i.sizeHint().width() for i in shown), default=0)
        h = max((i.sizeHint().height() for i in shown), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def lines(self, width: int) -> list[list[QLayoutItem]]:
        """The shown items, line by line, as laid out in ``width`` pixels."""
        m = self.contentsMargins()
        avail = max(width - m.left() - m.right(), 1)
        lines: list[list[QLayoutItem]] = []
        x = 0
        for item in self._shown():
            w = item.sizeHint().width()
            if lines and x + self._h + w <= avail:
                lines[-1].append(item)
                x += self._h + w
            else:
                lines.append([item])
                x = w
        return lines

    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not i.isEmpty()]

    def _arrange(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        y = rect.y() + m.top()
        lines = self.lines(rect.width())
        for n, line in enumerate(lines):
            height = max(i.sizeHint().height() for i in line)
            x = rect.x() + m.left()
            for item in line:
                hint = item.sizeHint()
                if move:  # vertically centred in the line
                    item.setGeometry(QRect(QPoint(x, y + (height - hint.height()) // 2), hint))
                x += hint.width() + self._h
            y += height + (self._v if n < len(lines) - 1 else 0)
        return y + m.bottom() - rect.y()


class ElidedLabel(QLabel):
    """One line of plain text that never widens its window: what does not fit ends in "…",
    and the tooltip then shows it whole. ``text()`` is the whole text."""

    def __init__(self, text: str = "", parent: QWidget | None = None, min_chars: int = PROGRESS_MIN_CHARS) -> None:
        super().__init__(parent)
        self._min_chars = min_chars
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self._update_tooltip()

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def shown_text(self) -> str:
        """The text as painted now, elided to the label's width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             max(self.contentsRect().width(), 0))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.averageCharWidth() * self._min_chars + m.left() + m.right(),
                     super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(max(min(hint.width(), self.fontMetrics().averageCharWidth() * 60),
                         self.minimumSizeHint().width()), hint.height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._update_tooltip()

    def paintEvent(self, event) -> None:  # noqa: N802, ARG002
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(),
                                  self.isEnabled(), self.shown_text(), QPalette.ColorRole.WindowText)
        painter.end()

    def _update_tooltip(self) -> None:
        self.setToolTip(self.text() if self.is_elided() else "")


def fit_combo(combo: QComboBox, max_chars: int | None = None) -> None:
    """Size ``combo`` to its longest item (its items are fixed), or with ``max_chars`` to that
    many characters' width: longer items elide, the popup is widened to show them whole."""
    fm = combo.fontMetrics()
    widest = max((fm.horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
    if max_chars:
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(max_chars)
    else:
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    combo.view().setMinimumWidth(widest + 4 * fm.averageCharWidth())


class TrainingPanel(QWidget):
    """Preset, dataset, hyper-parameters, device; Train / Pause-Resume / Stop; progress."""

    trainRequested = Signal(object)  # TrainConfig
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = PRESETS[DEFAULT_PRESET]
        self._state = "idle"
        self._input_shape: tuple[int, int, int] | None = None
        self._resume_epoch: int | None = None

        self._busy = False

        self.preset_combo = QComboBox()
        for key, title in PRESET_TITLES.items():
            if key in PRESETS:
                self.preset_combo.addItem(title, key)
                self.preset_combo.setItemData(self.preset_combo.count() - 1, _recipe_text(PRESETS[key]),
                                              Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setToolTip("Fill the settings with a tested recipe; you may edit them afterwards")
        self.preset_combo.activated.connect(self._on_preset)

        self.dataset_combo = QComboBox()
        for name, info in DATASETS.items():
            self.dataset_combo.addItem(SHORT_DATASET.get(name, info.title), name)
            extra = "" if info.bundled else " (downloaded on first use)"
            self.dataset_combo.setItemData(self.dataset_combo.count() - 1,
                                           f"{info.title}, {_shape_text(info.input_shape)}{extra}",
                                           Qt.ItemDataRole.ToolTipRole)
        self.dataset_combo.addItem(FOLDER_ITEM_TEXT, FOLDER_ITEM)
        self.dataset_combo.setItemData(self.dataset_combo.count() - 1, FOLDER_TIP, Qt.ItemDataRole.ToolTipRole)
        self._dataset_before = self.dataset_combo.currentIndex()
        self.dataset_combo.activated.connect(self._on_dataset)

        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setToolTip("Passes over the whole training set")
        self.epochs_spin.valueChanged.connect(self._update_resume_text)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65536)
        self.batch_spin.setToolTip("Images per optimizer step")
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 10.0)
        self.lr_spin.setSingleStep(0.0005)
        self.lr_spin.setToolTip("Learning rate (the peak rate for one-cycle)")
        self.lr_spin.setAccessibleName("Learning rate")
        self.optimizer_combo = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer_combo.addItem(OPTIMIZER_TITLES.get(name, name), name)
        self.schedule_combo = QComboBox()
        for name in SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_TITLES.get(name, name), name)
        self.device_combo = QComboBox()
        for dev in available_devices():
            self.device_combo.addItem(dev.label, dev.key)
            self.device_combo.setItemData(self.device_combo.count() - 1, dev.label, Qt.ItemDataRole.ToolTipRole)
        self.device_combo.currentIndexChanged.connect(self._update_device_tip)

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setToolTip("Train the current model with these settings")
        self.train_button.clicked.connect(self._on_train)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._on_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch; the weights so far are kept")
        self.stop_button.clicked.connect(self.stopRequested.emit)
        for button in (self.train_button, self.pause_button, self.stop_button):
            # Down to their text's width on a narrow window (the style's 80 px is a preference).
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.start_combo = QComboBox()
        self.start_combo.addItem("New weights", "fresh")
        self.start_combo.addItem("Current weights", "current")
        self.start_combo.setToolTip(
            "New weights: a freshly initialised network (from the seed), so you watch it learn from scratch; "
            "the canvas keeps the current weights until the first epoch ends.\n"
            "Current weights: fine-tune the weights the canvas is using now (e.g. the pretrained ones).")
        self.augment_check = QCheckBox("Augment")
        self.augment_check.setToolTip(
            "Randomly turn (up to 10°), scale (0.9-1.1), shift (up to 2 px) and thicken or thin the strokes of "
            "the training images, on the device: the weights read handwriting that is not MNIST better")
        self.continue_check = QCheckBox("Continue session")
        self.continue_check.setToolTip("Resume the opened checkpoint's run (its optimizer state, position and "
                                       "history) instead of starting a new run with these settings")
        self.continue_check.setVisible(False)
        self.continue_check.toggled.connect(self._update_enabled)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMinimumWidth(60)
        self.progress_label = ElidedLabel(IDLE_TEXT)

        for combo in (self.preset_combo, self.dataset_combo, self.optimizer_combo, self.schedule_combo,
                      self.start_combo):
            fit_combo(combo)
        fit_combo(self.device_combo, DEVICE_CHARS)
        self._update_device_tip()

        # The settings wrap. The less used ones (optimizer, schedule, device, start from)
        # come last, so on a narrow window they are the ones on a later line, and "Less"
        # (at the end of the buttons' row) folds them away for more room for the plots.
        self.more_button = QToolButton()
        self.more_button.setCheckable(True)
        self.more_button.setAutoRaise(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.toggled.connect(self._on_more)
        self.settings_flow = FlowLayout(h_spacing=14, v_spacing=4)
        self._fields: dict[QWidget, QWidget] = {}  # field -> its label-and-field group
        self._titles: dict[QWidget, str] = {}  # field -> its label's words ("Start from")
        for text, field in (("&Preset:", self.preset_combo), ("&Dataset:", self.dataset_combo),
                            ("&Epochs:", self.epochs_spin), ("&Batch:", self.batch_spin), ("&LR:", self.lr_spin),
                            ("&Optimizer:", self.optimizer_combo), ("&Schedule:", self.schedule_combo),
                            ("De&vice:", self.device_combo), ("S&tart from:", self.start_combo)):
            self.settings_flow.addWidget(self._group(text, field))
        self.settings_flow.addWidget(self.augment_check)
        self.settings_flow.addWidget(self.continue_check)
        self._more_fields = (self.optimizer_combo, self.schedule_combo, self.device_combo, self.start_combo)
        for combo in self._more_fields:
            combo.currentIndexChanged.connect(self._update_more_tip)

        actions = QHBoxLayout()
        actions.setSpacing(6)
        actions.addWidget(self.train_button)
        actions.addWidget(self.pause_button)
        actions.addWidget(self.stop_button)
        actions.addSpacing(6)
        actions.addWidget(self.progress_bar, 1)
        actions.addWidget(self.more_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(self.settings_flow)
        layout.addLayout(actions)
        # A line of its own: "epoch 2/3 · batch 340/600 · 1,450 samples/s · ETA 0:45" is
        # ~330 px, more than the buttons' row has left on a 1366-pixel screen.
        layout.addWidget(self.progress_label)

        self.set_config(self._base)
        self.set_state("idle")
        self.more_button.setChecked(True)
        self._on_more(True)

    def _group(self, text: str, field: QWidget) -> QWidget:
        """A label and its field as one flow item, so a line never separates them."""
        group = QWidget()
        row = QHBoxLayout(group)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        label = QLabel(text)
        label.setBuddy(field)
        row.addWidget(label)
        row.addWidget(field)
        self._fields[field] = group
        self._titles[field] = text.replace("&", "").rstrip(":")
        return group

    # -- the less used settings ---------------------------------------------------------
    def more_visible(self) -> bool:
        """Whether optimizer, schedule, device and start-from are shown (the default)."""
        return self.more_button.isChecked()

    def set_more_visible(self, visible: bool) -> None:
        """Show or fold away the less used settings (the window may remember the choice)."""
        self.more_button.setChecked(bool(visible))

    def _on_more(self, visible: bool) -> None:
        for field in self._more_fields:
            self._fields[field].setVisible(visible)
        self.more_button.setText("Less" if visible else "More")
        self.more_button.setArrowType(Qt.ArrowType.LeftArrow if visible else Qt.ArrowType.RightArrow)
        self._update_more_tip()

    def _update_more_tip(self, *_args) -> None:
        values = " · ".join(f"{self._titles[f]}: {f.currentText()}" for f in self._more_fields)
        self.more_button.setToolTip(("Hide: " if self.more_visible() else "Show: ") + values)

    def field_group(self, field: QWidget) -> QWidget:
        """The flow item (label and field) that holds ``field``."""
        return self._fields[field]

    def _update_device_tip(self, *_args) -> None:
        self.device_combo.setToolTip(f"{self.device_combo.currentText()}\n"
                                     "Where the network trains; the drawing canvas always predicts on the CPU")

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # the combos' widths are in this font's pixels
            for combo in (self.preset_combo, self.dataset_combo, self.optimizer_combo, self.schedule_combo,
                          self.start_combo):
                fit_combo(combo)
            fit_combo(self.device_combo, DEVICE_CHARS)

    # -- config --------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The settings as a TrainConfig (fields the panel has no widget for are kept)."""
        return self._base.with_(
            dataset=(self.dataset_combo.currentData() if self.dataset_combo.currentData() != FOLDER_ITEM
                     else None) or self._base.dataset,
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=float(self.lr_spin.value()),
            optimizer=self.optimizer_combo.currentData(),
            schedule=self.schedule_combo.currentData(),
            device=self.device_combo.currentData() or "auto",
            augment=self.augment_check.isChecked(),
        )

    def set_config(self, cfg: TrainConfig) -> None:
        self._base = cfg
        self.set_dataset(cfg.dataset)
        self.epochs_spin.setValue(cfg.epochs)
        self.batch_spin.setValue(cfg.batch_size)
        self.lr_spin.setValue(cfg.lr)
        self._select(self.optimizer_combo, cfg.optimizer)
        self._select(self.schedule_combo, cfg.schedule)
        self._select(self.device_combo, cfg.device)
        self.augment_check.setChecked(bool(cfg.augment))
        preset = next((k for k, p in PRESETS.items() if _same_recipe(p, cfg)), None)
        if preset is not None:
            self._select(self.preset_combo, preset)

    def apply_preset(self, key: str) -> None:
        """Fill the recipe fields from a preset; dataset and device stay as chosen."""
        preset = PRESETS[key]
        self.select_preset(key)
        self.set_config(self.config().with_(
            epochs=preset.epochs, batch_size=preset.batch_size, lr=preset.lr, optimizer=preset.optimizer,
            schedule=preset.schedule, weight_decay=preset.weight_decay, momentum=preset.momentum,
            augment=preset.augment))

    def current_preset(self) -> str:
        return self.preset_combo.currentData()

    def select_preset(self, key: str) -> bool:
        """Show ``key`` as the chosen preset without touching the fields (a remembered choice)."""
        return self._select(self.preset_combo, key)

    @staticmethod
    def _select(combo: QComboBox, data) -> bool:
        # Kept for callers outside the panel until they use select_preset().
        pos = combo.findData(data)
        if pos >= 0:
            combo.setCurrentIndex(pos)
        return pos >= 0

    def _on_preset(self, pos: int) -> None:
        key = self.preset_combo.itemData(pos)
        if key in PRESETS:
            self.apply_preset(key)

    def ask_image_folder(self) -> str | None:
        """A folder of class subfolders (tests replace this); None when cancelled."""
        from PySide6.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(self, "Your images: a folder with one subfolder per class")
        return path or None

    def _on_dataset(self, pos: int) -> None:
        if self.dataset_combo.itemData(pos) != FOLDER_ITEM:
            self._dataset_before = pos
            return
        path = self.ask_image_folder()
        if not path:
            self.dataset_combo.setCurrentIndex(self._dataset_before)
            return
        from cnn_gui.core.data.image_folder import folder_dataset_name

        self.set_dataset(folder_dataset_name(path))

    def set_dataset(self, name: str) -> None:
        """Choose ``name``; a ``folder:PATH`` is added to the list first (before "Image folder…")."""
        pos = self.dataset_combo.findData(name)
        if pos < 0 and name.startswith("folder:"):
            pos = self.dataset_combo.count() - 1
            folder = name[len("folder:"):]
            self.dataset_combo.insertItem(pos, f"Folder: {Path(folder).name or folder}", name)
            self.dataset_combo.setItemData(pos, folder, Qt.ItemDataRole.ToolTipRole)
        if pos >= 0:
            self.dataset_combo.setCurrentIndex(pos)
            self._dataset_before = pos

    # -- datasets vs. the model ----------------------------------------------------------
    def set_model_input_shape(self, shape, model_title: str = "This model") -> None:
        """Disable datasets whose images do not fit a model taking ``shape`` (C, H, W)."""
        self._input_shape = tuple(int(v) for v in shape) if shape is not None else None
        model: QStandardItemModel = self.dataset_combo.model()
        first_ok = None
        for row in range(self.dataset_combo.count()):
            name = self.dataset_combo.itemData(row)
            info = DATASETS.get(name)
            if info is None:  # "Image folder…" and chosen folders: read at the model's own shape
                continue
            item = model.item(row)
            ok = self._input_shape is None or tuple(info.input_shape) == self._input_shape
            item.setEnabled(ok)
            if ok:
                first_ok = row if first_ok is None else first_ok
                tip = f"{info.title}, {_shape_text(info.input_shape)}"
                if not info.bundled:
                    tip += " (downloaded on first use)"
            else:
                tip = (f"{model_title} needs {_shape_text(self._input_shape)} images; "
                       f"{SHORT_DATASET.get(name, info.title)} is {_shape_text(info.input_shape)}")
            self.dataset_combo.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
        current = self.dataset_combo.currentIndex()
        if current >= 0 and not model.item(current).isEnabled() and first_ok is not None:
            self.dataset_combo.setCurrentIndex(first_ok)

    def dataset_enabled(self, name: str) -> bool:
        pos = self.dataset_combo.findData(name)
        return pos >= 0 and self.dataset_combo.model().item(pos).isEnabled()

    # -- resuming a loaded session ------------------------------------------------------------
    def set_resume_epoch(self, epoch: int | None) -> None:
        """Offer "Continue loaded session" for a checkpoint ``epoch`` epochs in; None hides it."""
        self._resume_epoch = epoch
        self.continue_check.setVisible(epoch is not None)
        self.continue_check.setChecked(epoch is not None)
        self._update_resume_text()

    def resume_target_epochs(self) -> int | None:
        """Total epochs a resumed run trains to, or None when not resuming."""
        if self._resume_epoch is None or not self.continue_check.isChecked():
            return None
        wanted = self.epochs_spin.value()
        return wanted if wanted > self._resume_epoch else self._resume_epoch + wanted

    def start_fresh(self) -> bool:
        """Whether a new run starts from freshly initialised weights (the default)."""
        return self.start_combo.currentData() == "fresh"

    def resuming(self) -> bool:
        return self.resume_target_epochs() is not None

    def _update_resume_text(self, *_args) -> None:
        if self._resume_epoch is None:
            self.continue_check.setText("Continue session")
            self._update_train_text()
            return
        target = self._resume_epoch + self.epochs_spin.value() if self.epochs_spin.value() <= self._resume_epoch \
            else self.epochs_spin.value()
        self.continue_check.setText(f"Continue session (epoch {self._resume_epoch} → {target})")
        self._update_train_text()

    def _update_train_text(self) -> None:
        if self.resuming():
            self.train_button.setText(f"Resume from epoch {self._resume_epoch}")
        else:
            self.train_button.setText("Train")

    # -- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def set_state(self, state: str) -> None:
        if state not in ("idle", "running", "paused"):
            raise ValueError(f"unknown state {state!r}")
        self._state = state
        self._update_enabled()

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool) -> None:
        """While the window is busy (opening a checkpoint, switching model) nothing here can
        start a run or change its settings; Pause and Stop still follow the run's state."""
        self._busy = bool(busy)
        self._update_enabled()

    def _update_enabled(self, *_args) -> None:
        idle = self._state == "idle" and not self._busy
        self.train_button.setEnabled(idle)
        self.pause_button.setEnabled(self._state != "idle")
        self.stop_button.setEnabled(self._state != "idle")
        self.pause_button.setText("Resume" if self._state == "paused" else "Pause")
        self.pause_button.setToolTip("Continue training" if self._state == "paused"
                                     else "Hold training after the current batch")
        resuming = idle and self.resuming()
        for w in (self.preset_combo, self.dataset_combo, self.batch_spin, self.lr_spin,
                  self.optimizer_combo, self.schedule_combo, self.start_combo, self.augment_check):
            # A resumed session keeps its own recipe; only epochs and device may change.
            w.setEnabled(idle and not resuming)
        for w in (self.epochs_spin, self.device_combo, self.continue_check):
            w.setEnabled(idle)
        self._update_train_text()

    def _on_train(self) -> None:
        if self._state == "idle":
            self.trainRequested.emit(self.config())

    def _on_pause(self) -> None:
        if self._state == "running":
            self.set_state("paused")
            self.pauseRequested.emit()
        elif self._state == "paused":
            self.set_state("running")
            self.resumeRequested.emit()

    # -- progress ----------------------------------------------------------------------------------
    def show_progress(self, ev: BatchEnded, epochs: int) -> None:
        """"epoch 2/3 · batch 340/600 · 1,450 samples/s · ETA 0:45" and the bar over the whole run."""
        per_epoch = max(int(ev.batches_per_epoch), 1)
        total = max(int(epochs), 1) * per_epoch
        done = min((int(ev.epoch) - 1) * per_epoch + int(ev.batch), total)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.progress_label.setText(
            f"epoch {ev.epoch}/{epochs} · batch {ev.batch}/{per_epoch} · "
            f"{ev.samples_per_sec:,.0f} samples/s · ETA {format_duration(ev.eta_seconds)}")

    def show_message(self, text: str) -> None:
        """One line under the run (elided to the panel's width; the tooltip shows it whole)."""
        self.progress_label.setText(text)

    def show_finished(self, end: FitEnded | None) -> None:
        """The bar full (completed) or as far as it got, and what happened, in words."""
        if end is None:
            self.reset()
            return
        self.show_message(finished_text(end))

    def clear_message(self) -> None:
        """Back to the idle text; the bar stays as it is."""
        self.progress_label.setText(IDLE_TEXT)

    def reset(self) -> None:
        """Nothing run yet: an empty bar and the idle text (after switching model, say)."""
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.clear_message()

    reset_progress = reset  # the name the window used first


def finished_text(end: FitEnded) -> str:
    """"Done: 1 epoch in 0:21 · test 99.2%", "Stopped after 2 complete epochs, step 1,234"."""
    epochs = plural(int(end.epochs_completed), "epoch")
    if end.reason == "completed":
        acc = f" · test {end.final_test_accuracy:.1%}" if end.final_test_accuracy is not None else ""
        return f"Done: {epochs} in {format_duration(end.seconds)}{acc}"
    if end.reason == "stopped":
        if not end.epochs_completed:
            return f"Stopped before the first epoch ended, at step {end.step:,}"
        return f"Stopped after {plural(int(end.epochs_completed), 'complete epoch')}, at step {end.step:,}"
    return "Training failed; see the message"


def _same_recipe(a: TrainConfig, b: TrainConfig) -> bool:
    return (a.epochs, a.batch_size, a.lr, a.optimizer, a.schedule, a.augment) == (
        b.epochs, b.batch_size, b.lr, b.optimizer, b.schedule, b.augment)
