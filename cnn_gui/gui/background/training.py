"""Training off the GUI thread: one run at a time on a thread of its own.

:class:`TrainingController` starts a ``threading.Thread`` that loads the dataset (no file
I/O on the GUI thread), builds a :class:`~cnn_gui.core.training.engine.Trainer` and calls its
blocking ``fit()``. The training thread hands each report to the controller through one
private queued signal, and the controller emits its public signals on the GUI thread: so
every receiver, a lambda or a test's ``waitSignal`` included, runs on the GUI thread (a
plain callable connected to a signal emitted on another thread would run on that thread).
Reports carry the engine's frozen event dataclasses (plain numbers) or numpy arrays,
never tensors.

A run that fails before it trains (its data cannot be downloaded or read, the model cannot
take them) is told to the run's callbacks as the engine tells its own failures (a
FitFailed, then a FitEnded): its run folder says *failed* and why.

Stop and pause go through the run's :class:`~cnn_gui.core.training.control.RunControl`, created
before the thread starts and handed to the Trainer, so a Stop clicked while the data is
still loading counts. They are plain calls on thread-safe flags, never queued slots: the
training thread is busy inside ``fit()`` and would not process a queued call.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from cnn_gui.core.errors import as_sentence, describe
from cnn_gui.core.memory import give_back_freed_memory
from cnn_gui.core.training.control import RunControl
from cnn_gui.core.training.plan import RunPlan, build_trainer, load_run_data
from cnn_gui.core.analysis.watch import LiveWatch
from cnn_gui.core.events import (BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted, HealthChecked, RateChanged,
                                  SnapshotSaved)

if TYPE_CHECKING:
    from torch import nn

    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.training.engine import Trainer

PROGRESS_MIN_INTERVAL = 0.2  # seconds: at most 5 progress signals a second; each one repaints widgets
# The watch list is read with a progress report at most this often: 16 images through the
# tutorial CNN cost ~4 ms of the training thread on 2 cores (benchmarks/learning_cost.py).
WATCH_MIN_INTERVAL = 0.5
THREAD_NAME = "cnn-gui-training"


def state_dict_arrays(model: "nn.Module") -> dict:
    """``{name: numpy array}`` copies of ``model.state_dict()`` (contiguous, on the CPU)."""
    module = getattr(model, "_orig_mod", model)
    out = {}
    for name, tensor in module.state_dict().items():
        t = tensor.detach()
        if t.device.type != "cpu":
            t = t.to("cpu")
        out[name] = t.contiguous().numpy().copy()
    return out


# What to do next when a run fails before it trains, by the kind of error (its own hint comes first).
FAILURE_HINTS = {
    "DatasetError": ("Pick another dataset: a download needs the network, an image folder one subfolder "
                     "of images per class."),
    "ConfigError": "Change the training settings and try again.",
    "CheckpointError": "Open another checkpoint, or untick 'Continue session'.",
    "DeviceError": "Choose another device.",
}


def failure(exc: BaseException) -> FitFailed:
    """A failure before ``fit()`` (loading the data, building the trainer) as the engine reports its own."""
    message, hint = describe(exc)
    return FitFailed("error", as_sentence(message),
                     hint or FAILURE_HINTS.get(type(exc).__name__, "Nothing was trained; see the message."))


class TrainingController(QObject):
    """One training run at a time on a thread of its own; its signals arrive on the GUI thread.

    ``start()`` returns at once; ``finished`` always arrives once per run (also after a
    failure). After ``finished``, :attr:`last_trainer` is the run's Trainer (history,
    position, optimizer state) and ``start()`` may be called again.

    Signals: started(FitStarted), progress(BatchEnded, at most 10 a second),
    epochEnded(EpochEnded), weightsSnapshot(dict[str, numpy.ndarray]) at each epoch's
    end, failed(FitFailed), finished(FitEnded | None), runningChanged(bool).
    """

    started = Signal(object)
    progress = Signal(object)
    epochEnded = Signal(object)
    weightsSnapshot = Signal(object)
    failed = Signal(object)
    finished = Signal(object)
    runningChanged = Signal(bool)
    rateChanged = Signal(object)  # RateChanged: a rate set during the run, applied from its step
    healthChecked = Signal(object)  # HealthChecked: a look at each layer's health (core/training/health.py)
    snapshotSaved = Signal(object)  # SnapshotSaved: the run kept its weights at a step (core/runs/snapshots.py)
    watchRead = Signal(int, object)  # (step, probabilities (pins, classes)): the watch list read by the live model
    _report = Signal(int, str, object)  # (run id, public signal name, payload), from the training thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._control: RunControl | None = None
        self._trainer: "Trainer | None" = None
        self._run_id = 0
        self._running = False
        self._last_progress = 0.0
        self._last_watch = 0.0
        self.last_trainer: "Trainer | None" = None
        self.last_end: FitEnded | None = None
        self._report.connect(self._on_report)  # queued: the controller lives on the GUI thread

    # -- public API ------------------------------------------------------------------------
    def start(self, plan: RunPlan, data: "ImageDataset | None" = None, *, callbacks=(), watch=None) -> None:
        """Train ``plan`` (from the session) on ``data`` (None: loaded on the training thread);
        ``watch``: the pinned images (core/analysis/watch.py), read by the live model with the
        progress reports (``watchRead``)."""
        if self._running:
            raise RuntimeError("a training run is already in progress")
        self._run_id += 1
        control = RunControl()
        self._control, self._trainer = control, None
        self._running = True
        self.last_end = None
        self.last_trainer = None  # a run that ends before it has a trainer must not get the last run's
        job = (self._run_id, plan, data, list(callbacks), control, list(watch or ()))
        thread = threading.Thread(target=self._run, args=job, name=THREAD_NAME, daemon=True)
        self._thread = thread
        self.runningChanged.emit(True)
        thread.start()

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()

    def pause(self) -> None:
        if self._control is not None and self._running:
            self._control.pause()

    def resume(self) -> None:
        if self._control is not None:
            self._control.resume()

    def request_rate(self, rate: float) -> bool:
        """Train the running run with learning rate ``rate`` from its next batch (``rateChanged``
        follows once applied). False when no run is going."""
        if self._control is None or not self._running:
            return False
        self._control.request_rate(rate)
        return True

    def is_running(self) -> bool:
        return self._running

    def is_paused(self) -> bool:
        return self._running and self._control is not None and self._control.paused

    @property
    def trainer(self) -> "Trainer | None":
        """The running Trainer (don't touch its model while running), else the last one."""
        return self._trainer if self._trainer is not None else self.last_trainer

    def threads_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop any run and join its thread. True when no training thread is left running."""
        self.stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_ms / 1000)
            if thread.is_alive():
                return False
        if self._running:
            self._finish(self._run_id, self.last_end)
        return True

    # -- the training thread ------------------------------------------------------------------
    def _run(self, run_id: int, plan: RunPlan, data, callbacks, control: RunControl, watch) -> None:
        end: FitEnded | None = None
        started = time.perf_counter()
        try:
            data = load_run_data(plan, cancel=lambda: control.stopped, override=data)
            trainer = build_trainer(plan, data, [self._relay(callbacks, run_id, watch)], control, relayed=callbacks)
            self._trainer = trainer
            if control.stopped:
                end = FitEnded("stopped", trainer.position.epoch, trainer.position.step,
                               time.perf_counter() - started,
                               trainer.history[-1]["test_accuracy"] if trainer.history else None)
            else:
                end = trainer.fit()
            trainer.release_data()  # the window keeps this trainer for Save: not its images
        except Exception as exc:  # noqa: BLE001 - a ConfigError/DatasetError/ModelError/CheckpointError before fit
            if not control.stopped or not _is_cancel(exc):
                failed = failure(exc)
                self._report.emit(run_id, "failed", failed)
                end = FitEnded("failed", 0, 0, time.perf_counter() - started, None)
                # The callbacks hear it as the engine's own failures: the run folder's writer
                # records a run that failed before it trained (run.json: failed, and why).
                _tell(callbacks, failed, end)
            else:
                end = FitEnded("stopped", 0, 0, time.perf_counter() - started, None)
        finally:
            self._report.emit(run_id, "finished", end)

    def _relay(self, callbacks, run_id: int, pins=None):
        watching: list[LiveWatch] = []  # made once the trainer (its data, its network) is known

        def read_watch(step: int) -> None:
            try:
                if not watching:
                    watching.append(LiveWatch(pins, self._trainer.data, self._trainer.spec.input_shape))
                probs = watching[0].read(self._trainer.model)
            except Exception:  # noqa: BLE001 - a watch the network cannot read never stops the run
                logging.getLogger(__name__).exception("the watch list could not be read; not read again this run")
                pins.clear()
                return
            if probs is not None:
                self._report.emit(run_id, "watchRead", (step, probs))

        def on_event(event) -> None:  # the engine's callback, on the training thread
            for cb in callbacks:
                cb(event)
            if isinstance(event, BatchEnded):
                now = time.perf_counter()
                if event.batch >= event.batches_per_epoch or now - self._last_progress >= PROGRESS_MIN_INTERVAL:
                    self._last_progress = now
                    self._report.emit(run_id, "progress", event)
                    if pins and self._trainer is not None and now - self._last_watch >= WATCH_MIN_INTERVAL:
                        self._last_watch = now  # between two optimizer steps, on the thread that owns the model
                        read_watch(event.step)
            elif isinstance(event, EpochEnded):
                self._report.emit(run_id, "epochEnded", event)
                if self._trainer is not None:
                    # Copied here, between two optimizer steps, on the thread that owns them.
                    self._report.emit(run_id, "weightsSnapshot", state_dict_arrays(self._trainer.model))
            elif isinstance(event, FitStarted):
                self._last_progress = self._last_watch = 0.0
                self._report.emit(run_id, "started", event)
            elif isinstance(event, FitFailed):
                self._report.emit(run_id, "failed", event)
            elif isinstance(event, RateChanged):
                self._report.emit(run_id, "rateChanged", event)
            elif isinstance(event, HealthChecked):
                self._report.emit(run_id, "healthChecked", event)
            elif isinstance(event, SnapshotSaved):
                self._report.emit(run_id, "snapshotSaved", event)
            # FitEnded: fit() returns it; _run() reports it once.
        return on_event

    # -- back on the GUI thread ---------------------------------------------------------------
    @Slot(int, str, object)
    def _on_report(self, run_id: int, name: str, payload) -> None:
        if run_id != self._run_id or not self._running:
            return  # a run that shutdown() has already ended
        if name == "finished":
            self._finish(run_id, payload)
        elif name == "watchRead":
            self.watchRead.emit(*payload)
        else:
            getattr(self, name).emit(payload)

    def _finish(self, run_id: int, end) -> None:
        if self._trainer is not None:
            self.last_trainer = self._trainer
        self._trainer = None
        self._control = None
        self.last_end = end
        self._running = False
        self.runningChanged.emit(False)
        self.finished.emit(end)
        # What the run freed (batches, activations, its thread's caches) back to the system,
        # once the listeners have let go of it: else each run leaves 30-110 MB (core/memory.py).
        QTimer.singleShot(0, lambda: give_back_freed_memory(collect=True))


def _tell(callbacks, *events) -> None:
    """``events`` to each callback, on the training thread; a callback that raises is logged."""
    for event in events:
        for cb in callbacks:
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - the run has failed already; its record must not hide why
                logging.getLogger(__name__).exception("a run callback failed")


def _is_cancel(exc: BaseException) -> bool:
    return "Cancel" in type(exc).__name__


