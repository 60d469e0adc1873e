"""The one way the window runs work off the GUI thread (training has its own QThread).

``runner = JobRunner(owner)`` then ``runner.submit(fn, *args, on_done=..., on_error=...,
key="name", **kwargs)``: ``fn`` runs on a thread of its own, and its result (or the
``Exception`` it raised) is handed to ``on_done`` (or ``on_error``) *on the GUI thread*.
A newer job with the same ``key`` supersedes the older one; cancelled and superseded jobs
never deliver anything. Modelled on superqt's ``thread_worker`` and Orange's
``FutureWatcher``, with these choices:

- **A fresh daemon thread per job, no pool.** OpenMP keeps a team of threads per calling
  thread, and a pool thread that lived on with a team of its own would slow every later
  training run (see :mod:`cnn_gui.core.training.cpu_threads`); a thread that ends with its job
  takes its team along. Starting one costs well under a millisecond, nothing next to a
  checkpoint read or a test-set pass. Before ``fn`` the thread sets its torch thread
  count: ``threads="serial"`` (the default: small jobs, which must not compete with
  training) or ``threads="training"`` (a big pass that runs only while training cannot).
- **Whether a result is still wanted is decided on the GUI thread, at delivery**, not in
  the worker: a job cancelled after ``fn`` returned, but before its queued result was
  handled, still delivers nothing. So ``runner.cancel()`` on the GUI thread is final.
- **Cancellation is cooperative.** ``Job.cancelled`` is a ``threading.Event``; ``fn``
  gets it as ``cancel=`` when its signature has a ``cancel`` parameter, and should check
  it between steps. A thread cannot be killed, so :meth:`JobRunner.shutdown` only
  bounds the wait.
- **Owner deletion.** Give the runner its owner as parent: Qt deletes it with the owner
  and drops results queued to it, and its ``destroyed`` signal closes the runner, so a
  worker that ends later emits nothing. Keep an unparented runner referenced until
  :meth:`JobRunner.shutdown`.

- **A bound on the wait.** ``timeout=`` seconds (with ``on_timeout=``) calls ``on_timeout()``
  on the GUI thread when the job is still live by then: the owner may say that it takes
  long, or give up with ``runner.cancel(key)`` (its late result is then dropped). Work
  that can block for good (a user's file that loops at import, a read on a stuck drive)
  runs here with a bound, so the window never waits on it. The thread itself cannot be
  killed: a job that never ends keeps its daemon thread until the process exits.

The names ``on_done``, ``on_error``, ``key``, ``threads``, ``timeout`` and ``on_timeout`` are
:meth:`JobRunner.submit`'s own; every other keyword goes to ``fn``.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from cnn_gui.core.memory import give_back_freed_memory
from cnn_gui.core.training.cpu_threads import make_this_thread_serial, use_training_threads

THREAD_PREFIX = "cnn-gui-job"
_THREAD_POLICIES: dict[str, Callable[[], Any]] = {
    "serial": make_this_thread_serial,
    "training": use_training_threads,
}
_log = logging.getLogger(__name__)


class Job:
    """One submitted call. ``cancelled`` is the Event ``fn`` may watch; ``cancel()`` sets it."""

    def __init__(self, name: str, key: str | None, on_done: Callable | None, on_error: Callable | None) -> None:
        self.name = name
        self.key = key
        self.cancelled = threading.Event()
        self.thread: threading.Thread | None = None
        self._on_done = on_done
        self._on_error = on_error
        self._settled = False  # delivered (GUI thread only)

    def cancel(self) -> None:
        """Drop the result (never delivered) and ask ``fn`` to stop at its next check."""
        self.cancelled.set()

    @property
    def live(self) -> bool:
        """Not cancelled and not delivered yet: a result may still arrive."""
        return not self._settled and not self.cancelled.is_set()

    def is_alive(self) -> bool:
        """Whether its thread still runs (a cancelled ``fn`` may take until its next check)."""
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.is_alive()

    def settle(self, result: Any, error: BaseException | None) -> None:
        """Hand the outcome to its callback (GUI thread, once): on_done(result) or on_error(error)."""
        self._settled = True
        if error is None:
            if self._on_done is not None:
                self._on_done(result)
        elif self._on_error is not None:
            self._on_error(error)
        else:
            _log.error("background job %s failed", self.name, exc_info=error)

    def __repr__(self) -> str:
        state = "delivered" if self._settled else "cancelled" if self.cancelled.is_set() else "live"
        return f"<Job {self.name} {state}>"


class _Gate:
    """What workers share with the runner: once closed, no worker emits again.

    A plain object, not the QObject, so that the runner's ``destroyed`` signal can close it
    while the runner itself is being deleted.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = False

    def close(self, *_args) -> None:
        with self.lock:  # waits for an emit in progress, then none starts
            self.closed = True


class JobRunner(QObject):
    """Runs functions off the GUI thread and delivers their outcome on it. One per owner.

    Signals: ``finished()`` after a delivery that leaves no live job (see :meth:`busy`).

    ``give_back_memory``: for the owners of big jobs (a test pass, an embedding): once no
    job is left, the C heap's free pages go back to the system (:mod:`cnn_gui.core.memory`,
    ~7 ms, after the results are shown); ``collect_first``: Python's reference cycles are
    collected before (~0.1-0.2 s: only for jobs a click starts, never per stroke).
    """

    finished = Signal()
    _report = Signal(object, object, object)  # job, result, error: worker -> GUI thread

    def __init__(self, parent: QObject | None = None, *, give_back_memory: bool = False,
                 collect_first: bool = False) -> None:
        super().__init__(parent)
        self._give_back_memory, self._collect_first = give_back_memory, collect_first
        self._gate = _Gate()
        self._jobs: list[Job] = []  # jobs whose thread still runs or whose result may still come
        self._latest: dict[str, Job] = {}  # key -> the newest job of that key
        self._report.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.destroyed.connect(self._gate.close)

    # -- submitting ------------------------------------------------------------------------
    def submit(self, fn: Callable, *args, on_done: Callable[[Any], Any] | None = None,
               on_error: Callable[[BaseException], Any] | None = None, key: str | None = None,
               threads: str = "serial", timeout: float | None = None,
               on_timeout: Callable[[], Any] | None = None, **kwargs) -> Job:
        """Run ``fn(*args, **kwargs)`` on a new thread; see the module docstring.

        ``on_done(result)`` / ``on_error(exception)`` run on the GUI thread; without
        ``on_error`` an error is logged. A live job of the same ``key`` is cancelled.
        ``on_timeout()`` runs on the GUI thread ``timeout`` seconds later if the job is
        still live then (neither delivered nor cancelled). Raises RuntimeError after
        :meth:`shutdown`.
        """
        if threads not in _THREAD_POLICIES:
            raise ValueError(f"threads must be one of {sorted(_THREAD_POLICIES)}, got {threads!r}")
        if self._gate.closed:
            raise RuntimeError("this JobRunner is shut down")
        if key is not None and key in self._latest:
            self._latest.pop(key).cancel()
        name = key or getattr(fn, "__name__", "job")
        job = Job(name, key, on_done, on_error)
        if "cancel" not in kwargs and _accepts_cancel(fn):
            kwargs["cancel"] = job.cancelled
        job.thread = threading.Thread(target=self._work, args=(job, fn, args, kwargs, _THREAD_POLICIES[threads]),
                                      name=f"{THREAD_PREFIX}-{name}", daemon=True)
        self._prune()
        self._jobs.append(job)
        if key is not None:
            self._latest[key] = job
        job.thread.start()
        if timeout is not None and on_timeout is not None:
            QTimer.singleShot(max(0, round(timeout * 1000)), self, lambda: self._timed_out(job, on_timeout))
        return job

    def _timed_out(self, job: Job, on_timeout: Callable[[], Any]) -> None:
        """The watchdog of :meth:`submit`'s ``timeout`` (GUI thread)."""
        if not self._gate.closed and job.live:
            on_timeout()

    def _work(self, job: Job, fn: Callable, args: tuple, kwargs: dict, policy: Callable[[], Any]) -> None:
        """On the job's thread: run ``fn`` and queue its outcome to the GUI thread."""
        result = error = None
        try:
            policy()
            if not job.cancelled.is_set():
                result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 -- even SystemExit: the job ended without a result
            error = exc
        with self._gate.lock:
            if self._gate.closed or job.cancelled.is_set():
                return
            try:
                self._report.emit(job, result, error)
            except RuntimeError:
                pass  # the runner's C++ object is gone

    @Slot(object, object, object)
    def _deliver(self, job: Job, result: Any, error: Exception | None) -> None:
        if self._gate.closed or not job.live:
            return  # shut down, cancelled or superseded after fn returned
        if job.key is not None and self._latest.get(job.key) is job:
            del self._latest[job.key]
        try:
            job.settle(result, error)
        finally:
            if not self.busy():
                self.finished.emit()
                if self._give_back_memory:
                    QTimer.singleShot(0, lambda: give_back_freed_memory(collect=self._collect_first))

    # -- state -----------------------------------------------------------------------------
    @property
    def gives_back_memory(self) -> bool:
        return self._give_back_memory

    def busy(self) -> bool:
        """Whether any job may still deliver (cancelled ones do not count)."""
        return any(job.live for job in self._jobs)

    def pending(self, key: str) -> bool:
        """Whether the job of ``key`` may still deliver."""
        job = self._latest.get(key)
        return job is not None and job.live

    # -- stopping --------------------------------------------------------------------------
    def cancel(self, key: str | None = None) -> None:
        """Cancel the job of ``key``, or every job: none of them delivers any more."""
        if key is None:
            for job in self._jobs:
                job.cancel()
            self._latest.clear()
        elif key in self._latest:
            self._latest.pop(key).cancel()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` seconds in all for every job thread to end; True if none runs."""
        deadline = time.monotonic() + max(0.0, timeout)
        for job in list(self._jobs):
            job.join(max(0.0, deadline - time.monotonic()))
        self._prune()
        return not any(job.is_alive() for job in self._jobs)

    def _prune(self) -> None:
        # A job whose thread ended may still have its result queued: it stays while live.
        self._jobs = [j for j in self._jobs if j.is_alive() or j.live]

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel everything, deliver nothing from now on, and :meth:`join` (the owner closes).

        True when every job thread has ended within ``timeout`` seconds in all; a thread
        still running then is a daemon and never calls back. Safe to call twice.
        """
        self._gate.close()
        self.cancel()
        return self.join(timeout)


def _accepts_cancel(fn: Callable) -> bool:
    try:
        return "cancel" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
