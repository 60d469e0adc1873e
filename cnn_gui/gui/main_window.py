"""The main window: layout, menus, dialogs and wiring. The state lives in a core Session.

Left dock: the network's modules and parameters (:class:`StructurePanel`). Centre: the
training settings (:class:`TrainingPanel`) above the tabs (curves, feature maps, test
set, runs). Right dock: the canvas and what the network reads in it (:class:`CanvasPanel`).

Which model, which weights, where they came from, their history and normalisation, and
what a run does to them: :class:`~cnn_gui.core.session.Session`. The window asks it and
shows the answer. Training runs on the :class:`TrainingController`'s thread; the canvas
and the analysis tabs use frozen CPU copies (:class:`Predictor`). Every run is recorded
in a run folder (:mod:`cnn_gui.core.runs`), so its weights are never lost.

Hooks for tests and benchmarks: ``data_override`` (an ImageDataset used instead of
loading the configured one), ``start_training(config)``, ``open_checkpoint(path,
background=...)``, ``save_checkpoint(path)``, and the dialogs (``show_error``,
``ask_open_path``, ``ask_save_path``, ``ask_model_file``, ``ask_discard``), which tests
replace.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from cnn_gui import __version__
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted
from cnn_gui.core.models import get_spec, resolve_user_choice
from cnn_gui.core.predictor import Predictor
from cnn_gui.core.session import Provenance, Session, Source
from cnn_gui.core.structure import build_tree, initialize

from . import dialogs
from . import settings as settings_mod
from .canvas_panel import CanvasPanel, canvas_refusal
from .checkpoint_flow import CheckpointFlow
from .analysis_tabs import AnalysisTabs
from .plots import TrainingPlots
from .runs_view import RunsView
from .structure_view import StructurePanel
from .training_panel import TrainingPanel, finished_text, format_duration
from .worker import TrainingController

DEFAULT_MODEL = "mnist-cnn"
PRETRAINED_PENDING_TEXT = "Weights: loading the pretrained weights…"
DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)


class MainWindow(dialogs.DialogsMixin, QMainWindow):
    """cnn-gui's window. See the module docstring for the parts and the test hooks."""

    checkpointOpened = Signal(str)  # path, after a checkpoint was opened and swapped in
    openFinished = Signal(bool)  # after every open_checkpoint(): True when it was swapped in

    def __init__(self, load_pretrained: bool = True, data_override=None, parent: QWidget | None = None,
                 *, defer_pretrained: bool = False, runs_dir=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("cnn-gui")
        self.data_override = data_override
        self.controller = TrainingController(self)
        spec = get_spec(DEFAULT_MODEL)
        torch.manual_seed(0)
        self.session = Session(spec, spec.factory())
        self.files = CheckpointFlow(self)
        self._run_writer = None
        self._run_epochs = 0
        self._closing = False
        self._shown_once = False
        self._restored_state = False
        self._pretrained_pending = False

        self._build_ui(runs_dir)
        self._build_menus()
        self._wire()
        self._restore_settings()
        self._show_session(predictor="none" if defer_pretrained else "refresh")
        if load_pretrained:
            if defer_pretrained:  # start-up: the window (tree included) shows first, see showEvent
                self._pretrained_pending = True
                self._set_weights_text(PRETRAINED_PENDING_TEXT)
            else:
                self.use_pretrained(ask=False)
        self._set_run_state("Idle")

    # ================================================================== construction
    def _build_ui(self, runs_dir) -> None:
        self.structure = StructurePanel()
        self.structure_dock = self._dock("Network", "structureDock", self.structure, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.training_panel = TrainingPanel()
        self.plots = TrainingPlots()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabToolTip(self.tabs.addTab(self.plots, "Training curves"),
                                "Train and test accuracy per epoch, loss and accuracy per step")
        self.analysis = AnalysisTabs(self.tabs, self)
        self.feature_maps, self.confusion = self.analysis.feature_maps, self.analysis.confusion
        self.runs_view = RunsView(runs_dir or settings_mod.read_str(settings_mod.open_settings(),
                                                                   settings_mod.KEY_RUNS_DIR) or None)
        self.tabs.setTabToolTip(self.tabs.addTab(self.runs_view, "Runs"),
                                "Every training run: compare them, follow one running elsewhere")
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.training_panel)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(centre)
        self.canvas_panel = CanvasPanel()
        self.canvas_dock = self._dock("Draw a digit", "canvasDock", self.canvas_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.device_status, self.state_status = dialogs.status_labels(self)
        self._show_device(self.training_panel.device_combo.currentText())
        self.resize(self._default_size())

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(DOCK_FEATURES)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action(file_menu, "&Open checkpoint…", self.files.ask_open, QKeySequence.StandardKey.Open)
        self.save_action = self._action(file_menu, "&Save checkpoint…", self.files.ask_save, QKeySequence.StandardKey.Save)
        file_menu.addSeparator()
        self.export_csv_action = self._action(file_menu, "Export metrics &CSV…", self.files.ask_export_csv)
        self.export_png_action = self._action(file_menu, "Export plot &PNG…", self.files.ask_export_png)
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence("Ctrl+Q"))
        weights_menu = bar.addMenu("&Weights")
        self.pretrained_action = self._action(weights_menu, "Use the &pretrained weights", self.use_pretrained)
        self.pretrained_action.setToolTip("The shipped MNIST CNN weights (99 % test accuracy)")
        self.runs_action = self._action(weights_menu, "Weights of a &run…", lambda: self.tabs.setCurrentWidget(self.runs_view))
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.structure_dock.toggleViewAction())
        view_menu.addAction(self.canvas_dock.toggleViewAction())
        view_menu.addSeparator()
        self.tab_actions = [self._action(view_menu, self.tabs.tabText(i), lambda _c=False, i=i: self.tabs.setCurrentIndex(i),
                                         QKeySequence(f"Ctrl+{i + 1}")) for i in range(self.tabs.count())]
        help_menu = bar.addMenu("&Help")
        self.about_action = self._action(help_menu, "&About cnn-gui", self.show_about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

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
        c.runningChanged.connect(self.analysis.set_blocked)
        self.canvas_panel.controller.inputRead.connect(self.analysis.set_canvas_image)
        self.runs_view.loadWeightsRequested.connect(lambda path: self.open_checkpoint(path))
        self.runs_view.runsDirChanged.connect(
            lambda path: settings_mod.open_settings().setValue(settings_mod.KEY_RUNS_DIR, path))

    # ================================================================== what the tests and benchmarks read
    model = property(lambda self: self.session.model)
    spec = property(lambda self: self.session.spec)
    model_name = property(lambda self: self.session.spec.name)
    history = property(lambda self: self.session.history)
    predictor = property(lambda self: self.canvas_panel.predictor)
    weights_label = property(lambda self: self.canvas_panel.weights_label)
    weights_text = property(lambda self: self.canvas_panel.weights_label.text())
    canvas = property(lambda self: self.canvas_panel.canvas)
    canvas_note = property(lambda self: self.canvas_panel.note)
    prediction_view = property(lambda self: self.canvas_panel.prediction_view)
    canvas_controller = property(lambda self: self.canvas_panel.controller)

    # ================================================================== showing the session
    def _show_session(self, predictor: str = "refresh", tree: bool = True, plots: bool = True) -> None:
        """Every view shows the session's current weights (or clears): tree, plots, canvas, tabs.
        ``plots=False`` keeps the curves (a run's own, per batch too); ``predictor``: "refresh",
        "keep" (the views already have these weights) or "none" (not yet: start-up)."""
        s = self.session
        if tree:
            self.structure.show_tree(build_tree(s.model, s.spec.input_shape), s.model)
            self.structure.set_current_model(s.spec.name, s.spec.title)
            self.training_panel.set_model_input_shape(s.spec.input_shape, s.spec.title)
        self.training_panel.set_resume_epoch(s.resume_epochs())
        if plots:
            self.plots.clear()
            if s.history:
                self.plots.set_history(s.history)
        self._set_weights_text(s.provenance.label())
        if predictor == "refresh":
            self._refresh_predictor()
        elif predictor == "none":
            self.canvas_panel.set_predictor(None)
            self._set_analysis_weights(None)

    def _set_weights_text(self, text: str) -> None:
        self.canvas_panel.set_weights_text(text)
        self.analysis.set_weights_label(text)

    def _refresh_predictor(self, source_model=None) -> None:
        """A fresh frozen copy of ``source_model`` (a run's epoch snapshot) or the current weights."""
        s = self.session
        norm = s.normalization
        snapshot = Predictor(source_model if source_model is not None else s.model, norm.mean, norm.std, norm.classes)
        self._set_analysis_weights(snapshot)
        self.canvas_panel.set_predictor(snapshot, canvas_refusal(s.spec))

    def _set_analysis_weights(self, snapshot: Predictor | None) -> None:
        s = self.session
        self.analysis.set_weights(snapshot, s.spec.input_shape, s.dataset, self.data_override,
                                  self.canvas_panel.weights_label.text(), self.canvas_supported())

    def canvas_supported(self) -> bool:
        return not canvas_refusal(self.session.spec)

    # ================================================================== the model and its weights
    def _idle_or_say(self, what: str) -> bool:
        if self.controller.is_running():
            self.statusBar().showMessage(f"Stop training before {what}", 5000)
            return False
        return True

    def confirm_replace(self, what: str) -> bool:
        """Before ``what`` replaces the current weights: True to go on. Asks only when
        trained weights exist nowhere else (Save / Discard / Cancel)."""
        if not self.session.unsaved:
            return True
        answer = self.ask_discard(what)
        if answer == "save":
            return self.files.ask_save()
        return answer == "discard"

    @Slot(str)
    def request_model(self, name: str) -> bool:
        """Switch to the model ``name`` (a registry name or "file.py:Class"), untrained."""
        if not self._idle_or_say("changing the model") or not self.confirm_replace("Switching the model"):
            self.structure.set_current_model(self.spec.name, self.spec.title)
            return False
        try:
            spec = resolve_user_choice(name)  # the user chose it: a user's file may be imported
            torch.manual_seed(0)
            model = spec.factory()
        except Exception as exc:  # noqa: BLE001 - ModelError, or anything a user's file raises
            self.structure.set_current_model(self.spec.name, self.spec.title)
            self.show_error("Cannot use this model", dialogs.error_text(exc))
            return False
        self.session.new_model(spec, model)
        self._show_session()
        self.training_panel.reset()
        self.statusBar().showMessage(f"Model: {spec.title}", 5000)
        return True

    @Slot(str)
    def reinitialize(self, scheme: str) -> bool:
        if not self._idle_or_say("re-initialising the weights") or not self.confirm_replace("Re-initialising"):
            return False
        try:
            initialize(self.model, scheme)
        except ValueError as exc:
            self.show_error("Cannot initialise", dialogs.error_text(exc))
            return False
        self.session.reinitialize(scheme)
        self._show_session(tree=False)
        return True

    def use_pretrained(self, ask: bool = True) -> bool:
        """The shipped MNIST CNN weights, whatever the window shows now (switches model if needed)."""
        from cnn_gui.core.checkpoints import load_checkpoint, load_weights_into
        from cnn_gui.core.resources import pretrained_checkpoint

        if not self._idle_or_say("changing the weights") or (ask and not self.confirm_replace("Using the pretrained weights")):
            return False
        spec = get_spec(DEFAULT_MODEL)
        switch = self.spec is not spec
        model = spec.factory() if switch else self.model
        try:
            ckpt = load_checkpoint(pretrained_checkpoint())
            candidate = spec.factory()
            load_weights_into(candidate, ckpt)
        except Exception as exc:  # noqa: BLE001 - a damaged install must not keep the window from opening
            self.statusBar().showMessage(f"Pretrained weights not loaded: {dialogs.error_text(exc)}", 10000)
            if self.session.provenance.source is Source.UNTRAINED:
                self.session.current.provenance = Provenance(Source.UNTRAINED, "pretrained file unreadable")
                self._set_weights_text(self.session.provenance.label())
            return False
        with torch.no_grad():
            model.load_state_dict(candidate.state_dict())  # the same object the tree shows
        if switch:
            self.session.new_model(spec, model)
        self.session.adopt_pretrained(model, ckpt)
        self._show_session(tree=switch)
        return True

    # ================================================================== training
    @Slot(object)
    def start_training(self, config: TrainConfig | None = None) -> bool:
        """Start a run with ``config`` (default: the panel's); resumes a loaded session when ticked."""
        from cnn_gui.core.runs import RunWriter

        if self.controller.is_running():
            return False
        panel = self.training_panel
        resume_to = panel.resume_target_epochs() if self.session.resumable else None
        fresh = resume_to is None and panel.start_fresh()
        if fresh and not self.confirm_replace("Training new weights"):
            return False
        try:
            cfg = (config if config is not None else panel.config()).with_(model=self.spec.name).validate()
            if resume_to is not None and config is not None:
                resume_to = max(resume_to, cfg.epochs)
            plan = self.session.plan_run(cfg, fresh=fresh, resume_to=resume_to, data=self.data_override)
        except ValueError as exc:
            self.show_error("Cannot train", dialogs.error_text(exc))
            return False
        self._run_writer = RunWriter(self.runs_view.runs_dir, plan.config.to_dict(), preset=panel.current_preset(),
                                     source="gui", resumed_from=str(plan.checkpoint.path) if plan.checkpoint else None)
        if plan.fresh:  # watch it learn from scratch; the canvas keeps the old weights until an epoch ends
            self.structure.show_tree(self.structure.tree, plan.model)
        self.plots.clear()
        if plan.checkpoint is not None:
            self.plots.set_history(self.history)
        self.controller.start(plan.config, model=plan.model, checkpoint=plan.checkpoint, data=self.data_override,
                              spec=self.spec, callbacks=[self._run_writer])
        self._run_epochs = plan.config.epochs
        panel.set_state("running")
        panel.reset()
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
        self.save_action.setEnabled(True)  # between two batches the weights are consistent: Save works
        self._set_run_state("Paused: File > Save checkpoint saves the run as it stands")

    @Slot()
    def _on_resume(self) -> None:
        self.controller.resume()
        self.save_action.setEnabled(False)
        self._set_run_state("Training")

    def _set_training_ui(self, running: bool) -> None:
        self.canvas_panel.set_training(running)
        self.structure.set_busy(running) if hasattr(self.structure, "set_busy") else None
        self.structure.model_combo.setEnabled(not running)
        self.structure.init_button.setEnabled(not running and self.structure.tree is not None)
        for action in (self.open_action, self.save_action, self.pretrained_action):
            action.setEnabled(not running)

    @Slot(object)
    def _on_started(self, ev: FitStarted) -> None:
        self._run_epochs = ev.epochs
        self.plots.plan_steps(ev.epochs * ev.batches_per_epoch, ev.epochs)
        self.tabs.setCurrentWidget(self.plots)  # Train was clicked to watch the curves
        self._show_device(f"{ev.device_label} · {ev.precision}")
        resumed = f", resumed at epoch {ev.start_epoch}" if ev.start_epoch > 1 or ev.start_batch else ""
        self._set_run_state(f"Training {ev.model} on {ev.dataset}{resumed}")
        self.training_panel.show_message(f"epoch {ev.start_epoch}/{ev.epochs} · {ev.train_size:,} training images, "
                                         f"{ev.batches_per_epoch} batches of {ev.batch_size}")
        self.runs_view.refresh()

    @Slot(object)
    def _on_progress(self, ev: BatchEnded) -> None:
        self.plots.add_batch(ev)
        self.training_panel.show_progress(ev, self._run_epochs)
        if not self.controller.is_paused():
            self._set_run_state(f"Training: epoch {ev.epoch}/{self._run_epochs}")

    @Slot(object)
    def _on_epoch(self, ev: EpochEnded) -> None:
        self.plots.add_epoch(ev)
        self.session.record_epoch(ev)
        self.statusBar().showMessage(f"Epoch {ev.epoch}: train {ev.train_accuracy:.1%}, test {ev.test_accuracy:.1%} "
                                     f"({format_duration(ev.seconds)})", 8000)

    @Slot(object)
    def _on_snapshot(self, arrays: dict) -> None:
        """Weights copied by the training thread at an epoch's end: a new frozen predictor."""
        self._set_weights_text(self.session.provenance.label())
        try:
            model = self.spec.factory()
            model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
        except Exception as exc:  # noqa: BLE001 - should not happen: same architecture
            self.statusBar().showMessage(f"Could not show the new weights: {dialogs.error_text(exc)}", 8000)
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
        writer, self._run_writer = self._run_writer, None
        kept = writer.folder / "checkpoint.safetensors" if writer is not None and writer.folder else None
        kept_in = str(kept) if kept is not None and kept.is_file() and not writer.error else None
        if writer is not None and writer.error:
            self.statusBar().showMessage(f"Run record: {writer.error}", 10000)
        adopted = False
        if trainer is not None and end is not None and trainer.model is not None:
            adopted = self.session.finish_run(trainer, end, kept_in)
        else:
            self.session.run_failed()
        # A completed run's last epoch snapshot is already in every view: no second pass.
        self._show_session(plots=not adopted, predictor="keep" if adopted and end.reason == "completed" else "refresh")
        panel.show_finished(end)
        if end is not None and not adopted and end.reason == "stopped" and kept_in:
            self.statusBar().showMessage(
                "Stopped before an epoch ended: the canvas keeps its tested weights; the stopped run is in the "
                "Runs tab (Load weights continues it)", 15000)
        self._set_run_state({"completed": "Idle: run completed", "stopped": "Idle: stopped"}.get(
            getattr(end, "reason", ""), "Idle: failed" if end is not None else "Idle"))
        self._show_device(panel.device_combo.currentText())
        self.runs_view.refresh()

    def _set_run_state(self, text: str) -> None:
        self.state_status.setText(text)

    def _show_device(self, label: str) -> None:
        self.device_status.setText(f"Device: {label}")

    @Slot(str)
    def _on_device_choice(self, text: str) -> None:
        if not self.controller.is_running():
            self._show_device(text)

    # ================================================================== checkpoints (see checkpoint_flow.py)
    def open_checkpoint(self, path, background: bool = True) -> None:
        self.files.open(path, background=background)

    def save_checkpoint(self, path) -> Path:
        return self.files.save(path)

    # ================================================================== settings and closing
    def _restore_settings(self) -> None:
        s = settings_mod.open_settings()
        key_geometry, key_state = settings_mod.layout_keys(self.screen())
        geometry = settings_mod.read_bytes(s, key_geometry)
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings_mod.read_bytes(s, key_state)
        if state is not None:
            self._restored_state = bool(self.restoreState(state))
        doc = settings_mod.read_json(s, settings_mod.KEY_TRAINING)
        if doc:
            try:
                self.training_panel.set_config(TrainConfig.from_dict(doc))
            except (TypeError, ValueError):
                pass  # settings from another version: the panel keeps its defaults
        preset = settings_mod.read_str(s, settings_mod.KEY_PRESET)
        if preset:
            self.training_panel.select_preset(preset)

    def save_settings(self) -> None:
        s = settings_mod.open_settings()
        key_geometry, key_state = settings_mod.layout_keys(self.screen())
        s.setValue(key_geometry, self.saveGeometry())
        s.setValue(key_state, self.saveState())
        cfg = self.training_panel.config()
        keep = ("dataset", "epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "momentum", "device")
        settings_mod.write_json(s, settings_mod.KEY_TRAINING, {k: v for k, v in cfg.to_dict().items() if k in keep})
        s.setValue(settings_mod.KEY_PRESET, self.training_panel.current_preset() or "")
        s.sync()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop training and every background job, joining their threads (also on quit)."""
        ok = self.controller.shutdown(timeout_ms)
        ok = self.analysis.shutdown(timeout_ms / 1000) and ok
        return self.files.shutdown(timeout_ms / 1000) and ok

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        try:
            self.save_settings()
        except Exception:  # noqa: BLE001 - an unwritable settings file must not keep the window open
            pass
        self.shutdown()
        event.accept()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._restored_state:
                QTimer.singleShot(0, self._default_dock_sizes)
            if self._pretrained_pending:
                QTimer.singleShot(0, self._load_pending_pretrained)

    @Slot()
    def _load_pending_pretrained(self) -> None:
        """The deferred half of start-up, unless the user moved on (other model, a file, training)."""
        pending, self._pretrained_pending = self._pretrained_pending, False
        if (pending and not self._closing and not self.controller.is_running()
                and self.session.provenance.source is Source.UNTRAINED and self.spec.name == DEFAULT_MODEL):
            if not self.use_pretrained(ask=False):
                self._refresh_predictor()

    def _default_size(self) -> QSize:
        want = QSize(1600, 940)
        screen = self.screen()
        if screen is not None:
            avail = screen.availableGeometry().size()
            want = QSize(min(want.width(), avail.width()), min(want.height(), avail.height()))
        return want

    def _default_dock_sizes(self) -> None:
        width = self.width()
        self.resizeDocks([self.structure_dock, self.canvas_dock], [max(300, width * 27 // 100), max(280, width // 4)],
                         Qt.Orientation.Horizontal)

    def sizeHint(self) -> QSize:
        return QSize(1600, 940)

    def about_text(self) -> str:
        return dialogs.about_text(__version__, sys.version.split()[0], torch.__version__)
