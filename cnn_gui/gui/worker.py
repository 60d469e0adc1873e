"""Training off the GUI thread: a worker object on a QThread, and its controller.

:class:`TrainingWorker` lives on its own :class:`QThread` (the worker-object pattern:
``thread.started -> worker.run``, ``worker.finished -> thread.quit``, ``deleteLater`` for
both). ``run()`` loads the dataset (so no file I/O happens on the GUI thread), builds a
:class:`~cnn_gui.core.engine.Trainer` and calls its blocking ``fit()``. The engine's
callback turns events into signals; only signals cross threads, and they carry the
engine's frozen event dataclasses (plain numbers) or numpy arrays, never tensors.

``stop()``, ``pause()`` and ``resume()`` are plain method calls on thread-safe engine
flags, deliberately *not* queued slots: the worker thread is busy inside ``fit()`` and
would not process a queued call until training had ended.

:class:`TrainingController` owns the thread+worker pair of one run at a time, re-emits
the worker's signals on the GUI thread, remembers the finished :class:`Trainer` (for
"Save checkpoint"), and joins the thread on :meth:`TrainingController.shutdown`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted

if TYPE_CHECKING:
    from torch import nn

    from cnn_gui.core.checkpoints import Checkpoint
    from cnn_gui.core.data import ImageDataset
    from cnn_gui.core.engine import Trainer

PROGRESS_MIN_INTERVAL = 0.1  # seconds: at most 10 progress signals a second; each one repaints widgets


class _RunControl:
    """Thread-safe stop/pause state of one run, shared by the GUI and the worker thread.

    A plain Python object (not a QObject), so the GUI may keep calling it after the
    worker's C++ object has been deleted. Requests made before the Trainer exists
    (while the dataset is still loading) are applied as soon as it does.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.trainer: "Trainer | None" = None
        self.stop_requested = False
        self.paused = False

    def attach(self, trainer: "Trainer") -> None:
        with self._lock:
            self.trainer = trainer
            self._apply_locked()

    def reapply(self) -> None:
        """Called when fit() has started: fit() clears the engine's stop flag on entry."""
        with self._lock:
            self._apply_locked()

    def _apply_locked(self) -> None:
        if self.trainer is None:
            return
        if self.stop_requested:
            self.trainer.stop()
        elif self.paused:
            self.trainer.pause()

    def stop(self) -> None:
        with self._lock:
            self.stop_requested = True
            self.paused = False
            if self.trainer is not None:
                self.trainer.stop()

    def pause(self) -> None:
        with self._lock:
            if self.stop_requested:
                return
            self.paused = True
            if self.trainer is not None:
                self.trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self.paused = False
            if self.trainer is not None:
                self.trainer.resume()


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


class TrainingWorker(QObject):
    """Runs one ``Trainer.fit()`` on the thread it was moved to.

    Signals (all emitted from the worker thread; connect them to GUI-thread objects):
        started(FitStarted), progress(BatchEnded), epochEnded(EpochEnded),
        weightsSnapshot(dict[str, numpy.ndarray]) at each epoch end,
        failed(FitFailed), finished(FitEnded | None).
    """

    started = Signal(object)
    progress = Signal(object)
    epochEnded = Signal(object)
    weightsSnapshot = Signal(object)
    failed = Signal(object)
    finished = Signal(object)

    def __init__(
        self,
        config: TrainConfig,
        model: "nn.Module | None" = None,
        checkpoint: "Checkpoint | None" = None,
        data: "ImageDataset | None" = None,
        control: _RunControl | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self._model = model
        self._checkpoint = checkpoint
        self._data = data
        self.control = control or _RunControl()
        self._last_progress = 0.0

    # -- control from any thread (plain calls, not queued slots) ------------------------
    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def trainer(self) -> "Trainer | None":
        return self.control.trainer

    # -- the worker thread --------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        end: FitEnded | None = None
        started = time.perf_counter()
        try:
            trainer = self._build_trainer()
            self.control.attach(trainer)
            if self.control.stop_requested:
                end = FitEnded("stopped", trainer.position.epoch, trainer.position.step,
                               time.perf_counter() - started,
                               trainer.history[-1]["test_accuracy"] if trainer.history else None)
            else:
                end = trainer.fit()
        except Exception as exc:  # a ConfigError/DatasetError/ModelError/CheckpointError before fit
            self.failed.emit(FitFailed("error", _message(exc), _hint(exc)))
            end = FitEnded("failed", 0, 0, time.perf_counter() - started, None)
        finally:
            self.finished.emit(end)

    def _build_trainer(self) -> "Trainer":
        from cnn_gui.core.engine import Trainer

        cfg = self.config
        data = self._data
        ckpt = self._checkpoint
        if data is None:
            from cnn_gui.core.data import load_dataset

            dataset = cfg.dataset
            if ckpt is not None and ckpt.meta.config.get("dataset"):
                dataset = ckpt.meta.config["dataset"]
            data = load_dataset(dataset)
        if ckpt is not None:
            return Trainer.from_checkpoint(
                ckpt, data=data, callbacks=[self._on_event], epochs=cfg.epochs, device=cfg.device,
                max_batches=cfg.max_batches, report_interval=cfg.report_interval)
        return Trainer(cfg, model=self._model, data=data, callbacks=[self._on_event])

    def _on_event(self, event) -> None:
        """The engine's callback, on the worker thread."""
        if isinstance(event, BatchEnded):
            now = time.perf_counter()
            last_of_epoch = event.batch >= event.batches_per_epoch
            if last_of_epoch or now - self._last_progress >= PROGRESS_MIN_INTERVAL:
                self._last_progress = now
                self.progress.emit(event)
        elif isinstance(event, EpochEnded):
            self.epochEnded.emit(event)
            trainer = self.control.trainer
            if trainer is not None:
                # Copied here, between two optimizer steps, on the thread that owns them.
                self.weightsSnapshot.emit(state_dict_arrays(trainer.model))
        elif isinstance(event, FitStarted):
            self.control.reapply()  # a stop() that raced with fit()'s start still counts
            self._last_progress = 0.0
            self.started.emit(event)
        elif isinstance(event, FitFailed):
            self.failed.emit(event)
        # FitEnded: fit() returns it; run() emits finished once.


def _message(exc: BaseException) -> str:
    from cnn_gui.core.config import ConfigError

    text = str(exc) or type(exc).__name__
    if isinstance(exc, (ConfigError, ValueError, RuntimeError, FileNotFoundError)):
        return text[0].upper() + text[1:] if text else text
    return f"{type(exc).__name__}: {text}"


def _hint(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "DatasetError":
        return "Pick another dataset, or check the network connection for a download."
    if name == "ConfigError":
        return "Change the training settings and try again."
    if name == "CheckpointError":
        return "Open another checkpoint, or untick 'Continue loaded session'."
    if name == "DeviceError":
        return "Choose another device."
    return "Nothing was trained; see the message."


class TrainingController(QObject):
    """One training run at a time on a worker thread; its signals arrive on the GUI thread.

    ``start()`` returns at once; ``finished`` always arrives once per run (also after a
    failure). After ``finished``, :attr:`last_trainer` is the run's Trainer (history,
    position, optimizer state) and ``start()`` may be called again.
    """

    started = Signal(object)
    progress = Signal(object)
    epochEnded = Signal(object)
    weightsSnapshot = Signal(object)
    failed = Signal(object)
    finished = Signal(object)
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._control: _RunControl | None = None
        self._running = False
        self._paused = False
        self._threads: list[QThread] = []  # Python references until each thread has finished
        self._workers: list[TrainingWorker] = []
        self.last_trainer: "Trainer | None" = None
        self.last_end: FitEnded | None = None

    # -- public API ------------------------------------------------------------------------
    def start(self, config: TrainConfig, model: "nn.Module | None" = None,
              checkpoint: "Checkpoint | None" = None, data: "ImageDataset | None" = None) -> None:
        if self._running:
            raise RuntimeError("a training run is already in progress")
        control = _RunControl()
        worker = TrainingWorker(config, model=model, checkpoint=checkpoint, data=data, control=control)
        thread = QThread()
        thread.setObjectName("cnn-gui-training")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.finished.connect(thread.quit)
        worker.finished.connect(worker.deleteLater)
        thread.finished.connect(thread.deleteLater)
        thread.finished.connect(self._on_thread_finished)

        # Signal-to-signal connections: queued across the thread boundary, re-emitted here.
        worker.started.connect(self.started)
        worker.progress.connect(self.progress)
        worker.epochEnded.connect(self.epochEnded)
        worker.weightsSnapshot.connect(self.weightsSnapshot)
        worker.failed.connect(self.failed)
        worker.finished.connect(self._on_finished)

        self._thread, self._worker, self._control = thread, worker, control
        self._threads.append(thread)
        self._workers.append(worker)
        self._running = True
        self._paused = False
        self.last_end = None
        self.runningChanged.emit(True)
        thread.start()

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()
        self._paused = False

    def pause(self) -> None:
        if self._control is not None and self._running:
            self._control.pause()
            self._paused = True

    def resume(self) -> None:
        if self._control is not None:
            self._control.resume()
        self._paused = False

    def is_running(self) -> bool:
        return self._running

    def is_paused(self) -> bool:
        return self._running and self._paused

    @property
    def thread(self) -> QThread | None:
        """The current (or last) run's thread, until it has finished."""
        return self._thread

    @property
    def trainer(self) -> "Trainer | None":
        """The running Trainer (don't touch its model while running), else the last one."""
        if self._control is not None and self._control.trainer is not None:
            return self._control.trainer
        return self.last_trainer

    def threads_alive(self) -> bool:
        return any(_alive(t) for t in self._threads)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop any run and join its thread. True when no training thread is left running."""
        self.stop()
        ok = True
        deadline = time.monotonic() + timeout_ms / 1000
        for thread in list(self._threads):
            if not _alive(thread):
                continue
            thread.quit()  # takes effect once run() has returned to the event loop
            left = max(int((deadline - time.monotonic()) * 1000), 1)
            if not thread.wait(left):
                ok = False
        if ok:
            if self._running:
                self._collect_trainer()
                self._running = False
                self.runningChanged.emit(False)
            self._threads = [t for t in self._threads if _alive(t)]
        return ok

    # -- worker signals (GUI thread) ---------------------------------------------------------
    @Slot(object)
    def _on_finished(self, end) -> None:
        self._collect_trainer()
        self.last_end = end
        was_running = self._running
        self._running = False
        self._paused = False
        if was_running:
            self.runningChanged.emit(False)
        self.finished.emit(end)

    def _collect_trainer(self) -> None:
        if self._control is not None and self._control.trainer is not None:
            self.last_trainer = self._control.trainer
        self._control = None

    @Slot()
    def _on_thread_finished(self) -> None:
        self._threads = [t for t in self._threads if _alive(t)]
        # Workers are deleted by deleteLater in their thread; drop the wrappers of finished runs.
        if not self._running:
            self._workers = []
            self._worker = None
            if not self._threads:
                self._thread = None


def _alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # the C++ object is already deleted
        return False
