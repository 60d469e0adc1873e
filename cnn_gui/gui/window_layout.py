"""The window's default size and dock widths, shared by the loading window and the real one
(so the one that replaces the other at start-up keeps the same layout)."""

from __future__ import annotations

from PySide6.QtCore import QSize

DEFAULT_SIZE = QSize(1600, 940)


def default_size(screen) -> QSize:
    """:data:`DEFAULT_SIZE`, cut to the screen's available area."""
    if screen is None:
        return QSize(DEFAULT_SIZE)
    avail = screen.availableGeometry().size()
    return QSize(min(DEFAULT_SIZE.width(), avail.width()), min(DEFAULT_SIZE.height(), avail.height()))


def default_dock_widths(window_width: int) -> list[int]:
    """[left dock (the network), right dock (the canvas)] for a window this wide."""
    return [max(300, window_width * 27 // 100), max(280, window_width // 4)]
