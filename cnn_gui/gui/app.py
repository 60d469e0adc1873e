"""Starting the window: ``run()`` for ``cnn-gui``, ``create_window()`` for tests and benchmarks.

    from cnn_gui.gui.app import create_window
    window = create_window(data_override=load_dataset("mnist").subset(2000, 500))
    window.show()
    window.controller.finished.connect(...)
    window.start_training(window.training_panel.config().with_(epochs=1))
"""

from __future__ import annotations

import os
import signal
import sys

# numpy and torch before PySide6, on purpose: once PySide6 is imported, its import hook
# (shibokensupport.feature) inspects the source of every module imported after it, which
# made importing torch's ~1,000 modules ~0.3-0.5 s slower on a 2-core machine.
import numpy  # noqa: F401
import torch  # noqa: F401
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cnn_gui import __version__
from cnn_gui.core.cpu_threads import make_this_thread_serial
from cnn_gui.gui.settings import APPLICATION, ORGANIZATION

EXIT_AFTER_SHOW_ENV = "CNN_GUI_EXIT_AFTER_SHOW"


def ensure_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication, created (and named) if there is none yet.

    The calling thread becomes the GUI thread, and its torch ops run serially from here
    on (single images; see :mod:`cnn_gui.core.cpu_threads` for why training needs it).
    """
    make_this_thread_serial()
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    return app


def create_window(checkpoint: str | None = None, *, load_pretrained: bool = True, data_override=None,
                  defer_pretrained: bool = False):
    """A MainWindow (not shown). ``checkpoint`` is opened in the background at once.

    ``defer_pretrained``: read the pretrained weights (and build the canvas predictor) only
    once the window has been shown, so it appears sooner (``cnn-gui`` does this).
    """
    ensure_app()
    from cnn_gui.gui.main_window import MainWindow

    window = MainWindow(load_pretrained=load_pretrained, data_override=data_override,
                        defer_pretrained=defer_pretrained)
    if checkpoint:
        window.open_checkpoint(checkpoint)
    return window


def run(checkpoint: str | None = None, argv: list[str] | None = None) -> int:
    """Open the window, run the event loop, stop any training cleanly; the exit code."""
    app = ensure_app(argv)
    window = create_window(load_pretrained=True, defer_pretrained=True)
    window.show()  # the pretrained weights follow in the first event loop iteration
    if checkpoint:
        QTimer.singleShot(0, lambda: window.open_checkpoint(checkpoint))
    app.aboutToQuit.connect(window.shutdown)
    if os.environ.get(EXIT_AFTER_SHOW_ENV) == "1":
        _quit_after_first_iteration(app, window)

    # Ctrl+C in the terminal closes the window (training stopped and joined) instead of
    # being ignored while Qt's event loop holds the Python interpreter.
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.start(250)  # lets the interpreter run its signal handlers
    wake.timeout.connect(lambda: None)
    try:
        return int(app.exec())
    finally:
        wake.stop()
        signal.signal(signal.SIGINT, previous)
        window.shutdown()
        dispose(window)


def _quit_after_first_iteration(app: QApplication, window) -> None:
    """Start-up measurement (benchmarks/startup.py): quit once the shown window's first
    event loop iteration has run, so the process's wall time is the start-up time."""

    def quit_now() -> None:
        tree = window.structure.tree
        modules = sum(1 for _ in tree.walk()) if tree is not None else 0
        print(f"cnn-gui: shown ({modules} modules in the tree; {window.weights_text}); "
              f"quitting ({EXIT_AFTER_SHOW_ENV}=1)", file=sys.stderr, flush=True)
        app.quit()

    QTimer.singleShot(0, quit_now)


def dispose(window) -> None:
    """Delete the window's C++ side now, while the QApplication still exists.

    Left to Python's garbage collection at interpreter exit, the window's widgets may be
    destroyed after (or in the middle of) the application's own teardown, which Qt reports
    as "shared QObject was deleted directly" and can crash.
    """
    from PySide6.QtCore import QCoreApplication, QEvent

    try:
        window.deleteLater()
    except RuntimeError:
        return  # already deleted
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
