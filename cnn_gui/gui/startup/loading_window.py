"""The window as it looks while torch loads: the frame, the docks, a canvas to draw on.

Qt and numpy only (nothing here may import torch: ``tests/gui/test_startup.py``), so it is
on the screen ~0.2 s after ``cnn-gui`` starts, while
:class:`~cnn_gui.gui.startup.core_loader.CoreLoader` imports the rest. It takes the
window's saved size and dock layout (the same settings keys), says "Loading the
network…" where the tree and the training settings will be, and the canvas already
draws: what is drawn meanwhile moves to the real window, which reads it at once
(:func:`hand_over`). Anything else waits: there is nothing else to click yet.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QProgressBar, QVBoxLayout, QWidget

from cnn_gui.gui import settings as settings_mod
from cnn_gui.gui import window_layout
from cnn_gui.gui.panels.canvas import DrawingCanvas

LOADING_TEXT = "Loading the network…"
DRAW_MEANWHILE = "Draw a digit: it is read as soon as the network has loaded."


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setEnabled(False)  # greyed: a placeholder, not a control
    return label


class LoadingWindow(QMainWindow):
    """Shown first; :func:`hand_over` replaces it with the real window."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("cnn-gui")
        self.closed_by_user = False
        self.network_note = _note(LOADING_TEXT)
        left = self._dock("Network", "structureDock", self.network_note, Qt.DockWidgetArea.LeftDockWidgetArea)
        centre = QWidget()
        layout = QVBoxLayout(centre)
        self.centre_note = _note(f"{LOADING_TEXT}\nTraining settings and curves appear in a moment.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: how long torch takes is not known in advance
        self.progress.setMaximumWidth(320)
        layout.addStretch(1)
        layout.addWidget(self.centre_note)
        layout.addWidget(self.progress, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.setCentralWidget(centre)
        canvas_box = QWidget()
        column = QVBoxLayout(canvas_box)
        self.canvas = DrawingCanvas()
        self.canvas.set_hint(DRAW_MEANWHILE)
        column.addWidget(_note("Weights: loading…"), 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignTop)
        column.addStretch(1)
        right = self._dock("Draw a digit", "canvasDock", canvas_box, Qt.DockWidgetArea.RightDockWidgetArea)
        quit_action = self.menuBar().addMenu("&File").addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.statusBar().showMessage(LOADING_TEXT)
        self.resize(self._default_size())
        self._docks = [left, right]
        self._docks_restored = self._restore_layout()

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # the real window's names: its saved layout applies here too
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(area, dock)
        return dock

    def _default_size(self) -> QSize:
        return window_layout.default_size(self.screen())

    def _restore_layout(self) -> bool:
        """The saved size and docks; False when there were no docks to restore."""
        return window_layout.restore_saved_layout(self, settings_mod.open_settings())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._docks_restored:  # as the real window does on its first show
            self._docks_restored = True
            self.resizeDocks(self._docks, window_layout.default_dock_widths(self.width()), Qt.Orientation.Horizontal)

    def show_failure(self, line: str) -> None:
        """The import failed: say why where the network would be; the window stays until closed."""
        self.progress.hide()
        self.centre_note.setText(f"cnn-gui cannot start: {line}")
        self.centre_note.setEnabled(True)
        self.network_note.setText("No network: see the message in the middle.")
        self.statusBar().showMessage(line)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closed_by_user = True
        super().closeEvent(event)


def hand_over(loading: LoadingWindow, window) -> None:
    """Show ``window`` where ``loading`` is (moved, resized or maximised meanwhile), give it
    what was drawn, and close ``loading``."""
    window.setGeometry(loading.normalGeometry() if loading.isMaximized() else loading.geometry())
    window.setWindowState(loading.windowState())
    strokes = loading.canvas.strokes()
    window.show()
    if strokes:
        window.canvas_panel.canvas.replay(strokes)
    loading.hide()
    loading.deleteLater()
