"""Recompute a view when its input changes: only while it is shown, and at most so often.

A tab that is not shown must not spend a forward pass on every stroke drawn on the canvas;
when it is shown again it catches up once, with the newest input.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

STROKE_THROTTLE_MS = 100  # at most ten runs a second while drawing


class LiveRefresh(QObject):
    """A view's request counter, its single-shot throttle timer and its show-event check.

    The view calls :meth:`invalidate` on every change. While the view is visible that runs
    ``run``: at once (``throttle_ms`` None), or through the timer at most once every
    ``throttle_ms`` (changes arrive faster; the pending run reads the newest state). A
    hidden view runs when it is shown again, if what it shows is out of date.

    ``run`` calls :meth:`start` to learn which request it computes and :meth:`shown` once
    the view shows it (:meth:`refreshed` does both, for a view that computes at once). A
    view with a worker drops a result that is no longer :meth:`is_current`, calls
    :meth:`defer` when a run finds the worker busy and :meth:`worker_done` when it is free.
    """

    def __init__(self, view: QWidget, run: Callable[[], None], throttle_ms: int | None = None) -> None:
        super().__init__(view)
        self._view = view
        self._run = run
        self._throttle_ms = throttle_ms
        self._request = 0  # bumped by every change
        self._shown = -1  # the request the view shows
        self._last_run = -1e9  # time.monotonic() of the last start()
        self._again = False  # a run found the worker busy
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(run)
        view.installEventFilter(self)

    def invalidate(self, *_args) -> None:
        """The input changed: run now or soon if the view is visible, else once it is shown."""
        self._request += 1
        if self._view.isVisible():
            self.schedule()

    def schedule(self) -> None:
        if self._throttle_ms is None:
            self._run()
            return
        if self._timer.isActive():
            return  # coalesced: the pending run reads the newest state
        wait = self._throttle_ms - (time.monotonic() - self._last_run) * 1000.0
        self._timer.start(max(0, int(wait)))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self._view and event.type() == QEvent.Type.Show and self.is_stale():
            self.schedule()
        return False

    # -- a run ------------------------------------------------------------------------------
    def start(self) -> int:
        """A run starts: the request it computes."""
        self._last_run = time.monotonic()
        return self._request

    def shown(self, request: int) -> None:
        """The view now shows what ``request`` asked for."""
        self._shown = request

    def refreshed(self) -> None:
        """The view has just computed the newest request (a view that computes at once)."""
        self.shown(self.start())

    def is_current(self, request: int) -> bool:
        """Whether nothing has changed since ``request``."""
        return request == self._request

    def is_stale(self) -> bool:
        """Whether the view shows an older request than the newest."""
        return self._shown != self._request

    # -- a view with a worker ------------------------------------------------------------------
    def defer(self) -> None:
        """A run found the worker busy: the newest state runs when it is done."""
        self._again = True

    def worker_done(self) -> None:
        """The worker is free: run again if a change arrived meanwhile (and the view is shown)."""
        if self._again or self.is_stale():
            self._again = False
            if self._view.isVisible():
                self.schedule()

    def pending(self) -> bool:
        """Whether a throttled run is waiting for its turn."""
        return self._timer.isActive()

    def cancel(self) -> None:
        """Drop a throttled run that is waiting (closing, or running at once instead)."""
        self._timer.stop()
