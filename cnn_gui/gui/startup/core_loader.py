"""Importing torch and the window's modules on a thread, while the loading window paints.

``import torch`` takes ~1.2-1.5 s; the window's frame, docks and canvas need only Qt and
take ~0.1 s. So ``cnn-gui`` shows :class:`~cnn_gui.gui.startup.loading_window.LoadingWindow`
first and imports the rest here, off the GUI thread; :attr:`CoreLoader.loaded` then tells
the GUI thread to build the real window (only widget construction is left for it).

Only imports happen on this thread: no widget, timer or other QObject is made there (the
modules create none at import time: ``tests/gui/test_startup.py`` imports them on a thread
and checks that Qt warned of nothing).

PySide6's import hook (``shibokensupport.feature``, for ``from __feature__ import
snake_case``) reads the source of every module imported after PySide6, which made
importing torch's ~1,000 modules 0.3-0.5 s slower. cnn-gui and its dependencies use no
``__feature__``, so the hook is set aside (``builtins.__orig_import__``, PySide6's own
saved copy) for this import and put back after it.
"""

from __future__ import annotations

import builtins
import importlib
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from PySide6.QtCore import QObject, Signal

from cnn_gui.core.errors import one_line

# What the window needs, heaviest first; each pulls in its own imports.
MODULES = ("numpy", "torch", "cnn_gui.core.session", "cnn_gui.gui.main_window")


@contextmanager
def without_pyside_import_hook() -> Iterator[None]:
    """Plain ``import`` for the duration (PySide6's saved original), the hook restored after."""
    original = getattr(builtins, "__orig_import__", None)
    hooked = builtins.__import__
    if original is None or original is hooked:
        yield
        return
    builtins.__import__ = original
    try:
        yield
    finally:
        if builtins.__import__ is original:  # nobody else changed it meanwhile
            builtins.__import__ = hooked


class CoreLoader(QObject):
    """Imports :data:`MODULES` on a daemon thread. Signals (queued to the GUI thread):
    ``loaded(seconds)``, or ``failed(one line)`` (a broken torch install, a missing library)."""

    loaded = Signal(float)
    failed = Signal(str)

    def __init__(self, modules: tuple[str, ...] = MODULES, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._modules = modules
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # A daemon: closing the loading window quits at once, not after torch has loaded.
        self._thread = threading.Thread(target=self._run, name="cnn-gui import", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """True when the imports are over (for tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            with without_pyside_import_hook():
                for name in self._modules:
                    importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - whatever stops the import is said in the window
            self.failed.emit(f"cannot load {name}: {type(exc).__name__}: {one_line(exc, 200)}")
            return
        self.loaded.emit(time.perf_counter() - started)
