"""Starting the window: ``run()`` for ``cnn-gui``, ``create_window()`` for tests and benchmarks.

    from cnn_gui.gui.app import create_window
    window = create_window(data_override=load_dataset("mnist").subset(2000, 500))
    window.show()
    window.controller.finished.connect(...)
    window.start_training(window.training_panel.config().with_(epochs=1))
"""

from __future__ import annotations

import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cnn_gui import __version__
from cnn_gui.gui.settings import APPLICATION, ORGANIZATION


def ensure_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication, created (and named) if there is none yet."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    return app


def create_window(checkpoint: str | None = None, *, load_pretrained: bool = True, data_override=None):
    """A MainWindow (not shown). ``checkpoint`` is opened in the background at once."""
    ensure_app()
    from cnn_gui.gui.main_window import MainWindow

    window = MainWindow(load_pretrained=load_pretrained, data_override=data_override)
    if checkpoint:
        window.open_checkpoint(checkpoint)
    return window


def run(checkpoint: str | None = None, argv: list[str] | None = None) -> int:
    """Open the window, run the event loop, stop any training cleanly; the exit code."""
    app = ensure_app(argv)
    window = create_window(load_pretrained=True)
    window.show()
    if checkpoint:
        QTimer.singleShot(0, lambda: window.open_checkpoint(checkpoint))
    app.aboutToQuit.connect(window.shutdown)

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
