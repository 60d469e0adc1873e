"""The right-hand panel: which weights answer, the drawing canvas, its tools, the network's reading.

The window tells :class:`CanvasPanel` which weights answer (:meth:`set_weights_text`),
hands it a frozen predictor (:meth:`set_predictor`), and whether a run is training
(:meth:`set_training`). Besides a drawing, the panel reads an **image file**, opened with
*Open image…* or dropped anywhere on it, for any weights: it is decoded on a job thread
and prepared exactly as the weights' training images were
(:func:`~cnn_gui.core.inputs.preparation.prepare_file`). Weights trained on photos (colour,
no flat ground) cannot read a drawing; the canvas then says to give it an image file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.data.folder_scan import EXTENSIONS
from cnn_gui.core.errors import describe_line
from cnn_gui.core.inputs.preparation import DIGIT, Preparation
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.widgets.elided_text import ElidedLabel

from cnn_gui.gui.panels.canvas import DrawingCanvas
from cnn_gui.gui.panels.prediction_view import CanvasPredictor, PredictionView

SHOWN_SIDE = 280  # an opened image is shown fitted into the canvas's own resolution
CANVAS_TIP = "Draw with the mouse (or a pen), or drop an image file here; the network reads it as you go"
DRAW_HINT = "Draw here, or drop an image file"
DROP_HINT = "Drop an image file here, or use Open image…"
PHOTOS_TEXT = ("These weights read images, not drawings: open or drop an image file (photos, or a file "
               "that does not say how its images looked)")


class CanvasPanel(QWidget):
    """Weights label, canvas, pen and Clear, the 28x28 input and the class probabilities."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # One line each, and the hint keeps its place when hidden: nothing above the canvas
        # changes height when training starts or the weights change (a stroke begun then
        # would land off, a click on Clear would draw). The whole label is in the tooltip.
        self.weights_label = ElidedLabel("Weights: untrained")
        font = self.weights_label.font()
        font.setBold(True)
        self.weights_label.setFont(font)
        self.weights_hint = ElidedLabel("Training: the canvas switches to the new weights at each epoch's end")
        self.weights_hint.setStyleSheet("color: #666;")
        policy = self.weights_hint.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.weights_hint.setSizePolicy(policy)
        self.weights_hint.setVisible(False)
        self.canvas = DrawingCanvas()
        self.canvas.setToolTip(CANVAS_TIP)
        self.canvas.set_hint(DRAW_HINT)
        self._picture_path: str | None = None
        self._jobs = JobRunner(self)
        self.setAcceptDrops(True)
        # One line that keeps its place when hidden (whole text in its tooltip): the canvas above
        # never changes size when a note comes or goes.
        self.note = ElidedLabel()
        self.note.setStyleSheet("color: #a04000;")
        policy = self.note.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.note.setSizePolicy(policy)
        self.note.setVisible(False)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the drawing (Esc)")
        self.clear_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.pen_slider = QSlider(Qt.Orientation.Horizontal)
        self.pen_slider.setRange(6, 40)
        self.pen_slider.setValue(int(round(self.canvas.penWidth())))
        # Rich text, so that Qt wraps the tooltip instead of running it off the screen.
        self.pen_slider.setToolTip("<p>Pen width on the canvas. MNIST's weights read your strokes with a pen in "
                                   "proportion to the digit, whatever this width; weights trained on your own "
                                   "images read the canvas as you see it.</p>")
        self.pen_slider.setMinimumWidth(80)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Let the network read an image file (also: drop one on this panel); "
                                    "it is prepared as the weights' training images were")
        tools = QHBoxLayout()
        tools.addWidget(self.clear_button)
        tools.addWidget(self.open_button)
        tools.addSpacing(12)
        tools.addWidget(QLabel("Pen:"))
        tools.addWidget(self.pen_slider, 1)
        self.prediction_view = PredictionView()
        self.controller = CanvasPredictor(self.canvas, self.prediction_view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.weights_label)
        layout.addWidget(self.weights_hint)
        layout.addWidget(self.canvas, 3)
        layout.addLayout(tools)
        layout.addWidget(self.note)
        layout.addWidget(self.prediction_view, 2)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.open_button.clicked.connect(self.choose_picture)
        self.canvas.cleared.connect(self._on_cleared)
        self.canvas.imageChanged.connect(self._on_drawn)
        self.pen_slider.valueChanged.connect(lambda v: self.canvas.setPenWidth(float(v)))

    @property
    def predictor(self) -> Predictor | None:
        return self.controller.predictor

    def set_weights_text(self, text: str) -> None:
        self.weights_label.setText(text)

    def set_training(self, training: bool) -> None:
        self.weights_hint.setVisible(training and self.canvas.isEnabled())

    def title(self) -> str:
        """The panel's title for the current weights: what it can be given."""
        predictor = self.controller.predictor
        prep = predictor.preparation if predictor is not None else None
        if prep is None or prep.method == DIGIT:
            return "Draw a digit"
        return "Draw, or open an image" if prep.reads_drawings else "Open an image"

    def set_predictor(self, predictor: Predictor | None) -> None:
        """The frozen weights the canvas reads with; drawing is offered when they read drawings.

        An opened image file stays on the canvas; when the new weights prepare images another
        way (another preparation or input size) it is read again for them, and until then
        nothing prepared for the old weights is shown as theirs.
        """
        prep = predictor.preparation if predictor is not None else None
        drawable = prep is None or prep.reads_drawings
        if not drawable and not self.canvas.has_picture():
            self.canvas.clear()  # a drawing these weights cannot read
        self.note.setText(PHOTOS_TEXT)
        self.note.setVisible(not drawable)
        self.canvas.set_drawing_allowed(drawable)
        self.canvas.set_hint(DRAW_HINT if drawable else DROP_HINT)
        if prep is not None:
            self.prediction_view.set_preparation_text(prep.describe())
        old = self.controller.predictor
        stale = self._picture_path is not None and predictor is not None and (
            old is None or old.preparation != prep or old.input_shape != predictor.input_shape)
        if stale:
            self.controller.forget_picture()
        self.controller.set_predictor(predictor)
        if stale:
            self.open_picture(self._picture_path)  # prepared anew, as these weights read images

    def source_text(self) -> str | None:
        """What the canvas holds, for the views that read it: an opened file's name, or None (a drawing)."""
        return f"{Path(self._picture_path).name}, opened on the canvas" if self._picture_path else None

    # ----------------------------------------------------------------- image files
    def choose_picture(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image for the network to read", "",
                                              f"Images ({' '.join('*' + e for e in EXTENSIONS)});;All files (*)")
        if path:
            self.open_picture(path)

    def open_picture(self, path: str) -> None:
        """Read ``path`` on a job thread, prepared as the current weights expect; then show it.
        A newer file, Clear or a stroke before it arrives wins: the read is cancelled."""
        predictor = self.controller.predictor
        prep = predictor.preparation if predictor is not None else Preparation(DIGIT, "light")
        shape = tuple(predictor.input_shape) if predictor is not None else (1, 28, 28)
        self._picture_path = path
        self._jobs.submit(_read_picture, path, prep, shape, key="picture",
                          on_done=lambda result: self._show_picture(path, result),
                          on_error=lambda exc: self._picture_failed(path, describe_line(exc)))

    def _show_picture(self, path: str, result) -> None:
        shown, prepared = result
        if prepared is None:
            self._picture_failed(path, "no ink found, nothing to read")
            return
        self.canvas.show_picture(shown)  # clears the drawing, and with it any older picture
        self._picture_path = path
        self.controller.show_picture(prepared)
        self.note.setVisible(False)
        self.canvas.setToolTip(f"{path}: read as the weights' training images were. Clear to draw again.")

    def _picture_failed(self, path: str, why: str) -> None:
        if self.canvas.has_picture():
            self.canvas.clear()  # never leave a picture read for other weights on show
        self._picture_path = None
        self.note.setText(f"Cannot read {Path(path).name}: {why}")
        self.note.setVisible(True)

    def _on_cleared(self) -> None:
        self._jobs.cancel("picture")
        self._picture_path = None
        self.canvas.setToolTip(CANVAS_TIP)

    def _on_drawn(self) -> None:
        if not self.canvas.has_picture():
            self._jobs.cancel("picture")  # a stroke begun while a file was read: the stroke wins
            self._picture_path = None

    # ----------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event) -> None:
        if _local_file(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = _local_file(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_picture(path)


def _local_file(mime) -> str | None:
    """The first local file of a drag (an image file from a file manager), or None."""
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            return url.toLocalFile()
    return None


def _read_picture(path: str, prep: Preparation, shape) -> tuple:
    """(what the canvas shows: uint8 H x W x 3, fitted into 280x280; what the network reads)."""
    from cnn_gui.core.data.image_reading import read_image
    from cnn_gui.core.inputs.preparation import prepare_file

    shown = read_image(path, (3, SHOWN_SIDE, SHOWN_SIDE)).transpose(1, 2, 0)
    return shown, prepare_file(path, prep, shape)
