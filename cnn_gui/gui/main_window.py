"""The main window: layout, menus, dialogs and wiring. The state lives in a core Session.

Left dock: the network's modules and parameters (:class:`StructurePanel`). Centre: the
training settings (:class:`TrainingPanel`) above the tabs (curves, feature maps, test
set, runs). Right dock: the canvas and what the network reads in it (:class:`CanvasPanel`).

Which model, which weights, where they came from, their history and normalisation, and
what a run does to them: :class:`~cnn_gui.core.session.Session`. The window asks it and
shows the answer. Training runs on the :class:`TrainingController`'s thread; the canvas
and the analysis tabs use frozen CPU copies (:class:`Predictor`). Every run is recorded
in a run folder (:mod:`cnn_gui.core.runs.writer`), so its weights are never lost.

Hooks for tests and benchmarks: ``data_override`` (an ImageDataset used instead of
loading the configured one), ``start_training(config)``, ``open_checkpoint(path,
background=...)``, ``save_checkpoint(path)``, and the dialogs (``show_error``,
``ask_open_path``, ``ask_save_path``, ``ask_model_file``, ``ask_discard``), which tests
replace.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from cnn_gui import __version__
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.model.structure import build_tree
from cnn_gui.core.session import EVERYTHING, Session, SessionChange

from cnn_gui.gui import dialogs
from cnn_gui.gui import settings as settings_mod
from cnn_gui.gui import runs_tab, window_layout
from cnn_gui.gui.panels.canvas_panel import CanvasPanel
from cnn_gui.gui.panels.health_view import HealthView
from cnn_gui.gui.flows.checkpoint_flow import CheckpointFlow
from cnn_gui.gui.flows.model_flow import ModelFlow
from cnn_gui.gui.analysis.tabs import AnalysisTabs, replace_page
from cnn_gui.gui.panels.training_plots.view import TrainingPlots
from cnn_gui.gui.flows.lr_find_flow import LrFindFlow
from cnn_gui.gui.flows.run_flow import RunFlow
from cnn_gui.gui.flows.time_flow import TimeFlow
from cnn_gui.gui.flows.watch_flow import WatchFlow
from cnn_gui.gui.analysis.watch_view import WatchView
from cnn_gui.gui.panels.time_slider import TimeSlider
from cnn_gui.gui.panels.structure.panel import StructurePanel
from cnn_gui.gui.panels.training_panel import TrainingPanel
from cnn_gui.gui.background.training import TrainingController

if TYPE_CHECKING:
    from cnn_gui.gui.panels.runs.view import RunsView

DEFAULT_MODEL = "mnist-cnn"
RUN_NEWS_MS = 15000  # how long the status bar says how the last run ended
DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)


class MainWindow(dialogs.DialogsMixin, QMainWindow):
    """cnn-gui's window. See the module docstring for the parts and the test hooks."""

    checkpointOpened = Signal(str)  # path, after a checkpoint was opened and swapped in
    openFinished = Signal(bool)  # after every open_checkpoint(): True when it was swapped in
    modelSwitched = Signal(bool)  # after every request_model(): True when the model was swapped in
    firstPainted = Signal()  # the window's first paint: it is on screen (tree and weights in it)
    backTabsBuilt = Signal()  # back_tabs_later: the analysis tabs and Runs built after the first paint

    def __init__(self, load_pretrained: bool = True, data_override=None, parent: QWidget | None = None,
                 *, runs_dir=None, back_tabs_later: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("cnn-gui")
        self.data_override = data_override
        self.controller = TrainingController(self)
        self.session, unread = self._first_session(load_pretrained)
        self.files = CheckpointFlow(self)
        self.models = ModelFlow(self)  # request_model: a user's file loads off the GUI thread
        self._closing = False
        self._shown_once = False
        self._restored_state = False

        self._back_tabs_later = back_tabs_later
        self._build_ui(runs_dir)
        self._painted = False
        # The centre's tab bar, not the tree: the user can close the Network dock, not the centre.
        self.tabs.tabBar().installEventFilter(self)
        self._build_menus()
        self._wire()
        self._restore_settings()
        self.session.changed.connect(self._on_model_changed)
        self._show_session(EVERYTHING)
        if unread is not None:
            self._pretrained_unread(unread)
        self.set_run_state("Idle")

    @staticmethod
    def _first_session(pretrained: bool) -> tuple[Session, Exception | None]:
        """The shipped weights (unreadable: the default model untrained, and why), or untrained."""
        if pretrained:
            try:
                return Session.of_pretrained(), None
            except Exception as exc:  # noqa: BLE001 - said in the status bar once the window is up
                return Session.of_model(DEFAULT_MODEL), exc
        return Session.of_model(DEFAULT_MODEL), None

    # ================================================================== construction
    def _build_ui(self, runs_dir) -> None:
        self.structure = StructurePanel()
        self.structure_dock = self._dock("Network", "structureDock", self.structure, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.training_panel = TrainingPanel()
        self.plots = TrainingPlots()
        self.time_slider = TimeSlider()
        self.plots.add_footer(self.time_slider)
        self.tabs = self._tab_widget()
        self.tabs.setTabToolTip(self.tabs.addTab(self.plots, "Curves"),
                                "Training curves: train and test accuracy per epoch, loss and accuracy per step")
        self.health_view = HealthView()
        self.tabs.setTabToolTip(self.tabs.addTab(self.health_view, "Health"),
                                "How each layer trains: update ratio, gradient and weight norms, dead ReLUs, alerts")
        self.watch_view = WatchView()
        self.tabs.setTabToolTip(self.tabs.addTab(self.watch_view, "Watch"),
                                "Pinned images: how the network reads each one as it trains")
        self.analysis = AnalysisTabs(self.tabs, self, later=self._back_tabs_later)
        self._runs_dir_asked = runs_dir
        self._runs_view: RunsView | None = None
        self._runs_placeholder = QWidget()
        self.tabs.setTabToolTip(self.tabs.addTab(self._runs_placeholder, "Runs"),
                                "Every training run: compare them, follow one running elsewhere")
        if not self._back_tabs_later:
            self._build_runs_view()
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
        self.show_device(self.training_panel.device_combo.currentText())
        self.resize(self._default_size())

    # The analysis tabs and Runs are built after the window is first painted when
    # back_tabs_later (cnn-gui's start-up: ~0.1 s sooner on screen); reading one builds it.
    feature_maps = property(lambda self: self.analysis.feature_maps)
    confusion = property(lambda self: self.analysis.confusion)

    @property
    def runs_view(self) -> RunsView:
        if self._runs_view is None:
            self._build_runs_view()
        return self._runs_view

    def _build_runs_view(self) -> None:
        self._runs_view = runs_tab.build_runs_view(self, self._runs_dir_asked)
        replace_page(self.tabs, self._runs_placeholder, self._runs_view)

    def build_back_tabs(self) -> None:
        """The tabs left for after the first paint (``back_tabs_later``), built now; idempotent.
        After that paint they come in two turns of the event loop (the analysis views, then
        Runs), so that the GUI answers in between; ``backTabsBuilt`` says when both are there."""
        self.analysis.build()
        self.runs_view  # noqa: B018 - built on reading
        self.backTabsBuilt.emit()

    def _build_back_tabs_in_turns(self) -> None:
        self.analysis.build()
        QTimer.singleShot(0, self.build_back_tabs)

    @staticmethod
    def _tab_widget() -> QTabWidget:
        """The centre's tabs, every one in view at once: short names, and when the centre is
        narrow (1280x720, or docks dragged wider) the names elide ("Embed…", full name and
        what the tab shows in its tooltip) instead of hiding tabs behind scroll arrows."""
        tabs = QTabWidget()
        tabs.setDocumentMode(True)
        tabs.setUsesScrollButtons(False)
        tabs.setElideMode(Qt.TextElideMode.ElideRight)
        # Ten tabs: with the style's own padding their names elide at 1366x768 already.
        tabs.tabBar().setStyleSheet(
            "QTabBar::tab { padding: 4px 6px; margin-right: 1px; border: 1px solid #c8c8c8;"
            " border-bottom: none; background: #e6e6e6; }"
            "QTabBar::tab:selected { background: white; border-top: 2px solid #3875d7; }"
            "QTabBar::tab:hover:!selected { background: #f2f2f2; }")
        return tabs

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
        self.export_model_action = self._action(file_menu, "Export &model (ONNX, TorchScript)…",
                                                self.files.ask_export_model)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence("Ctrl+Q"))
        weights_menu = bar.addMenu("&Weights")
        self.pretrained_action = self._action(weights_menu, "Use the &pretrained weights", lambda: self.use_pretrained())
        self.pretrained_action.setToolTip("The shipped MNIST CNN weights (99 % test accuracy)")
        self._action(weights_menu, "Weights of a &run…", lambda: self.tabs.setCurrentWidget(self.runs_view))
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.structure_dock.toggleViewAction())
        view_menu.addAction(self.canvas_dock.toggleViewAction())
        view_menu.addSeparator()
        self.tab_actions = [self._action(view_menu, self.tabs.tabText(i), lambda _c=False, i=i: self.tabs.setCurrentIndex(i),
                                         QKeySequence(f"Ctrl+{(i + 1) % 10}")) for i in range(self.tabs.count())]  # the tenth: Ctrl+0
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About cnn-gui", self.show_about)

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
        self.runs = RunFlow(self)  # Train, Pause, Stop and the run's signals
        self.lr_find = LrFindFlow(self)  # the Find… button beside the learning rate
        self.time = TimeFlow(self)  # the slider under the curves: back through the run's snapshots
        self.watch = WatchFlow(self)  # the Watch tab: pinned images read as the network trains
        self.training_panel.device_combo.currentTextChanged.connect(self._on_device_choice)
        self.controller.runningChanged.connect(self.analysis.set_blocked)
        self.analysis.connect_tree(self.structure)
        self.canvas_panel.controller.inputRead.connect(
            lambda image: self.analysis.set_canvas_image(image, self.canvas_panel.source_text()))

    # ================================================================== what the tests and benchmarks read
    model = property(lambda self: self.session.model)
    spec = property(lambda self: self.session.spec)
    history = property(lambda self: self.session.history)
    predictor = property(lambda self: self.canvas_panel.predictor)
    weights_label = property(lambda self: self.canvas_panel.weights_label)
    weights_text = property(lambda self: self.canvas_panel.weights_label.text())
    canvas = property(lambda self: self.canvas_panel.canvas)
    canvas_note = property(lambda self: self.canvas_panel.note)
    prediction_view = property(lambda self: self.canvas_panel.prediction_view)

    # ================================================================== showing the session
    def _on_model_changed(self, change: SessionChange) -> None:
        """The session changed: every view shows its current weights (the one place that redraws them).

        A view that fails to redraw is the view's bug, not the action's (which happened): it is
        said in the status bar and logged."""
        try:
            self._show_session(change)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            logging.getLogger(__name__).exception("redrawing after a session change failed")
            self.statusBar().showMessage(f"Could not show the new weights: {dialogs.error_text(exc)}", 10000)

    def _show_session(self, change: SessionChange) -> None:
        s = self.session
        if change.tree:
            same = change.same_structure and self.structure.tree is not None
            tree = (self.structure.tree if same
                    else self.models.tree_for(s.model) or build_tree(s.model, s.spec.input_shape))
            self.structure.show_tree(tree, s.model)
            self.structure.set_current_model(s.spec.name, s.spec.title)
            self.training_panel.set_model_input_shape(s.spec.input_shape, s.spec.title)
        if change.resume:
            self.training_panel.set_resume_epoch(s.resume_epochs(), s.default_resume_total(), s.resume_point())
        if change.history:  # other weights with their own history, or a new run
            self.plots.clear()
            self.health_view.clear()  # the looks of a run that did not make these weights (another model's)
            if s.history:
                self.plots.set_history(s.history)
            if change.weights:  # the bar described the previous ones: "Done: … test 97.7 %"
                self.training_panel.reset()
        if change.weights:
            self.time.follow_weights()  # new weights: live, and the timeline of their run
        if (change.weights or change.label) and self.time.live:  # else the label names the snapshot shown
            self.set_weights_text(s.provenance.label())
        if change.weights:
            self.show_weights_snapshot()

    def set_weights_text(self, text: str) -> None:
        """The label that says which weights answer (canvas and analysis tabs)."""
        self.canvas_panel.set_weights_text(text)
        self.analysis.set_weights_label(text)

    def show_weights_snapshot(self, source_model=None) -> None:
        """Predictions and analysis views from a fresh frozen copy of ``source_model`` (a run's
        epoch snapshot) or of the current weights."""
        self.show_predictor(self.session.predictor(source_model))

    def show_predictor(self, predictor: Predictor, label: str | None = None) -> None:
        """``predictor`` in the canvas and every analysis view; ``label`` says which weights
        answer (a snapshot: "Weights: snapshot, step 200 of 1,800, epoch 1"), default: as they are."""
        if label is not None:
            self.set_weights_text(label)
        self._set_analysis_weights(predictor)
        self.canvas_panel.set_predictor(predictor)
        self.canvas_dock.setWindowTitle(self.canvas_panel.title())
        self.watch.weights_shown(predictor)

    def _set_analysis_weights(self, snapshot: Predictor | None) -> None:
        s = self.session
        self.analysis.set_weights(snapshot, s.spec.input_shape, s.dataset, self.data_override,
                                  self.canvas_panel.weights_label.text())

    # ================================================================== the model and its weights
    def idle_or_say(self, what: str) -> bool:
        """True when no run is training; else says "Stop training before ``what``" in the status bar."""
        if self.controller.is_running():
            self.statusBar().showMessage(f"Stop training before {what}", 5000)
            return False
        return True

    @property
    def closing(self) -> bool:
        return self._closing

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
        """Switch to the model ``name`` (a registry name or "file.py:Class"), untrained.

        A built-in model is switched to at once (True). A user's file is imported and built
        off the GUI thread, with a bound (:mod:`~cnn_gui.gui.flows.model_flow`): True says the
        load started. ``modelSwitched(bool)`` follows every call with the outcome; False
        when refused or failed (said in one line), the current model staying.
        """
        return self.models.request(name)

    @Slot(str)
    def reinitialize(self, scheme: str) -> bool:
        if not self.idle_or_say("re-initialising the weights") or not self.confirm_replace("Re-initialising"):
            return False
        try:
            self.session.reinitialize(scheme)
        except ValueError as exc:
            self.show_error("Cannot initialise", dialogs.error_text(exc))
            return False
        return True

    def use_pretrained(self, ask: bool = True) -> bool:
        """The shipped MNIST CNN weights, whatever the window shows now (switches model if needed)."""
        if not self.idle_or_say("changing the weights") or (ask and not self.confirm_replace("Using the pretrained weights")):
            return False
        try:
            self.session.use_pretrained()
        except Exception as exc:  # noqa: BLE001 - a damaged install must not keep the window from opening
            self._pretrained_unread(exc)
            return False
        return True

    def _pretrained_unread(self, exc: Exception) -> None:
        self.statusBar().showMessage(f"Pretrained weights not loaded: {dialogs.error_text(exc)}", 10000)
        self.session.pretrained_unreadable()

    # ================================================================== training (see run_flow.py)
    def start_training(self, config: TrainConfig | None = None) -> bool:
        """Start a run with ``config`` (default: the panel's); resumes a loaded session when ticked."""
        return self.runs.start(config)

    def stop_training(self) -> None:
        self.runs.stop()

    def set_run_state(self, text: str) -> None:
        """The run's state on the right of the status bar ("Training: epoch 2/3", "Idle").

        How the last run ended ("Idle: failed") is news, not state: the label says "Idle"
        and "Last run: failed" shows as a message for RUN_NEWS_MS, unless a message already
        shows (one that says more, such as why a stopped run's weights were not kept).
        """
        state, sep, news = text.partition(": ")
        if state == "Idle" and sep:
            text = state
            if not self.statusBar().currentMessage():
                self.statusBar().showMessage(f"Last run: {news.removeprefix('run ')}", RUN_NEWS_MS)
        self.state_status.setText(text)

    def show_device(self, label: str) -> None:
        self.device_status.setText(f"Device: {label}")

    @Slot(str)
    def _on_device_choice(self, text: str) -> None:
        if not self.controller.is_running():
            self.show_device(text)

    # ================================================================== checkpoints (see checkpoint_flow.py)
    def open_checkpoint(self, path, background: bool = True) -> None:
        self.files.open(path, background=background)

    def save_checkpoint(self, path) -> Path:
        return self.files.save(path)

    # ================================================================== settings and closing
    def _restore_settings(self) -> None:
        s = settings_mod.open_settings()
        self._restored_state = window_layout.restore_saved_layout(self, s)
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
        keep = ("dataset", "epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "momentum", "device",
                "augment")
        settings_mod.write_json(s, settings_mod.KEY_TRAINING, {k: v for k, v in cfg.to_dict().items() if k in keep})
        s.setValue(settings_mod.KEY_PRESET, self.training_panel.current_preset() or "")
        s.sync()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop training and every background job, joining their threads (also on quit).

        A user's model file still importing and a runs-folder read still blocked are not
        waited for (such a thread cannot be killed, and none calls back): False then.
        """
        ok = self.controller.shutdown(timeout_ms)
        ok = self.analysis.shutdown(timeout_ms / 1000) and ok
        ok = self.models.shutdown(0.0) and ok
        ok = self.lr_find.shutdown(timeout_ms / 1000) and ok
        ok = self.time.shutdown(timeout_ms / 1000) and ok
        ok = self.watch.shutdown(timeout_ms / 1000) and ok
        if self._runs_view is not None:
            ok = self._runs_view.shutdown(min(1.0, timeout_ms / 1000)) and ok
        return self.files.shutdown(timeout_ms / 1000) and ok

    def closeEvent(self, event: QCloseEvent) -> None:
        # Weights that exist nowhere else are asked about, as before any other replacement. A
        # run still training is stopped by shutdown() and keeps its checkpoint in its run folder.
        if not self._closing and not self.controller.is_running() and not self.confirm_replace("Quitting"):
            event.ignore()
            return
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

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if not self._painted and event.type() == QEvent.Type.Paint and watched is self.tabs.tabBar():
            self._painted = True
            watched.removeEventFilter(self)
            self.firstPainted.emit()
            if self._back_tabs_later:  # after this paint is on screen
                QTimer.singleShot(0, self._build_back_tabs_in_turns)
        return super().eventFilter(watched, event)

    def _default_size(self) -> QSize:
        return window_layout.default_size(self.screen())

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.structure_dock, self.canvas_dock], window_layout.default_dock_widths(self.width()),
                         Qt.Orientation.Horizontal)

    def sizeHint(self) -> QSize:
        return QSize(window_layout.DEFAULT_SIZE)

    def about_text(self) -> str:
        return dialogs.about_text(__version__, sys.version.split()[0], torch.__version__)
