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

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from cnn_gui.core.config import DEFAULT_PRESET, MAX_EPOCHS, MAX_LR, OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig
from cnn_gui.core.devices import available_devices
from cnn_gui.core.events import BatchEnded, FitEnded
from cnn_gui.core.formatting import clock_duration, plural
from cnn_gui.gui.panels.dataset_combo import DatasetCombo
from cnn_gui.gui.panels.training_texts import finished_text
from cnn_gui.gui.widgets.elided_text import ElidedLabel, fit_combo
from cnn_gui.gui.widgets.flow_layout import FlowLayout, labelled
from cnn_gui.gui.widgets.rate_box import RateSpinBox

# Short enough to show whole in the box; the item tooltips spell the recipe out.
PRESET_TITLES = {
    "tutorial": "Tutorial (Adam, 3 epochs)",
    "fast": "Fast (one-cycle, 1 epoch)",
}
OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD (momentum)"}
SCHEDULE_TITLES = {"constant": "Constant rate", "onecycle": "One-cycle"}

IDLE_TEXT = "Ready: press Train"
# Device names can be long ("Auto (CUDA 0: NVIDIA GeForce RTX 4090)"): the box shows this
# many characters' width and elides the rest; the tooltip and the popup show it whole.
DEVICE_CHARS = 16


def _recipe_text(cfg: TrainConfig) -> str:
    lr = "peak lr" if cfg.schedule == "onecycle" else "lr"
    return (f"{OPTIMIZER_TITLES.get(cfg.optimizer, cfg.optimizer)}, {lr} {cfg.lr:g}, batch {cfg.batch_size}, "
            f"{SCHEDULE_TITLES.get(cfg.schedule, cfg.schedule).lower()}, {plural(cfg.epochs, 'epoch')}")


def _select(combo: QComboBox, data) -> bool:
    """Make the item holding ``data`` current; False when there is none."""
    pos = combo.findData(data)
    if pos >= 0:
        combo.setCurrentIndex(pos)
    return pos >= 0


class TrainingPanel(QWidget):
    """Preset, dataset, hyper-parameters, device; Train / Pause-Resume / Stop; progress."""

    trainRequested = Signal(object)  # TrainConfig
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    findLrRequested = Signal()  # the learning-rate finder beside the LR box
    rateChanged = Signal(float)  # a new learning rate typed while a run trains

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = PRESETS[DEFAULT_PRESET]
        self._state = "idle"
        self._run_lr = 0.0  # the rate the run trains with now (set_state("running") takes the box's)
        self._resume_epoch: int | None = None
        self._resume_where: str | None = None  # Session.resume_point: "step 216 (epoch 1 of 3, not finished)"
        self._busy = False

        self._build_recipe_fields()
        self._build_run_fields()
        self._build_buttons()
        self._build_progress()
        self._fit_combos()
        self._update_device_tip()
        self._build_settings_flow()
        self._build_layout()

        self.set_config(self._base)
        self.set_state("idle")
        self.more_button.setChecked(True)
        self._on_more(True)

    # -- building ----------------------------------------------------------------------------
    def _build_recipe_fields(self) -> None:
        """Preset, dataset and the recipe: epochs, batch, learning rate, optimizer, schedule."""
        self.preset_combo = QComboBox()
        for key, title in PRESET_TITLES.items():
            if key in PRESETS:
                self.preset_combo.addItem(title, key)
                self.preset_combo.setItemData(self.preset_combo.count() - 1, _recipe_text(PRESETS[key]),
                                              Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setToolTip("Fill the settings with a tested recipe; you may edit them afterwards")
        self.preset_combo.activated.connect(self._on_preset)

        self.dataset_combo = DatasetCombo()
        self.dataset_combo.activated.connect(self._on_dataset)

        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, MAX_EPOCHS)
        self.epochs_spin.setToolTip("Passes over the whole training set")
        self.epochs_spin.valueChanged.connect(self._update_resume_text)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65536)
        self.batch_spin.setToolTip("Images per optimizer step")
        self.lr_spin = RateSpinBox()  # 1e-3 as typed; the arrows step 1-2-5
        self.lr_spin.setRange(0.000001, MAX_LR)
        self.lr_spin.setToolTip("Learning rate (the peak rate for one-cycle)")
        self.lr_spin.setAccessibleName("Learning rate")
        self.find_lr_button = QPushButton("Find…")
        self.find_lr_button.setToolTip("Learning-rate finder: try growing rates on a copy of the network "
                                       "(the weights stay as they are) and suggest one")
        self.find_lr_button.clicked.connect(self.findLrRequested)
        self.lr_spin.editingFinished.connect(self._on_lr_edited)
        self.optimizer_combo = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer_combo.addItem(OPTIMIZER_TITLES.get(name, name), name)
        self.schedule_combo = QComboBox()
        for name in SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_TITLES.get(name, name), name)

    def _build_run_fields(self) -> None:
        """Device, start from, augment and continue-session: how the run goes, not the recipe."""
        self.device_combo = QComboBox()
        for dev in available_devices():
            self.device_combo.addItem(dev.label, dev.key)
            self.device_combo.setItemData(self.device_combo.count() - 1, dev.label, Qt.ItemDataRole.ToolTipRole)
        self.device_combo.currentIndexChanged.connect(self._update_device_tip)
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
        self.continue_check.toggled.connect(self._update_epochs_minimum)
        self.continue_check.toggled.connect(self._update_resume_text)
        self.continue_check.toggled.connect(self._update_enabled)

    def _build_buttons(self) -> None:
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
        self.more_button = QToolButton()
        self.more_button.setCheckable(True)
        self.more_button.setAutoRaise(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.toggled.connect(self._on_more)

    def _build_progress(self) -> None:
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMinimumWidth(60)
        self.progress_label = ElidedLabel(IDLE_TEXT)

    def _fit_combos(self) -> None:
        """Combo widths in the current font's pixels: the fixed titles whole, devices elided."""
        for combo in (self.preset_combo, self.dataset_combo, self.optimizer_combo, self.schedule_combo,
                      self.start_combo):
            fit_combo(combo)
        fit_combo(self.device_combo, DEVICE_CHARS)

    def _build_settings_flow(self) -> None:
        # The settings wrap. The less used ones (optimizer, schedule, device, start from)
        # come last, so on a narrow window they are the ones on a later line, and "Less"
        # (at the end of the buttons' row) folds them away for more room for the plots.
        self.settings_flow = FlowLayout(h_spacing=14, v_spacing=4)
        self._fields: dict[QWidget, QWidget] = {}  # field -> its label-and-field group
        self._titles: dict[QWidget, str] = {}  # field -> its label's words ("Start from")
        for text, field in (("&Preset:", self.preset_combo), ("&Dataset:", self.dataset_combo),
                            ("&Epochs:", self.epochs_spin), ("&Batch:", self.batch_spin), ("&LR:", self.lr_spin),
                            ("&Optimizer:", self.optimizer_combo), ("&Schedule:", self.schedule_combo),
                            ("De&vice:", self.device_combo), ("S&tart from:", self.start_combo)):
            self.settings_flow.addWidget(self._group(text, field))
        self._fields[self.lr_spin].layout().addWidget(self.find_lr_button)
        self.settings_flow.addWidget(self.augment_check)
        self.settings_flow.addWidget(self.continue_check)
        self._more_fields = (self.optimizer_combo, self.schedule_combo, self.device_combo, self.start_combo)
        for combo in self._more_fields:
            combo.currentIndexChanged.connect(self._update_more_tip)

    def _build_layout(self) -> None:
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

    def _group(self, text: str, field: QWidget) -> QWidget:
        """A label and its field as one flow item, so a line never separates them."""
        label = QLabel(text)
        label.setBuddy(field)
        group = labelled(label, field)
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
            self._fit_combos()

    # -- config --------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The settings as a TrainConfig (fields the panel has no widget for are kept)."""
        return self._base.with_(
            dataset=self.dataset_combo.dataset() or self._base.dataset,
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
        _select(self.optimizer_combo, cfg.optimizer)
        _select(self.schedule_combo, cfg.schedule)
        _select(self.device_combo, cfg.device)
        self.augment_check.setChecked(bool(cfg.augment))
        preset = next((k for k, p in PRESETS.items() if _same_recipe(p, cfg)), None)
        if preset is not None:
            _select(self.preset_combo, preset)

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
        return _select(self.preset_combo, key)

    def _on_preset(self, pos: int) -> None:
        key = self.preset_combo.itemData(pos)
        if key in PRESETS:
            self.apply_preset(key)

    # -- datasets ------------------------------------------------------------------------------
    def ask_image_folder(self) -> str | None:
        """A folder of class subfolders (tests replace this); None when cancelled."""
        from PySide6.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(self, "Your images: a folder with one subfolder per class")
        return path or None

    def _on_dataset(self, pos: int) -> None:
        if not self.dataset_combo.is_folder_item(pos):
            self.dataset_combo.remember(pos)
            return
        path = self.ask_image_folder()
        if not path:
            self.dataset_combo.restore()
            return
        from cnn_gui.core.data.image_folder import folder_dataset_name

        self.set_dataset(folder_dataset_name(path))

    def set_dataset(self, name: str) -> None:
        """Choose ``name``; a ``folder:PATH`` is added to the list first (before "Image folder…")."""
        self.dataset_combo.select(name)

    def set_model_input_shape(self, shape, model_title: str = "This model") -> None:
        """Disable datasets whose images do not fit a model taking ``shape`` (C, H, W)."""
        self.dataset_combo.fit_model(shape, model_title)

    def dataset_enabled(self, name: str) -> bool:
        return self.dataset_combo.is_enabled(name)

    # -- resuming a loaded session ------------------------------------------------------------
    def set_resume_epoch(self, epoch: int | None, total: int | None = None, where: str | None = None) -> None:
        """Offer "Continue session" for a checkpoint ``epoch`` epochs in (None hides it). A session
        not offered before sets Epochs to ``total``: the run's total, as for a new run
        (core/training/plan.py); the same one offered again keeps the count the user chose.
        ``where``: where it resumes, in words (Session.resume_point): a run stopped mid-epoch
        resumes from its step, never "from epoch 0"."""
        new = epoch != self._resume_epoch or where != self._resume_where
        self._resume_epoch = epoch
        self._resume_where = where
        self.continue_check.setVisible(epoch is not None)
        self.continue_check.setChecked(epoch is not None)
        self._update_epochs_minimum()
        if new and epoch is not None and total is not None:
            self.epochs_spin.setValue(total)
        self._update_resume_text()

    def _update_epochs_minimum(self, *_args) -> None:
        """Continuing, Epochs is a total above the epochs the session has: it cannot go lower."""
        self.epochs_spin.setMinimum(self._resume_epoch + 1 if self.resuming() else 1)

    def start_fresh(self) -> bool:
        """Whether a new run starts from freshly initialised weights (the default)."""
        return self.start_combo.currentData() == "fresh"

    def resuming(self) -> bool:
        """Whether Train continues the loaded session (to Epochs in total) rather than starting a run."""
        return self._resume_epoch is not None and self.continue_check.isChecked()

    def _update_resume_text(self, *_args) -> None:
        if self._resume_epoch is None:
            self.continue_check.setText("Continue session")
        else:
            self.continue_check.setText(f"Continue session (epoch {self._resume_epoch} → {self.epochs_spin.value()})")
        self._update_train_text()

    def _update_train_text(self) -> None:
        if self.resuming():
            where = self._resume_where or ""
            start = where.split(" (")[0] if where.startswith("step ") else f"epoch {self._resume_epoch}"
            self.train_button.setText(f"Resume from {start}")
            self.train_button.setToolTip(f"Continue the loaded session from {where}" if where else
                                         "Continue the loaded session")
        else:
            self.train_button.setText("Train")
            self.train_button.setToolTip("Train the current model with these settings")

    # -- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def set_state(self, state: str) -> None:
        if state not in ("idle", "running", "paused"):
            raise ValueError(f"unknown state {state!r}")
        if self._state == "idle" and state != "idle":
            self._run_lr = self.lr_spin.value()
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
        for w in (self.preset_combo, self.dataset_combo, self.batch_spin, self.lr_spin, self.find_lr_button,
                  self.optimizer_combo, self.schedule_combo, self.start_combo, self.augment_check):
            # A resumed session keeps its own recipe; only epochs and device may change.
            w.setEnabled(idle and not resuming)
        for w in (self.epochs_spin, self.device_combo, self.continue_check):
            w.setEnabled(idle)
        if self._state != "idle":  # a run's rate may change as it trains (rateChanged)
            self.lr_spin.setEnabled(True)
        self._update_train_text()

    def _on_lr_edited(self) -> None:
        if self._state != "idle" and self.lr_spin.value() != self._run_lr:
            self._run_lr = self.lr_spin.value()
            self.rateChanged.emit(self._run_lr)

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
            f"{ev.samples_per_sec:,.0f} samples/s · ETA {clock_duration(ev.eta_seconds)}")

    def show_message(self, text: str) -> None:
        """One line under the run (elided to the panel's width; the tooltip shows it whole)."""
        self.progress_label.setText(text)

    def show_finished(self, end: FitEnded | None, start_epoch: int = 1) -> None:
        """The bar full (completed) or as far as it got, and what happened, in words;
        ``start_epoch`` > 1: the run was resumed in that epoch (see :func:`finished_text`)."""
        if end is None:
            self.reset()
            return
        self.show_message(finished_text(end, start_epoch))

    def clear_message(self) -> None:
        """Back to the idle text; the bar stays as it is."""
        self.progress_label.setText(IDLE_TEXT)

    def reset(self) -> None:
        """Nothing run yet: an empty bar and the idle text (after switching model, say)."""
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.clear_message()

    reset_progress = reset  # the name the window used first


def _same_recipe(a: TrainConfig, b: TrainConfig) -> bool:
    return (a.epochs, a.batch_size, a.lr, a.optimizer, a.schedule, a.augment) == (
        b.epochs, b.batch_size, b.lr, b.optimizer, b.schedule, b.augment)
