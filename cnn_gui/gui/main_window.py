"""The main window: layout, menus and wiring. No training code lives here.

Left dock: the network's modules and parameters (:class:`StructurePanel`). Centre: the
training settings and buttons (:class:`TrainingPanel`) above the live curves
(:class:`TrainingPlots`). Right dock: the drawing canvas, what the network reads in it
(:class:`PredictionView`) and which weights it reads with.

Training runs on a worker thread owned by :class:`TrainingController`; this window only
receives its signals. The window's model object is handed to the trainer for a run and
not touched by the GUI thread until the run has finished: the canvas predicts with
frozen CPU copies (:class:`Predictor`) built from the weight snapshots the worker sends
at each epoch's end.

Hooks for tests and benchmarks: ``data_override`` (an ImageDataset used instead of
loading the configured one), ``start_training(config)``, ``open_checkpoint(path,
background=...)``, ``save_checkpoint(path)``, ``show_error`` (replace it to record
instead of showing a dialog), and the ``controller`` with its signals.
"""

from __future__ import annotations

import dataclasses
import html
import sys
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnn_gui import __version__
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.data import DATASETS
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted
from cnn_gui.core.models import ModelError, NeedsModelFile, get_spec, load_user_spec, resolve_user_choice, spec_for_architecture
from cnn_gui.core.predictor import Predictor
from cnn_gui.core.structure import build_tree, initialize

from . import settings as settings_mod
from .canvas import DrawingCanvas
from .confusion_view import ConfusionView
from .feature_maps_view import FeatureMapsView
from .jobs import JobRunner
from .plots import TrainingPlots
from .prediction_view import CanvasPredictor, PredictionView
from .structure_view import StructurePanel
from .training_panel import TrainingPanel, format_duration
from .worker import TrainingController

DEFAULT_MODEL = "mnist-cnn"
CANVAS_SHAPE = (1, 28, 28)
CANVAS_CLASSES = 10
CHECKPOINT_FILTER = "cnn-gui checkpoints (*.safetensors);;All files (*)"
PRETRAINED_PENDING_TEXT = "Weights: loading the pretrained weights…"


def _pct(value) -> str:
    try:
        return f"{float(value):.1%}"
    except (TypeError, ValueError):
        return "?"


# Closable too: View shows them again (and the layout is remembered between sessions).
DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)


class MainWindow(QMainWindow):
    """cnn-gui's window. See the module docstring for the parts and the test hooks."""

    checkpointOpened = Signal(str)  # path, after a checkpoint was opened and swapped in
    openFinished = Signal(bool)  # after every open_checkpoint(): True when it was swapped in

    def __init__(self, load_pretrained: bool = True, data_override=None, parent: QWidget | None = None,
                 *, defer_pretrained: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("cnn-gui")
        self.data_override = data_override  # an ImageDataset used instead of loading the configured one

        self.controller = TrainingController(self)
        self.model = None
        self.model_name = DEFAULT_MODEL
        self.spec = get_spec(DEFAULT_MODEL)
        self.history: list[dict] = []
        self.weights_text = "Weights: untrained"
        self.loaded_checkpoint = None  # a Checkpoint the next Train may resume
        self.last_trainer = None  # the finished run's Trainer (history, position, optimizer)
        self._session = None  # ("trainer", Trainer) | ("checkpoint", Checkpoint) | None: what Save writes
        self._stats = None  # (mean, std, classes) the current weights were trained with
        self._run_epochs = 0
        self._run_config: TrainConfig | None = None
        self._run_start_step = 0
        self.jobs = JobRunner(self)  # background work of the window (opening checkpoints)
        self._closing = False
        self._shown_once = False
        self._restored_state = False
        self._pretrained_pending = None  # the initial model, while its pretrained weights wait for show()

        self._build_ui()
        self._build_menus()
        self._wire()
        self._restore_settings()
        self._load_initial_model(load_pretrained, defer_pretrained)
        self._set_run_state("Idle")

    # ================================================================== construction
    def _build_ui(self) -> None:
        self.structure = StructurePanel()
        self.structure_dock = QDockWidget("Network", self)
        self.structure_dock.setObjectName("structureDock")
        self.structure_dock.setWidget(self.structure)
        self.structure.setMinimumWidth(380)  # name, type, output shape and parameter count visible
        self.structure_dock.setFeatures(DOCK_FEATURES)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.structure_dock)

        self.training_panel = TrainingPanel()
        self.plots = TrainingPlots()
        self.feature_maps = FeatureMapsView()
        self.confusion = ConfusionView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.plots, "Training curves")
        self.tabs.addTab(self.feature_maps, "Feature maps")
        self.tabs.addTab(self.confusion, "Test set")
        self.tabs.setTabToolTip(1, "What each filter of a layer makes of the digit on the canvas")
        self.tabs.setTabToolTip(2, "Confusion matrix and misclassified test images of the current weights")
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(2)
        centre_layout.addWidget(self.training_panel)
        centre_layout.addWidget(self.tabs, 1)
        self.setCentralWidget(centre)

        # Right: canvas, its tools, the network's reading.
        self.weights_label = QLabel(self.weights_text)
        self.weights_label.setWordWrap(True)
        self.weights_label.setToolTip("Which weights the canvas reads your drawing with")
        font = self.weights_label.font()
        font.setBold(True)
        self.weights_label.setFont(font)
        self.weights_hint = QLabel("Training: the canvas switches to the new weights at each epoch's end")
        self.weights_hint.setWordWrap(True)
        self.weights_hint.setStyleSheet("color: #666;")
        self.weights_hint.setVisible(False)
        self.canvas = DrawingCanvas()
        self.canvas.setToolTip("Draw a digit with the mouse (or a pen); the network reads it when you lift it")
        self.canvas_note = QLabel()
        self.canvas_note.setWordWrap(True)
        self.canvas_note.setStyleSheet("color: #a04000;")
        self.canvas_note.setVisible(False)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the drawing (Esc)")
        self.clear_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.pen_slider = QSlider(Qt.Orientation.Horizontal)
        self.pen_slider.setRange(6, 40)
        self.pen_slider.setValue(int(round(self.canvas.penWidth())))
        self.pen_slider.setToolTip("Pen width")
        self.pen_slider.setMinimumWidth(100)
        tools = QHBoxLayout()
        tools.addWidget(self.clear_button)
        tools.addSpacing(12)
        tools.addWidget(QLabel("Pen:"))
        tools.addWidget(self.pen_slider, 1)
        self.prediction_view = PredictionView()
        self.canvas_controller = CanvasPredictor(self.canvas, self.prediction_view)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 6, 6, 6)
        right_layout.addWidget(self.weights_label)
        right_layout.addWidget(self.weights_hint)
        right_layout.addWidget(self.canvas, 3)
        right_layout.addLayout(tools)
        right_layout.addWidget(self.canvas_note)
        right_layout.addWidget(self.prediction_view, 2)
        right.setMinimumWidth(380)
        self.canvas_dock = QDockWidget("Draw a digit", self)
        self.canvas_dock.setObjectName("canvasDock")
        self.canvas_dock.setWidget(right)
        self.canvas_dock.setFeatures(DOCK_FEATURES)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.canvas_dock)

        self.device_status = QLabel()
        self.state_status = QLabel()
        self.statusBar().addPermanentWidget(self.device_status)
        self.statusBar().addPermanentWidget(self.state_status)
        self._show_device(self.training_panel.device_combo.currentText())
        self.resize(self._default_size())

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open checkpoint…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._ask_open)
        self.save_action = QAction("&Save checkpoint…", self)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.triggered.connect(self._ask_save)
        self.export_csv_action = QAction("Export metrics &CSV…", self)
        self.export_csv_action.triggered.connect(self._ask_export_csv)
        self.export_png_action = QAction("Export plot &PNG…", self)
        self.export_png_action.triggered.connect(self._ask_export_png)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.triggered.connect(self.close)
        for action in (self.open_action, self.save_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_csv_action)
        file_menu.addAction(self.export_png_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.structure_dock.toggleViewAction())
        view_menu.addAction(self.canvas_dock.toggleViewAction())
        view_menu.addSeparator()
        self.tab_actions = []
        for i in range(self.tabs.count()):
            action = QAction(self.tabs.tabText(i), self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _checked=False, i=i: self.tabs.setCurrentIndex(i))
            view_menu.addAction(action)
            self.tab_actions.append(action)

        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = QAction("&About cnn-gui", self)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)

    def _wire(self) -> None:
        self.structure.modelRequested.connect(self.request_model)
        self.structure.initRequested.connect(self.reinitialize)
        panel = self.training_panel
        panel.trainRequested.connect(self.start_training)
        panel.pauseRequested.connect(self._on_pause)
        panel.resumeRequested.connect(self._on_resume)
        panel.stopRequested.connect(self.stop_training)
        panel.device_combo.currentTextChanged.connect(self._on_device_choice)
        c = self.controller
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.epochEnded.connect(self._on_epoch)
        c.weightsSnapshot.connect(self._on_snapshot)
        c.failed.connect(self._on_failed)
        c.finished.connect(self._on_finished)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.pen_slider.valueChanged.connect(lambda v: self.canvas.setPenWidth(float(v)))
        cp = self.canvas_controller
        cp.inputRead.connect(self.feature_maps.set_input)
        c.runningChanged.connect(self.confusion.set_blocked)
        self.confusion.sampleChosen.connect(self._show_sample_maps)

    # ================================================================== overridable dialogs
    def show_error(self, title: str, text: str) -> None:
        """Every error dialog goes through here (tests replace it to record the call)."""
        QMessageBox.warning(self, title, text)

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", self._last_dir(), CHECKPOINT_FILTER)
        return path or None

    def ask_save_path(self, title: str, name: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self._last_dir()) / name), file_filter)
        return path or None

    def about_text(self) -> str:
        import pyqtgraph
        import PySide6

        from cnn_gui.core.devices import available_devices

        devices = "<br>".join(f"&nbsp;&nbsp;{d.label}" for d in available_devices())
        return (f"<b>cnn-gui {__version__}</b><br>See a convolutional network, train it live, "
                f"and let it read your handwriting.<br><br>"
                f"Python {sys.version.split()[0]} · torch {torch.__version__} · "
                f"PySide6 {PySide6.__version__} · pyqtgraph {pyqtgraph.__version__}<br><br>"
                f"Devices:<br>{devices}")

    def show_about(self) -> None:
        QMessageBox.about(self, "About cnn-gui", self.about_text())

    # ================================================================== the model
    def _load_initial_model(self, load_pretrained: bool, defer: bool = False) -> None:
        spec = get_spec(DEFAULT_MODEL)
        torch.manual_seed(0)
        model = spec.factory()
        if load_pretrained and defer:
            # cnn-gui's start-up: the window (tree included) shows first; the checkpoint is
            # read and the canvas predictor built right after (see showEvent).
            self._adopt_model(DEFAULT_MODEL, spec, model, PRETRAINED_PENDING_TEXT, [], None, predictor=False)
            self._pretrained_pending = model
            return
        text, history, stats = "Weights: untrained", [], None
        if load_pretrained:
            model, text, history, stats = self._read_pretrained(spec, model)
        self._adopt_model(DEFAULT_MODEL, spec, model, text, history, stats)

    def _read_pretrained(self, spec, model):
        """Load the shipped weights into ``model``: (model, label text, history, stats)."""
        text, history, stats = "Weights: untrained", [], None
        try:
            from cnn_gui.core.checkpoints import load_checkpoint, load_weights_into
            from cnn_gui.core.resources import pretrained_checkpoint

            path = pretrained_checkpoint()
            if path.is_file():
                ckpt = load_checkpoint(path)
                load_weights_into(model, ckpt)
                history = [dict(h) for h in ckpt.meta.history]
                acc = history[-1].get("test_accuracy") if history else None
                text = f"Weights: pretrained ({_pct(acc)} test)" if acc is not None else "Weights: pretrained"
                stats = (tuple(ckpt.meta.mean), tuple(ckpt.meta.std), tuple(ckpt.meta.classes))
            else:
                text = "Weights: untrained (no pretrained file shipped)"
        except Exception as exc:  # a damaged install must not keep the window from opening
            torch.manual_seed(0)
            fresh = spec.factory()
            model.load_state_dict(fresh.state_dict())  # the same object (the tree shows it), clean init
            text = "Weights: untrained (pretrained file unreadable)"
            self.statusBar().showMessage(f"Pretrained weights not loaded: {exc}", 10000)
        return model, text, history, stats

    @Slot()
    def _load_pending_pretrained(self) -> None:
        """The deferred half of start-up: pretrained weights, history, label and predictor."""
        model, self._pretrained_pending = self._pretrained_pending, None
        if (model is None or model is not self.model or self.weights_text != PRETRAINED_PENDING_TEXT
                or self.controller.is_running() or self._closing):
            return  # the user moved on (other model, re-initialised, opened a file, training)
        _, text, history, stats = self._read_pretrained(self.spec, model)
        self._stats = stats
        self.history = [dict(h) for h in history]
        if self.history:
            self.plots.set_history(self.history)
        self._set_weights_text(text)
        self._refresh_predictor()

    def _adopt_model(self, name: str, spec, model, weights_text: str, history: list[dict], stats,
                     predictor: bool = True) -> None:
        """Make ``model`` the current one: tree, dataset choices, plots, predictor, label."""
        tree = build_tree(model, spec.input_shape)  # one 1-sample forward pass, serial on this thread
        self.model_name, self.spec, self.model = name, spec, model
        self.structure.show_tree(tree, model)
        self.structure.set_current_model(name, spec.title)
        self.training_panel.set_model_input_shape(spec.input_shape, spec.title)
        self._stats = stats
        self.history = [dict(h) for h in history]
        self.plots.clear()
        if self.history:
            self.plots.set_history(self.history)
        self._set_weights_text(weights_text)
        if predictor:
            self._refresh_predictor()
        else:
            self.canvas_controller.set_predictor(None)
            self._set_analysis_weights(None)

    def _set_weights_text(self, text: str) -> None:
        self.weights_text = text
        self.weights_label.setText(text)

    def canvas_supported(self) -> bool:
        return tuple(self.spec.input_shape) == CANVAS_SHAPE and int(self.spec.num_classes) == CANVAS_CLASSES

    @Slot(object, str)
    def _show_sample_maps(self, image, text: str) -> None:
        self.feature_maps.show_image(image, text)
        self.tabs.setCurrentWidget(self.feature_maps)

    def _weights_dataset(self) -> str:
        """The dataset the current weights belong to (by their last run, else the model's default)."""
        if self._run_config is not None and self._run_config.dataset in DATASETS:
            return self._run_config.dataset
        return self.spec.default_dataset if self.spec.default_dataset in DATASETS else "mnist"

    def _prediction_stats(self):
        if self._stats is not None:
            return self._stats
        name = self.spec.default_dataset if self.spec.default_dataset in DATASETS else "mnist"
        if self._run_config is not None and self._run_config.dataset in DATASETS:
            name = self._run_config.dataset
        info = DATASETS[name]
        return tuple(info.mean), tuple(info.std), tuple(info.classes)

    def _refresh_predictor(self, source_model=None) -> None:
        """A fresh frozen copy of ``source_model`` or the current model (idle only) for the
        canvas (models that read 1x28x28 digits) and the Feature maps and Test set tabs (all)."""
        mean, std, classes = self._prediction_stats()
        model = source_model if source_model is not None else self.model
        snapshot = Predictor(model, mean, std, classes)
        self._set_analysis_weights(snapshot)
        if not self.canvas_supported():
            shape = "x".join(map(str, self.spec.input_shape))
            note = (f"The canvas needs a 1x28x28 model with 10 classes; {self.spec.title} takes "
                    f"{shape} images with {self.spec.num_classes} classes, so there is no guess.")
            self.canvas_note.setText(note)
            self.canvas_note.setVisible(True)
            self.canvas.clear()
            self.canvas.setEnabled(False)
            self.canvas_controller.set_predictor(None)
            self.prediction_view.show_input_only(None, "The canvas needs a 1x28x28 model")
            return
        self.canvas_note.setVisible(False)
        self.canvas.setEnabled(True)
        self.canvas_controller.set_predictor(snapshot)

    def _set_analysis_weights(self, snapshot: Predictor | None) -> None:
        self.feature_maps.set_predictor(snapshot, tuple(self.spec.input_shape))
        self.confusion.set_source(snapshot, self._weights_dataset(), self.data_override,
                                  input_shape=tuple(self.spec.input_shape))

    @property
    def predictor(self) -> Predictor | None:
        return self.canvas_controller.predictor

    @Slot(str)
    def request_model(self, name: str) -> bool:
        """Switch to the model ``name`` (a registry name or "file.py:Class"), untrained."""
        if self.controller.is_running():
            self.structure.set_current_model(self.model_name, self.spec.title)
            self.statusBar().showMessage("Stop training before changing the model", 5000)
            return False
        try:
            spec = resolve_user_choice(name)  # the user chose it: a user's file may be imported
            torch.manual_seed(0)
            model = spec.factory()
        except Exception as exc:  # ModelError, or anything a user's file raises on import
            self.structure.set_current_model(self.model_name, self.spec.title)
            text = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            self.show_error("Cannot use this model", text)
            return False
        self._forget_session()
        self._run_config = None  # the last run was of another model: its dataset says nothing now
        self._adopt_model(name, spec, model, "Weights: untrained", [], None)
        self.statusBar().showMessage(f"Model: {spec.title}", 5000)
        return True

    @Slot(str)
    def reinitialize(self, scheme: str) -> bool:
        if self.controller.is_running():
            self.statusBar().showMessage("Stop training before re-initialising the weights", 5000)
            return False
        try:
            initialize(self.model, scheme)
        except ValueError as exc:
            self.show_error("Cannot initialise", str(exc))
            return False
        self._forget_session()
        self._stats = None
        self.history = []
        self.plots.clear()
        self._set_weights_text(f"Weights: re-initialised ({scheme})")
        self._refresh_predictor()
        return True

    def _forget_session(self) -> None:
        self.loaded_checkpoint = None
        self._session = None
        self.training_panel.set_resume_epoch(None)

    # ================================================================== training
    @Slot(object)
    def start_training(self, config: TrainConfig | None = None) -> bool:
        """Start a run with ``config`` (default: the panel's); resumes a loaded session when ticked."""
        if self.controller.is_running():
            return False
        panel = self.training_panel
        cfg = (config if config is not None else panel.config()).with_(model=self.model_name)
        target = panel.resume_target_epochs() if self.loaded_checkpoint is not None else None
        try:
            cfg.validate()
        except ValueError as exc:
            self.show_error("Cannot train", str(exc))
            return False
        if target is not None:
            ckpt = self.loaded_checkpoint
            cfg = cfg.with_(epochs=max(target, cfg.epochs) if config is not None else target)
            meta = ckpt.meta
            self._stats = (tuple(meta.mean), tuple(meta.std), tuple(meta.classes))
            self.plots.set_history(self.history)
            self.controller.start(cfg, checkpoint=ckpt, data=self.data_override, spec=self.spec)
        else:
            data = self.data_override
            info = data.info if data is not None else DATASETS.get(cfg.dataset)
            self._stats = (tuple(info.mean), tuple(info.std), tuple(info.classes)) if info is not None else None
            self.history = []
            self.plots.clear()
            if panel.start_fresh():
                # Watch it learn from scratch; the canvas keeps answering with the
                # previous snapshot until the first epoch of the new weights ends.
                torch.manual_seed(cfg.seed)
                self.model = self.spec.factory()
                self.structure.show_tree(self.structure.tree, self.model)
            self.controller.start(cfg, model=self.model, data=data, spec=self.spec)
        self._run_config = cfg
        self._run_epochs = cfg.epochs
        self._run_start_step = 0
        self._session = None
        panel.set_state("running")
        panel.reset_progress()
        panel.show_message("Loading data and preparing the run…")
        self._set_training_ui(True)
        self._set_run_state("Starting…")
        return True

    @Slot()
    def stop_training(self) -> None:
        if self.controller.is_running():
            self.controller.stop()
            self._set_run_state("Stopping…")

    @Slot()
    def _on_pause(self) -> None:
        self.controller.pause()
        self._set_run_state("Paused")

    @Slot()
    def _on_resume(self) -> None:
        self.controller.resume()
        self._set_run_state("Training")

    def _set_training_ui(self, running: bool) -> None:
        self.weights_hint.setVisible(running and self.canvas_supported())
        self.structure.model_combo.setEnabled(not running)
        self.structure.init_button.setEnabled(not running and self.structure.tree is not None)
        self.open_action.setEnabled(not running)
        self.save_action.setEnabled(not running)

    @Slot(object)
    def _on_started(self, ev: FitStarted) -> None:
        self._run_epochs = ev.epochs
        self._run_start_step = (ev.start_epoch - 1) * ev.batches_per_epoch + ev.start_batch
        self.plots.plan_steps(ev.epochs * ev.batches_per_epoch)
        self.tabs.setCurrentWidget(self.plots)  # Train was clicked to watch the curves
        self._show_device(f"{ev.device_label} · {ev.precision}")
        resumed = f", resumed at epoch {ev.start_epoch}" if ev.start_epoch > 1 or ev.start_batch else ""
        self._set_run_state(f"Training {ev.model} on {ev.dataset}{resumed}")
        self.training_panel.show_message(
            f"epoch {ev.start_epoch}/{ev.epochs} · {ev.train_size:,} training images, "
            f"{ev.batches_per_epoch} batches of {ev.batch_size}")

    @Slot(object)
    def _on_progress(self, ev: BatchEnded) -> None:
        self.plots.add_batch(ev)
        self.training_panel.show_progress(ev, self._run_epochs)
        if not self.controller.is_paused():
            self._set_run_state(f"Training: epoch {ev.epoch}/{self._run_epochs}")

    @Slot(object)
    def _on_epoch(self, ev: EpochEnded) -> None:
        self.plots.add_epoch(ev)
        self.history = [h for h in self.history if h.get("epoch", 0) < ev.epoch] + [ev.to_dict()]
        self.statusBar().showMessage(
            f"Epoch {ev.epoch}: train {_pct(ev.train_accuracy)}, test {_pct(ev.test_accuracy)} "
            f"({format_duration(ev.seconds)})", 8000)

    @Slot(object)
    def _on_snapshot(self, arrays: dict) -> None:
        """Weights copied by the worker at an epoch's end: a new frozen predictor for the canvas."""
        epoch = self.history[-1]["epoch"] if self.history else 0
        acc = self.history[-1].get("test_accuracy") if self.history else None
        self._set_weights_text(f"Weights: trained now, epoch {epoch} ({_pct(acc)} test)")
        if not self.canvas_supported():
            return
        try:
            model = self.spec.factory()
            state = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
            model.load_state_dict(state)
        except Exception as exc:  # should not happen: same architecture
            self.statusBar().showMessage(f"Could not show the new weights: {exc}", 8000)
            return
        self._refresh_predictor(model)

    @Slot(object)
    def _on_failed(self, ev: FitFailed) -> None:
        self._set_run_state("Failed")
        self.show_error("Training failed", f"{ev.message}\n\n{ev.hint}")

    @Slot(object)
    def _on_finished(self, end: FitEnded | None) -> None:
        panel = self.training_panel
        panel.set_state("idle")
        self._set_training_ui(False)
        trainer = self.controller.last_trainer
        self.last_trainer = trainer
        if trainer is not None and end is not None:
            if trainer.model is not self.model:  # a resumed session trained its own model object
                self.model = trainer.model
            self.history = [dict(h) for h in trainer.history]
            self._session = ("trainer", trainer)
            self._forget_loaded_checkpoint()
            if end.step > self._run_start_step and end.reason != "completed":
                # Stopped mid-epoch: the canvas gets the weights as they are now.
                self._refresh_predictor()
                where = f"epoch {end.epochs_completed}" if end.epochs_completed else "no full epoch"
                acc = f" ({_pct(self.history[-1]['test_accuracy'])} test at epoch {self.history[-1]['epoch']})" \
                    if self.history else ""
                self._set_weights_text(f"Weights: trained now, stopped after {where}{acc}")
        if end is None:
            self._set_run_state("Idle")
            panel.reset_progress()
        elif end.reason == "completed":
            acc = f" · test {_pct(end.final_test_accuracy)}" if end.final_test_accuracy is not None else ""
            panel.show_message(f"Done: {end.epochs_completed} epochs in {format_duration(end.seconds)}{acc}")
            self._set_run_state("Idle: run completed")
        elif end.reason == "stopped":
            panel.show_message(f"Stopped after {end.epochs_completed} complete epoch(s), step {end.step}")
            self._set_run_state("Idle: stopped")
        else:
            panel.show_message("Training failed; see the message")
            self._set_run_state("Idle: failed")
        self._show_device(panel.device_combo.currentText())

    def _forget_loaded_checkpoint(self) -> None:
        self.loaded_checkpoint = None
        self.training_panel.set_resume_epoch(None)

    def _set_run_state(self, text: str) -> None:
        self.state_status.setText(text)

    def _show_device(self, label: str) -> None:
        self.device_status.setText(f"Device: {label}")

    @Slot(str)
    def _on_device_choice(self, text: str) -> None:
        if not self.controller.is_running():
            self._show_device(text)

    # ================================================================== checkpoints
    def _ask_open(self) -> None:
        path = self.ask_open_path()
        if path:
            self._remember_dir(path)
            self.open_checkpoint(path)

    def open_checkpoint(self, path, background: bool = True) -> None:
        """Open ``path``: read it off the GUI thread, then swap the model in only if it fits.

        ``openFinished(bool)`` follows every call; errors go to :meth:`show_error` and leave
        the current model, tree, plots and predictor as they were.
        """
        path = str(path)
        if self.controller.is_running():
            self.show_error("Cannot open a checkpoint now", "Stop training before opening a checkpoint.")
            self.openFinished.emit(False)
            return
        self.statusBar().showMessage(f"Opening {Path(path).name}…")
        from cnn_gui.core.checkpoints import load_checkpoint

        if not background:
            try:
                ckpt, error = load_checkpoint(path), None
            except Exception as exc:  # noqa: BLE001 - shown as one line by _on_load_done
                ckpt, error = None, exc
            self._on_load_done(path, ckpt, error)
            return
        # A newer open supersedes this one: its result is never delivered.
        self.jobs.submit(load_checkpoint, path, key="open",
                         on_done=lambda ckpt: self._on_load_done(path, ckpt, None),
                         on_error=lambda exc: self._on_load_done(path, None, exc))

    def _on_load_done(self, path: str, ckpt, error) -> None:
        if self._closing:
            return
        self.statusBar().clearMessage()
        name = Path(path).name
        if error is not None:
            self.show_error("Cannot open checkpoint", error_text(error))
            self.openFinished.emit(False)
            return
        if self.controller.is_running():
            self.show_error("Cannot open a checkpoint now", "Stop training before opening a checkpoint.")
            self.openFinished.emit(False)
            return
        from cnn_gui.core.checkpoints import load_weights_into
        from cnn_gui.core.engine import check_session_fits

        meta = ckpt.meta
        try:
            spec = self.spec if ckpt.is_foreign else self._spec_for_checkpoint(ckpt)
            if spec is None:
                self.statusBar().showMessage(f"Not opened: {name} needs its model file", 8000)
                self.openFinished.emit(False)
                return
            arch = spec.name
            model = spec.factory()
            load_weights_into(model, ckpt)  # validates every name and shape before copying
            if not ckpt.is_foreign:
                check_session_fits(ckpt, model)  # a resumable session must fit too
        except Exception as exc:  # CheckpointError, ModelError, a user's file failing to import
            self.show_error("Cannot open checkpoint", error_text(exc))
            self.openFinished.emit(False)
            return
        stats = None
        if not ckpt.is_foreign:
            stats = (tuple(meta.mean), tuple(meta.std), tuple(meta.classes))
        self._adopt_model(arch, spec, model, f"Weights: file {name}", meta.history, stats)
        self._session = ("checkpoint", ckpt)
        if not ckpt.is_foreign and meta.config:
            self.loaded_checkpoint = ckpt
            try:
                saved = TrainConfig.from_dict(meta.config)
                panel = self.training_panel
                self.training_panel.set_config(saved.with_(device=panel.config().device, max_batches=None))
            except (TypeError, ValueError):
                pass
            self.training_panel.set_resume_epoch(int(meta.epoch))
        else:
            self._forget_loaded_checkpoint()
        self.statusBar().showMessage(f"Opened {name}", 5000)
        self.checkpointOpened.emit(path)
        self.openFinished.emit(True)

    def _spec_for_checkpoint(self, ckpt):
        """The spec of the checkpoint's model, never imported because the file names it.

        A checkpoint of the user's own class opens with the current model if it is that
        class; otherwise the user is asked for the file that defines it (None: declined).
        """
        meta = ckpt.meta
        current = self.spec if self.spec.is_user else None
        try:
            return spec_for_architecture(meta.architecture, current)
        except NeedsModelFile as need:
            path = self.ask_model_file(need.class_name, need.recorded_path)
            if not path:
                return None
            return load_user_spec(f"{path}:{need.class_name}", tuple(meta.input_shape))

    def ask_model_file(self, class_name: str, recorded_path: str = "") -> str | None:
        """Ask for the .py file defining ``class_name`` (tests replace this). None: cancelled."""
        recorded = (f"<br><br>The checkpoint says it came from:<br><code>{html.escape(recorded_path)}</code>"
                    if recorded_path else "")
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Open checkpoint: your own model")
        box.setText(f"These weights belong to your own model class <b>{html.escape(class_name)}</b>.")
        box.setInformativeText(
            "cnn-gui never runs code named in a checkpoint. Choose the Python file that defines "
            f"{html.escape(class_name)} yourself; it will be run as Python, so choose only a file you trust."
            + recorded)
        choose = box.addButton("Choose model file…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not choose:
            return None
        path, _ = QFileDialog.getOpenFileName(self, f"Python file defining {class_name}", self._last_dir(),
                                              "Python files (*.py);;All files (*)")
        return path or None

    def _ask_save(self) -> None:
        path = self.ask_save_path("Save checkpoint", f"{self.model_name.replace('.py:', '-')}.safetensors",
                                  CHECKPOINT_FILTER)
        if not path:
            return
        if not path.endswith(".safetensors") and "." not in Path(path).name:
            path += ".safetensors"
        self._remember_dir(path)
        try:
            saved = self.save_checkpoint(path)
        except Exception as exc:
            self.show_error("Cannot save checkpoint", str(exc))
            return
        self.statusBar().showMessage(f"Saved {saved}", 5000)

    def save_checkpoint(self, path) -> Path:
        """Write the current weights; after a run, the whole resumable session (optimizer too)."""
        if self.controller.is_running():
            raise RuntimeError("stop training before saving a checkpoint")
        from cnn_gui.core.checkpoints import CheckpointMeta
        from cnn_gui.core.checkpoints import save_checkpoint as write

        kind, obj = self._session if self._session is not None else (None, None)
        if kind == "trainer" and obj.model is self.model:
            return Path(obj.save_checkpoint(path) or path)
        if kind == "checkpoint" and not obj.is_foreign:
            meta = dataclasses.replace(obj.meta, architecture=self.spec.architecture,
                                       history=[dict(h) for h in self.history])
            if meta.config:
                meta.config = dict(meta.config, model=self.spec.architecture)
            return Path(write(path, self.model, meta, obj.optimizer_state) or path)
        mean, std, classes = self._prediction_stats()
        cfg = self.training_panel.config().with_(model=self.spec.architecture, max_batches=None)
        meta = CheckpointMeta(
            architecture=self.spec.architecture, input_shape=tuple(self.spec.input_shape), classes=list(classes),
            mean=list(mean), std=list(std), dataset=cfg.dataset, epoch=len(self.history),
            history=[dict(h) for h in self.history], config=cfg.to_dict(), training={"epoch": len(self.history)})
        return Path(write(path, self.model, meta, None) or path)

    def _ask_export_csv(self) -> None:
        self._ask_export("metrics", "metrics.csv", "CSV files (*.csv);;All files (*)", self.plots.export_csv)

    def _ask_export_png(self) -> None:
        self._ask_export("plot", "training.png", "PNG images (*.png);;All files (*)", self.plots.export_png)

    def _ask_export(self, what: str, default_name: str, filters: str, write) -> None:
        path = self.ask_save_path(f"Export {what}", default_name, filters)
        if path:
            self._remember_dir(path)
            try:
                write(path)
            except Exception as exc:
                self.show_error(f"Cannot export {what}", str(exc))

    # ================================================================== settings and closing
    def _last_dir(self) -> str:
        return settings_mod.read_str(settings_mod.open_settings(), settings_mod.KEY_LAST_DIR, str(Path.home()))

    def _remember_dir(self, path: str) -> None:
        settings_mod.open_settings().setValue(settings_mod.KEY_LAST_DIR, str(Path(path).parent))

    def _restore_settings(self) -> None:
        s = settings_mod.open_settings()
        geometry = settings_mod.read_bytes(s, settings_mod.KEY_GEOMETRY)
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings_mod.read_bytes(s, settings_mod.KEY_STATE)
        if state is not None:
            self._restored_state = bool(self.restoreState(state))
        doc = settings_mod.read_json(s, settings_mod.KEY_TRAINING)
        if doc:
            try:
                cfg = TrainConfig.from_dict(doc).validate()
                self.training_panel.set_config(cfg)
            except (TypeError, ValueError):
                pass
        preset = settings_mod.read_str(s, settings_mod.KEY_PRESET)
        if preset:
            self.training_panel._select(self.training_panel.preset_combo, preset)

    def save_settings(self) -> None:
        s = settings_mod.open_settings()
        s.setValue(settings_mod.KEY_GEOMETRY, self.saveGeometry())
        s.setValue(settings_mod.KEY_STATE, self.saveState())
        cfg = self.training_panel.config()
        keep = ("dataset", "epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "momentum", "device")
        settings_mod.write_json(s, settings_mod.KEY_TRAINING, {k: v for k, v in cfg.to_dict().items() if k in keep})
        s.setValue(settings_mod.KEY_PRESET, self.training_panel.current_preset() or "")
        s.sync()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop training and join the worker thread (also used on application quit)."""
        ok = self.controller.shutdown(timeout_ms)
        ok = self.confusion.shutdown(timeout_ms / 1000) and ok
        ok = self.jobs.shutdown(timeout_ms / 1000) and ok
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        try:
            self.save_settings()
        except Exception:
            pass
        self.shutdown()
        event.accept()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._restored_state:
                # Wide enough for the tree's Parameters column and a square canvas.
                QTimer.singleShot(0, self._default_dock_sizes)
            if self._pretrained_pending is not None:
                QTimer.singleShot(0, self._load_pending_pretrained)

    def _default_size(self) -> QSize:
        want = QSize(1680, 960)
        screen = self.screen() if hasattr(self, "screen") else None
        if screen is not None:
            avail = screen.availableGeometry().size()
            want = QSize(min(want.width(), avail.width()), min(want.height(), avail.height()))
        return want

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.structure_dock, self.canvas_dock], [440, 400], Qt.Orientation.Horizontal)

    def sizeHint(self) -> QSize:
        return QSize(1680, 960)



def error_text(exc: BaseException) -> str:
    """An exception as the text of an error dialog: one line, then its hint if it has one."""
    from cnn_gui.core.errors import one_line

    text = one_line(exc) or type(exc).__name__
    if not getattr(exc, "message", None):  # not one of ours: say what kind of failure it was
        text = one_line(f"{type(exc).__name__}: {text}")
    hint = getattr(exc, "hint", "")
    return f"{text}\n\n{hint}" if hint else text
