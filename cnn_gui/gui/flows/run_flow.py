"""A training run seen from the window: starting it, its progress, its end.

:class:`RunFlow` belongs to the main window. It plans the run with the session (new
weights, current weights, or the loaded session resumed), starts it on the
:class:`TrainingController` with a run folder writer, and turns the controller's signals
into what the window shows; at the end the session decides which weights stay.
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import QObject, Slot

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted

from cnn_gui.gui import dialogs
from cnn_gui.core.formatting import clock_duration as format_duration


class RunFlow(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.writer = None
        self.start_epoch = 1
        self.epochs = 0
        c = window.controller
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.epochEnded.connect(self._on_epoch)
        c.weightsSnapshot.connect(self._on_snapshot)
        c.failed.connect(self._on_failed)
        c.finished.connect(self._on_finished)
        c.rateChanged.connect(self._on_rate)
        c.healthChecked.connect(window.health_view.add)
        panel = window.training_panel
        panel.trainRequested.connect(self.start)
        panel.pauseRequested.connect(self._on_pause)
        panel.resumeRequested.connect(self._on_resume)
        panel.stopRequested.connect(self.stop)
        panel.rateChanged.connect(window.controller.request_rate)

    def resumes(self) -> bool:
        """Whether Train now continues the loaded session (ticked, and there is one)."""
        return self.w.session.resumable and self.w.training_panel.resuming()

    def trains_new_weights(self) -> bool:
        """Whether Train now starts new weights from the seed (not the current ones, not a resume)."""
        return not self.resumes() and self.w.training_panel.start_fresh()

    def plan(self, config: TrainConfig | None = None):
        """Begin the run Train starts with ``config`` (default: the panel's): the loaded
        session continued when ticked, else new or current weights. ValueError (a ConfigError,
        a ModelError) when it cannot."""
        w = self.w
        cfg = (config if config is not None else w.training_panel.config()).with_(model=w.spec.name).validate()
        if self.resumes():  # the epoch count is the run's total (core/training/plan.py)
            return w.session.plan_resume(cfg.epochs, device=cfg.device, max_batches=cfg.max_batches,
                                         report_interval=cfg.report_interval)
        return w.session.plan_run(cfg, fresh=self.trains_new_weights(), data=w.data_override)

    @Slot(object)
    def start(self, config: TrainConfig | None = None) -> bool:
        """Start a run with ``config`` (default: the panel's); continues a loaded session when ticked."""
        w = self.w
        if w.controller.is_running():
            return False
        if not w.lr_find.idle():  # a cancelled range test still finishing its batch
            w.statusBar().showMessage("The learning-rate finder is stopping; press Train again in a moment", 5000)
            return False
        panel = w.training_panel
        if self.trains_new_weights() and not w.confirm_replace("Training new weights"):
            return False
        try:
            plan = self.plan(config)
        except ValueError as exc:
            w.show_error("Cannot train", dialogs.error_text(exc))
            return False
        self.writer = plan.run_writer(w.runs_view.runs_dir, source="gui", preset=panel.current_preset())
        w.controller.start(plan, w.data_override, callbacks=[self.writer], watch=w.watch.pins_for_run())
        self.epochs = plan.config.epochs
        self.start_epoch = 1
        panel.set_state("running")
        panel.reset()
        w.health_view.clear()
        panel.show_message("Loading data and preparing the run…")
        self._set_training_ui(True)
        w.set_run_state("Starting…")
        return True

    @Slot()
    def stop(self) -> None:
        w = self.w
        if w.controller.is_running():
            w.controller.stop()
            w.set_run_state("Stopping…")

    @Slot()
    def _on_pause(self) -> None:
        w = self.w
        w.controller.pause()
        w.save_action.setEnabled(True)  # between two batches the weights are consistent: Save works
        w.set_run_state("Paused: File > Save checkpoint saves the run as it stands")

    @Slot()
    def _on_resume(self) -> None:
        w = self.w
        w.controller.resume()
        w.save_action.setEnabled(False)
        w.set_run_state("Training")

    def _set_training_ui(self, running: bool) -> None:
        w = self.w
        w.canvas_panel.set_training(running)
        w.structure.set_busy(running)
        for action in (w.open_action, w.save_action, w.pretrained_action):
            action.setEnabled(not running)

    @Slot(object)
    def _on_started(self, ev: FitStarted) -> None:
        w = self.w
        self.epochs = ev.epochs
        self.start_epoch = ev.start_epoch  # the finished text names the epochs this run trained
        trainer = w.controller.trainer
        if trainer is not None:
            w.session.run_started(trainer)  # a folder's classes and preparation; its 3-output network
            if trainer.data.note:  # unreadable images skipped; a resumed folder that changed since
                w.statusBar().showMessage(f"{trainer.data.title}: {trainer.data.note}", 20000)
        w.plots.plan_steps(ev.epochs * ev.batches_per_epoch, ev.epochs)
        w.tabs.setCurrentWidget(w.plots)  # Train was clicked to watch the curves
        w.show_device(f"{ev.device_label} · {ev.precision}")
        resumed = f", resumed at epoch {ev.start_epoch}" if ev.start_epoch > 1 or ev.start_batch else ""
        w.set_run_state(f"Training {ev.model} on {ev.dataset}{resumed}")
        w.training_panel.show_message(f"epoch {ev.start_epoch}/{ev.epochs} · {ev.train_size:,} training images, "
                                         f"{ev.batches_per_epoch} batches of {ev.batch_size}")
        w.runs_view.refresh()

    @Slot(object)
    def _on_progress(self, ev: BatchEnded) -> None:
        w = self.w
        w.plots.add_batch(ev)
        w.training_panel.show_progress(ev, self.epochs)
        if not w.controller.is_paused():
            w.set_run_state(f"Training: epoch {ev.epoch}/{self.epochs}")

    @Slot(object)
    def _on_epoch(self, ev: EpochEnded) -> None:
        w = self.w
        w.plots.add_epoch(ev)
        w.session.record_epoch(ev)
        w.statusBar().showMessage(f"Epoch {ev.epoch}: train {ev.train_accuracy:.1%}, test {ev.test_accuracy:.1%} "
                                     f"({format_duration(ev.seconds)})", 8000)

    @Slot(object)
    def _on_snapshot(self, arrays: dict) -> None:
        """Weights copied by the training thread at an epoch's end: a new frozen predictor, shown
        unless the time slider shows a snapshot (then kept for its Live)."""
        w = self.w
        try:
            model = w.spec.factory()
            model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
        except Exception as exc:  # noqa: BLE001 - should not happen: same architecture
            w.statusBar().showMessage(f"Could not show the new weights: {dialogs.error_text(exc)}", 8000)
            return
        predictor = w.session.predictor(model)
        if w.time.keep_live(predictor):
            w.show_predictor(predictor, w.session.provenance.label())

    @Slot(object)
    def _on_rate(self, ev) -> None:
        """A rate typed during the run, now applied: marked on the curves (run.json records it)."""
        self.w.plots.mark_rate(ev.step, ev.lr)
        self.w.statusBar().showMessage(f"Learning rate {ev.lr:g} from step {ev.step:,} (it was {ev.previous:g})", 10000)

    @Slot(object)
    def _on_failed(self, ev: FitFailed) -> None:
        w = self.w
        w.set_run_state("Failed")
        w.show_error("Training failed", f"{ev.message}\n\n{ev.hint}")

    @Slot(object)
    def _on_finished(self, end: FitEnded | None) -> None:
        w = self.w
        panel = w.training_panel
        panel.set_state("idle")
        self._set_training_ui(False)
        trainer = w.controller.last_trainer
        writer, self.writer = self.writer, None
        kept = writer.folder / "checkpoint.safetensors" if writer is not None and writer.folder else None
        kept_in = str(kept) if kept is not None and kept.is_file() and not writer.error else None
        if writer is not None and writer.error:
            w.statusBar().showMessage(f"Run record: {writer.error}", 10000)
        adopted = False
        if trainer is not None and end is not None and trainer.model is not None:
            adopted = w.session.finish_run(trainer, end, kept_in)  # the views follow the session's change
        else:
            w.session.run_failed()
        panel.show_finished(end, self.start_epoch)
        if end is not None and not adopted and end.reason == "stopped" and kept_in:
            w.statusBar().showMessage(
                "Stopped before an epoch ended: the canvas keeps its tested weights; the stopped run is in the "
                "Runs tab (Load weights continues it)", 15000)
        w.set_run_state({"completed": "Idle: run completed", "stopped": "Idle: stopped"}.get(
            getattr(end, "reason", ""), "Idle: failed" if end is not None else "Idle"))
        w.show_device(panel.device_combo.currentText())
        w.runs_view.refresh()
