"""The training settings, the Train/Pause/Stop buttons and the run's progress.

:class:`TrainingPanel` knows nothing about threads or models: it turns its fields into a
:class:`~cnn_gui.core.config.TrainConfig` (``config()``), emits ``trainRequested`` /
``pauseRequested`` / ``resumeRequested`` / ``stopRequested``, and shows what it is told
(``set_state``, ``show_progress``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnn_gui.core.config import DEFAULT_PRESET, OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig
from cnn_gui.core.data import DATASETS
from cnn_gui.core.devices import available_devices
from cnn_gui.core.events import BatchEnded

PRESET_TITLES = {
    "tutorial": "Tutorial (Adam, batch 100, 3 epochs)",
    "fast": "Fast (one-cycle, 1 epoch)",
}
OPTIMIZER_TITLES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD (momentum)"}
SCHEDULE_TITLES = {"constant": "Constant rate", "onecycle": "One-cycle"}
SHORT_DATASET = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

IDLE_TEXT = "Ready: press Train"


def _shape_text(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def format_duration(seconds: float) -> str:
    """0:45, 3:07, 1:02:03."""
    if seconds is None or not seconds == seconds or seconds < 0:  # NaN
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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

        self.preset_combo = QComboBox()
        for key, title in PRESET_TITLES.items():
            if key in PRESETS:
                self.preset_combo.addItem(title, key)
        self.preset_combo.setToolTip("Fill the settings below with a tested recipe; you may edit them afterwards")
        self.preset_combo.activated.connect(self._on_preset)

        self.dataset_combo = QComboBox()
        for name, info in DATASETS.items():
            self.dataset_combo.addItem(SHORT_DATASET.get(name, info.title), name)
            extra = "" if info.bundled else " (downloaded on first use)"
            self.dataset_combo.setItemData(self.dataset_combo.count() - 1,
                                           f"{info.title}, {_shape_text(info.input_shape)}{extra}",
                                           Qt.ItemDataRole.ToolTipRole)

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
        self.device_combo.setToolTip("Where the network trains; the drawing canvas always predicts on the CPU")

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setToolTip("Train the current model with these settings")
        self.train_button.clicked.connect(self._on_train)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._on_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch; the weights so far are kept")
        self.stop_button.clicked.connect(self.stopRequested.emit)
        self.start_combo = QComboBox()
        self.start_combo.addItem("New weights", "fresh")
        self.start_combo.addItem("Current weights", "current")
        self.start_combo.setToolTip(
            "New weights: a freshly initialised network (from the seed), so you watch it learn from scratch; "
            "the canvas keeps the current weights until the first epoch ends.\n"
            "Current weights: fine-tune the weights the canvas is using now (e.g. the pretrained ones).")
        self.continue_check = QCheckBox("Continue loaded session")
        self.continue_check.setToolTip("Resume the opened checkpoint's run (its optimizer state, position and "
                                       "history) instead of starting a new run with these settings")
        self.continue_check.setVisible(False)
        self.continue_check.toggled.connect(self._update_enabled)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMinimumWidth(100)
        self.progress_label = QLabel(IDLE_TEXT)
        self.progress_label.setMinimumWidth(200)
        self.progress_label.setWordWrap(True)
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        def labelled(text: str, widget: QWidget, row: QHBoxLayout) -> None:
            label = QLabel(text)
            label.setBuddy(widget)
            row.addWidget(label)
            row.addWidget(widget)
            row.addSpacing(8)

        # Long entries may shrink (elided); the popup lists them in full.
        for combo, chars in ((self.preset_combo, 18), (self.dataset_combo, 8), (self.device_combo, 14),
                             (self.optimizer_combo, 6), (self.schedule_combo, 8), (self.start_combo, 10)):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(chars)
            combo.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            combo.view().setMinimumWidth(combo.sizeHint().width())
        self.preset_combo.setToolTip(self.preset_combo.toolTip())

        row1 = QHBoxLayout()
        labelled("&Preset:", self.preset_combo, row1)
        labelled("&Dataset:", self.dataset_combo, row1)
        labelled("De&vice:", self.device_combo, row1)
        row1.addStretch(1)
        row2 = QHBoxLayout()
        labelled("&Epochs:", self.epochs_spin, row2)
        labelled("&Batch:", self.batch_spin, row2)
        labelled("&LR:", self.lr_spin, row2)
        labelled("&Optimizer:", self.optimizer_combo, row2)
        labelled("&Schedule:", self.schedule_combo, row2)
        row2.addStretch(1)
        row3 = QHBoxLayout()
        row3.addWidget(self.train_button)
        row3.addWidget(self.pause_button)
        row3.addWidget(self.stop_button)
        row3.addSpacing(8)
        labelled("S&tart from:", self.start_combo, row3)
        row3.addWidget(self.continue_check)
        row3.addSpacing(8)
        row3.addWidget(self.progress_bar, 1)
        row3.addWidget(self.progress_label, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addLayout(row3)

        self.set_config(self._base)
        self.set_state("idle")

    # -- config --------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The settings as a TrainConfig (fields the panel has no widget for are kept)."""
        return self._base.with_(
            dataset=self.dataset_combo.currentData() or self._base.dataset,
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=float(self.lr_spin.value()),
            optimizer=self.optimizer_combo.currentData(),
            schedule=self.schedule_combo.currentData(),
            device=self.device_combo.currentData() or "auto",
        )

    def set_config(self, cfg: TrainConfig) -> None:
        self._base = cfg
        self._select(self.dataset_combo, cfg.dataset)
        self.epochs_spin.setValue(cfg.epochs)
        self.batch_spin.setValue(cfg.batch_size)
        self.lr_spin.setValue(cfg.lr)
        self._select(self.optimizer_combo, cfg.optimizer)
        self._select(self.schedule_combo, cfg.schedule)
        self._select(self.device_combo, cfg.device)
        preset = next((k for k, p in PRESETS.items() if _same_recipe(p, cfg)), None)
        if preset is not None:
            self._select(self.preset_combo, preset)

    def apply_preset(self, key: str) -> None:
        """Fill the recipe fields from a preset; dataset and device stay as chosen."""
        preset = PRESETS[key]
        self._select(self.preset_combo, key)
        self.set_config(self.config().with_(
            epochs=preset.epochs, batch_size=preset.batch_size, lr=preset.lr, optimizer=preset.optimizer,
            schedule=preset.schedule, weight_decay=preset.weight_decay, momentum=preset.momentum))

    def current_preset(self) -> str:
        return self.preset_combo.currentData()

    @staticmethod
    def _select(combo: QComboBox, data) -> bool:
        pos = combo.findData(data)
        if pos >= 0:
            combo.setCurrentIndex(pos)
        return pos >= 0

    def _on_preset(self, pos: int) -> None:
        key = self.preset_combo.itemData(pos)
        if key in PRESETS:
            self.apply_preset(key)

    # -- datasets vs. the model ----------------------------------------------------------
    def set_model_input_shape(self, shape, model_title: str = "This model") -> None:
        """Disable datasets whose images do not fit a model taking ``shape`` (C, H, W)."""
        self._input_shape = tuple(int(v) for v in shape) if shape is not None else None
        model: QStandardItemModel = self.dataset_combo.model()
        first_ok = None
        for row in range(self.dataset_combo.count()):
            name = self.dataset_combo.itemData(row)
            info = DATASETS[name]
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
            self.continue_check.setText("Continue loaded session")
            self._update_train_text()
            return
        target = self._resume_epoch + self.epochs_spin.value() if self.epochs_spin.value() <= self._resume_epoch \
            else self.epochs_spin.value()
        self.continue_check.setText(f"Continue loaded session (epoch {self._resume_epoch} → {target})")
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

    def _update_enabled(self, *_args) -> None:
        idle = self._state == "idle"
        self.train_button.setEnabled(idle)
        self.pause_button.setEnabled(not idle)
        self.stop_button.setEnabled(not idle)
        self.pause_button.setText("Resume" if self._state == "paused" else "Pause")
        self.pause_button.setToolTip("Continue training" if self._state == "paused"
                                     else "Hold training after the current batch")
        resuming = idle and self.resuming()
        for w in (self.preset_combo, self.dataset_combo, self.batch_spin, self.lr_spin,
                  self.optimizer_combo, self.schedule_combo, self.start_combo):
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
        self.progress_label.setText(text)

    def reset_progress(self) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_label.setText(IDLE_TEXT)


def _same_recipe(a: TrainConfig, b: TrainConfig) -> bool:
    return (a.epochs, a.batch_size, a.lr, a.optimizer, a.schedule) == (
        b.epochs, b.batch_size, b.lr, b.optimizer, b.schedule)
