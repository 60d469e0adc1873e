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
from typing import TYPE_CHECKING

from cnn_gui import __version__
from cnn_gui.gui.startup import collector  # gc only: no Qt, no torch

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

# Neither PySide6 nor torch is imported here: run() checks that Qt can start at all
# (cnn_gui.gui.preflight) before anything loads Qt's libraries, and shows the loading
# window before torch is imported (cnn_gui.gui.startup).

# "1": quit once the first window (the loading one) is shown; "tree": once the real window
# is painted with the network's tree filled and the pretrained weights read; "tabs": once
# the tabs built after that paint are built too (startup.py).
EXIT_AFTER_SHOW_ENV = "CNN_GUI_EXIT_AFTER_SHOW"
ICON_SIZES = (32, 64, 256)  # resources/icons/cnn-gui-<size>.png, rendered from cnn-gui.svg


def ensure_app(argv: list[str] | None = None, *, serial: bool = True) -> QApplication:
    """The QApplication, created (and named) if there is none yet.

    The calling thread becomes the GUI thread, and its torch ops run serially from here
    on (single images; see :mod:`cnn_gui.core.training.cpu_threads` for why training needs it).
    ``serial=False``: not yet (that imports torch); :func:`run` does it once torch is loaded.
    """
    from PySide6.QtWidgets import QApplication

    from cnn_gui.gui.settings import APPLICATION, ORGANIZATION

    if serial:
        _make_serial()
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    # The name of the installed .desktop file (cnn_gui/desktop_entry.py): Wayland
    # compositors take the window's icon from it.
    app.setDesktopFileName("cnn-gui")
    if app.windowIcon().isNull():
        app.setWindowIcon(app_icon())
    return app


def _make_serial() -> None:
    from cnn_gui.core.training.cpu_threads import make_this_thread_serial

    make_this_thread_serial()


def app_icon():
    """The application icon: the PNGs rendered from resources/icons/cnn-gui.svg.

    PNGs rather than the SVG itself, so no SVG icon-engine plugin is needed to show it.
    An empty icon (Qt's default) if the files are missing.
    """
    from PySide6.QtGui import QIcon

    from cnn_gui.core.resources import resource_path

    icon = QIcon()
    for size in ICON_SIZES:
        try:
            path = resource_path("icons", f"cnn-gui-{size}.png")
        except FileNotFoundError:
            break  # no resources folder: the window opens without its icon
        if path.is_file():
            icon.addFile(str(path))
    return icon


def create_window(checkpoint: str | None = None, *, load_pretrained: bool = True, data_override=None,
                  runs_dir=None, back_tabs_later: bool = False):
    """A MainWindow (not shown). ``checkpoint`` is opened in the background at once.

    ``runs_dir``: the window's own runs folder instead of the one in the settings.
    ``back_tabs_later``: the analysis tabs and Runs are built once the window has been
    painted (``cnn-gui`` does this; reading one of them builds them at once).
    """
    ensure_app()
    from cnn_gui.gui.main_window import MainWindow

    window = MainWindow(load_pretrained=load_pretrained, data_override=data_override,
                        runs_dir=runs_dir, back_tabs_later=back_tabs_later)
    if checkpoint:
        window.open_checkpoint(checkpoint)
    return window


def startup_problem() -> str | None:
    """Why the window cannot open here, in one line, or None. Loads Qt's libraries when it can."""
    from cnn_gui.gui.preflight import problem

    reason = problem()
    if reason is not None:
        return reason
    try:
        import PySide6.QtWidgets  # noqa: F401  (QtGui's own system libraries: libEGL, fontconfig...)
    except ImportError as exc:  # on a platform that preflight does not check
        return f"cannot load Qt: {exc} (install what it names, or train headless with `cnn-gui train`)"
    return None


def run(checkpoint: str | None = None, argv: list[str] | None = None) -> int:
    """Open the window, run the event loop, stop any training cleanly; the exit code.

    The loading window shows first; torch and the window's modules load on a thread
    (:mod:`cnn_gui.gui.startup`), then the real window takes its place. 2, after one line
    on stderr, when the window cannot open here (no display, a missing system library: see
    :mod:`cnn_gui.gui.preflight`) instead of Qt's abort; 1 when torch cannot be loaded.
    """
    reason = startup_problem()
    if reason is not None:
        print(f"cnn-gui: {reason}", file=sys.stderr)
        return 2
    from PySide6.QtCore import QTimer

    from cnn_gui.gui.startup.core_loader import CoreLoader
    from cnn_gui.gui.startup.loading_window import LoadingWindow

    app = ensure_app(argv, serial=False)
    collector.hold()  # until the modules are in (collector.py says why)
    loader = CoreLoader()
    loader.start()  # at once: torch loads while Qt connects to the display and paints
    loading = LoadingWindow()
    started = Startup(app, loading, checkpoint)
    loader.loaded.connect(started.build)
    loader.failed.connect(started.fail)
    loading.show()
    exit_after = os.environ.get(EXIT_AFTER_SHOW_ENV)
    if exit_after == "1":
        QTimer.singleShot(0, lambda: _quit(app, "shown (loading the network)"))

    # Ctrl+C in the terminal closes the window (training stopped and joined) instead of
    # being ignored while Qt's event loop holds the Python interpreter.
    previous = signal.signal(signal.SIGINT, lambda *_: started.close())
    wake = QTimer()
    wake.start(250)  # lets the interpreter run its signal handlers
    wake.timeout.connect(lambda: None)
    try:
        code = int(app.exec())
    finally:
        collector.release()  # closed before torch had loaded: the collector is on again
        wake.stop()
        signal.signal(signal.SIGINT, previous)
        if started.window is not None:
            started.window.shutdown()
            dispose(started.window)
    return 1 if started.failure else code


class Startup:
    """The second half of :func:`run`, on the GUI thread once torch has loaded."""

    def __init__(self, app, loading, checkpoint: str | None) -> None:
        self.app, self.loading, self.checkpoint = app, loading, checkpoint
        self.window = None
        self.failure: str | None = None

    def build(self, import_seconds: float) -> None:
        from PySide6.QtCore import QTimer

        from cnn_gui.gui.startup.loading_window import hand_over

        collector.release()
        if self.loading.closed_by_user:
            return  # closed while loading: the app is quitting
        _make_serial()
        self.window = window = create_window(load_pretrained=True, back_tabs_later=True)
        self.app.aboutToQuit.connect(window.shutdown)
        exit_after = os.environ.get(EXIT_AFTER_SHOW_ENV)
        if exit_after == "tree":  # said when the window is on screen, before the back tabs are built
            window.firstPainted.connect(lambda: _quit(self.app, tree_line(window, import_seconds)))
        elif exit_after == "tabs":
            window.backTabsBuilt.connect(lambda: _quit(self.app, "every tab built"))
        hand_over(self.loading, window)
        if self.checkpoint:
            QTimer.singleShot(0, lambda: window.open_checkpoint(self.checkpoint))

    def fail(self, line: str) -> None:
        collector.release()
        self.failure = line
        print(f"cnn-gui: {line}", file=sys.stderr, flush=True)
        self.loading.show_failure(line)
        if os.environ.get(EXIT_AFTER_SHOW_ENV):
            self.app.quit()

    def close(self) -> None:
        (self.window or self.loading).close()


def tree_line(window, import_seconds: float) -> str:
    tree = window.structure.tree
    modules = sum(1 for _ in tree.walk()) if tree is not None else 0
    return (f"tree filled ({modules} modules in the tree; {window.weights_text}; "
            f"imports {import_seconds:.2f} s)")


def _quit(app, what: str) -> None:
    """Start-up measurement (benchmarks/startup.py): say ``what`` now (the benchmark times the
    line), and quit once the event being handled (a paint) is over."""
    from PySide6.QtCore import QTimer

    print(f"cnn-gui: {what}; quitting ({EXIT_AFTER_SHOW_ENV})", file=sys.stderr, flush=True)
    QTimer.singleShot(0, app.quit)


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
