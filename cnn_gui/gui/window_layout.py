"""The window's default size and dock widths, shared by the loading window and the real one
(so the one that replaces the other at start-up keeps the same layout)."""

from __future__ import annotations

from PySide6.QtCore import QSize

from cnn_gui.gui import settings as settings_mod

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


def restore_saved_layout(window, settings) -> bool:
    """The size and dock layout saved for this screen size, applied to ``window`` (a
    QMainWindow); True when a dock layout was restored (else the defaults apply)."""
    key_geometry, key_state = settings_mod.layout_keys(window.screen())
    geometry = settings_mod.read_bytes(settings, key_geometry)
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = settings_mod.read_bytes(settings, key_state)
    return state is not None and bool(window.restoreState(state))
