"""Small layout pieces shared by the views, so that none of them widens the window.

:class:`FlowLayout` wraps a row of controls onto more lines when the window is narrow;
:func:`labelled` keeps a label with its field when they wrap; :class:`ElidedLabel` cuts
one long line with "…" and shows it whole in its tooltip.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from cnn_gui.gui.panels.training_panel import ElidedLabel, FlowLayout  # noqa: F401 - the shared home of these names


def labelled(label: QLabel | str, field: QWidget) -> QWidget:
    """One flow item: ``label`` and ``field`` side by side, never split across two lines."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    row.addWidget(label if isinstance(label, QLabel) else QLabel(label))
    row.addWidget(field)
    return box


class LiveWhileShown:
    """Mixin for a view that recomputes when its input changes: only while it is shown, and at
    most once every ``REFRESH_MS`` (strokes arrive faster; the pending run reads the newest).

    The view keeps ``_request`` (bumped by every change), ``_shown_request`` (what it shows),
    ``_last_run`` (``time.monotonic()`` of the last run) and a single-shot ``_timer`` that
    runs it; it calls :meth:`_invalidate` on every change.
    """

    REFRESH_MS = 100  # at most ten runs a second while drawing

    def _invalidate(self) -> None:
        self._request += 1
        if self.isVisible():
            self._schedule()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._shown_request != self._request:
            self._schedule()

    def _schedule(self) -> None:
        if self._timer.isActive():
            return  # coalesced: the pending run reads the newest state
        wait = self.REFRESH_MS - (time.monotonic() - self._last_run) * 1000.0
        self._timer.start(max(0, int(wait)))
