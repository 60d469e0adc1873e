"""What the network sees of a drawing and what it makes of it.

* :class:`PredictionView` shows the 28x28 image the network is given (nearest-neighbour
  enlarged, so its real pixels show), one bar per class, the top class in another colour,
  and a caption "Prediction: 7 (98.3%)".  A guess under
  :data:`~cnn_gui.core.analysis.predictor.MIN_CONFIDENCE` reads "Not sure: maybe 3 (41.0%)" with
  no bar highlighted, and a drawing too small to be a digit (a dot) is not read at all
  (:func:`~cnn_gui.core.inputs.preprocess.too_little_ink`): the rules live in the core, this
  module only shows what they decide.
* :class:`ProbabilityBars` is that bar chart: a small QPainter widget rather than a
  pyqtgraph plot, because ten rectangles need no plot machinery and an update is only
  storing ten numbers and scheduling a repaint (well under a millisecond).
* :class:`CanvasPredictor` is the controller, kept in this module: it connects a
  :class:`~cnn_gui.gui.panels.canvas.DrawingCanvas` to a :class:`PredictionView` through a
  :class:`~cnn_gui.core.analysis.predictor.Predictor` (to_mnist -> normalise -> predict).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnn_gui.core.errors import CnnGuiError, describe_line
from cnn_gui.core.analysis.predictor import Predictor, PredictionError, read_out
from cnn_gui.core.inputs.preprocess import TOO_LITTLE_INK_TEXT, to_mnist, too_little_ink
from cnn_gui.gui.panels.canvas import DrawingCanvas

EMPTY_TEXT = "Draw a digit to see a prediction"
NO_MODEL_TEXT = "No model yet: train or load one to get a prediction"

BAR_COLOUR = QColor(120, 144, 176)
TOP_COLOUR = QColor(230, 120, 30)


def _sentence(exc: BaseException) -> str:
    """A one-line core error as a caption: its first letter capitalised."""
    text = str(exc)
    return text[:1].upper() + text[1:]


class ProbabilityBars(QWidget):
    """One vertical bar per class, height = probability; the top class highlighted when
    the guess is confident."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._probs = np.zeros(10, dtype=np.float32)
        self._classes: tuple[str, ...] = tuple(str(i) for i in range(10))
        self._top = -1  # highlighted bar
        self._biggest = -1  # tallest bar, labelled even when not highlighted
        self._visible = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 120)

    def sizeHint(self) -> QSize:
        return QSize(300, 160)

    def set_probabilities(self, probs: np.ndarray | None, classes: Sequence[str] | None = None,
                          highlight: bool = True) -> None:
        """Show ``probs`` (one per class), the tallest highlighted if ``highlight``; no bars
        for None or for probabilities that are not all finite."""
        p = None if probs is None else np.asarray(probs, dtype=np.float32).reshape(-1)
        if p is None or not np.isfinite(p).all():
            self._visible = False
            self._probs = np.zeros(len(self._classes), dtype=np.float32)
            self._top = self._biggest = -1
        else:
            self._probs = np.clip(p, 0.0, 1.0)
            self._biggest = int(np.argmax(p)) if p.size else -1
            self._top = self._biggest if highlight else -1
            self._visible = p.size > 0
            if classes is not None and len(classes) == p.size:
                self._classes = tuple(str(c) for c in classes)
            elif len(self._classes) != p.size:
                self._classes = tuple(str(i) for i in range(p.size))
        self.update()

    # read back, for tests and status bars
    def values(self) -> np.ndarray:
        """The bar heights shown now (all zero when no bars are shown)."""
        return self._probs.copy() if self._visible else np.zeros_like(self._probs)

    def bars_visible(self) -> bool:
        return self._visible

    def top_index(self) -> int:
        """The highlighted class, or -1."""
        return self._top if self._visible else -1

    def paintEvent(self, event) -> None:  # noqa: ARG002
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pal = self.palette()
        text_colour = pal.windowText().color()
        fm = painter.fontMetrics()
        label_h = fm.height() + 2
        value_h = fm.height() + 2
        area = QRectF(self.rect()).adjusted(4, value_h, -4, -label_h)
        n = len(self._classes)
        # base line
        painter.setPen(QColor(150, 150, 150))
        painter.drawLine(int(area.left()), int(area.bottom()), int(area.right()), int(area.bottom()))
        slot = area.width() / max(n, 1)
        bar_w = max(2.0, slot * 0.7)
        for i in range(n):
            x = area.left() + i * slot + (slot - bar_w) / 2.0
            label_rect = QRectF(area.left() + i * slot, area.bottom() + 1, slot, label_h)
            painter.setPen(text_colour)
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter, self._classes[i])
            if not self._visible:
                continue
            p = float(self._probs[i])
            h = p * area.height()
            colour = TOP_COLOUR if i == self._top else BAR_COLOUR
            if h >= 0.5:
                painter.fillRect(QRectF(x, area.bottom() - h, bar_w, h), colour)
            if i == self._biggest or p >= 0.1:
                painter.setPen(text_colour)
                painter.drawText(QRectF(area.left() + i * slot - 6, area.bottom() - h - value_h, slot + 12, value_h),
                                 Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, f"{p:.0%}")
        painter.end()


class PredictionView(QWidget):
    """The network's input (28x28, enlarged) next to its class probabilities and a caption."""

    IMAGE_SIZE = 112  # 28 x 4, nearest neighbour: every input pixel is a 4x4 block

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input_label = QLabel()
        self.input_label.setFixedSize(self.IMAGE_SIZE + 2, self.IMAGE_SIZE + 2)
        self.input_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_label.setStyleSheet("background: black; border: 1px solid #5a5a5a;")
        self.input_label.setToolTip("What the network sees: your drawing cropped, scaled into a 20x20 box "
                                    "and centred by its centre of mass in 28x28, as MNIST's digits were.")
        input_title = QLabel("Network input (28x28)")
        input_title.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.bars = ProbabilityBars()
        self.caption = QLabel(EMPTY_TEXT)
        font = QFont(self.caption.font())
        font.setPointSizeF(font.pointSizeF() * 1.25 if font.pointSizeF() > 0 else 12.0)
        font.setBold(True)
        self.caption.setFont(font)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)

        left = QVBoxLayout()
        left.addWidget(input_title)
        left.addWidget(self.input_label, 0, Qt.AlignmentFlag.AlignHCenter)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.caption)
        right.addWidget(self.bars, 1)
        row = QHBoxLayout(self)
        row.addLayout(left)
        row.addLayout(right, 1)

        self._blank = QPixmap(self.IMAGE_SIZE, self.IMAGE_SIZE)
        self._blank.fill(Qt.GlobalColor.black)
        self._top: tuple[int, float] | None = None
        self.show_empty()

    # ----------------------------------------------------------------- updates
    def _set_input(self, img28: np.ndarray | None) -> None:
        if img28 is None:
            self.input_label.setPixmap(self._blank)
            return
        a = np.ascontiguousarray(np.clip(np.asarray(img28, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5,
                                 dtype=np.float32).astype(np.uint8)
        h, w = a.shape
        qimg = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()  # copy: own the pixels
        pix = QPixmap.fromImage(qimg).scaled(self.IMAGE_SIZE, self.IMAGE_SIZE,
                                             Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.FastTransformation)
        self.input_label.setPixmap(pix)

    def show_prediction(self, img28: np.ndarray, probs: np.ndarray, classes: Sequence[str] | None = None) -> None:
        """Show the network's input, its probabilities and "Prediction: 7 (98.3%)", or
        "Not sure: maybe 3 (41.0%)" with no bar highlighted for a weak guess."""
        try:
            reading = read_out(probs, classes)
        except PredictionError as exc:  # NaN probabilities: say so, never "nan%"
            self.show_input_only(img28, _sentence(exc))
            return
        self._set_input(img28)
        self.bars.set_probabilities(probs, classes, highlight=reading.confident)
        self._top = (reading.index, reading.probability)
        self.caption.setText(reading.caption)

    def show_too_little_ink(self, img28: np.ndarray | None) -> None:
        """A drawing too small to be a digit: its input, no bars, "Too little ink to read"."""
        self.show_input_only(img28, TOO_LITTLE_INK_TEXT)

    def show_input_only(self, img28: np.ndarray | None, message: str = NO_MODEL_TEXT) -> None:
        """Show what the network would see, but no guess (no model yet, or it failed)."""
        self._set_input(img28)
        self.bars.set_probabilities(None)
        self._top = None
        self.caption.setText(message)

    def show_empty(self) -> None:
        """Nothing drawn: no image, no bars, no guess."""
        self.show_input_only(None, EMPTY_TEXT)

    def top_prediction(self) -> tuple[int, float] | None:
        """(class index, probability) shown now, confident or not, or None."""
        return self._top

    def caption_text(self) -> str:
        return self.caption.text()


class CanvasPredictor(QObject):
    """Reads the canvas with the current :class:`Predictor` and shows the result in the view.

    On ``imageChanged``/``strokeFinished`` it runs ``to_mnist`` and ``Predictor.predict``
    (which normalises with the training mean/std) and updates the view; a drawing it has
    already read (same canvas revision) is not read again.  On an empty canvas or
    ``cleared`` the view shows no prediction.  With no predictor the view shows the
    28x28 input but no guess, and so it does for a drawing with too little ink to be a
    digit (:func:`~cnn_gui.core.inputs.preprocess.too_little_ink`: a dot is no "0").

    Swap in a newer snapshot with :meth:`set_predictor` (a slot: a trainer thread may
    build the Predictor between two steps and send it through a queued signal); the
    current drawing is read again at once.

    Signals:
        predicted(int, float): the top class index and its probability, after each read
            (also a "not sure" one; not for too little ink).
        failed(str): the model could not read the drawing (e.g. it wants 3x32x32 input).
        inputRead(object): the 28x28 float image the network reads, or None (empty canvas),
            each time the drawing changes.
    """

    predicted = Signal(int, float)
    failed = Signal(str)
    inputRead = Signal(object)

    def __init__(self, canvas: DrawingCanvas, view: PredictionView, predictor: Predictor | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent if parent is not None else view)
        self._canvas = canvas
        self._view = view
        self._predictor = predictor
        self._seen_revision: int | None = None
        canvas.imageChanged.connect(self._on_changed)
        canvas.strokeFinished.connect(self._on_changed)
        canvas.cleared.connect(self._on_cleared)

    @property
    def predictor(self) -> Predictor | None:
        return self._predictor

    @Slot(object)
    def set_predictor(self, predictor: Predictor | None) -> None:
        self._predictor = predictor
        self.refresh(force=True)

    @Slot()
    def _on_changed(self) -> None:
        self.refresh()

    @Slot()
    def _on_cleared(self) -> None:
        self._seen_revision = self._canvas.revision
        self._view.show_empty()
        self.inputRead.emit(None)

    def refresh(self, force: bool = False) -> None:
        """Read the canvas now (unless it is unchanged since the last read and not ``force``)."""
        revision = self._canvas.revision
        drawn = revision != self._seen_revision
        if not force and not drawn:
            return
        self._seen_revision = revision
        drawing = None if self._canvas.is_empty() else self._canvas.image_array()
        img28 = None if drawing is None else to_mnist(drawing)
        if drawn:  # not for new weights: the drawing's listeners have it already
            self.inputRead.emit(img28)
        if img28 is None:
            self._view.show_empty()
            return
        if self._predictor is None:
            self._view.show_input_only(img28)
            return
        if too_little_ink(drawing):
            self._view.show_too_little_ink(img28)
            return
        try:
            probs = self._predictor.predict(img28)
        except CnnGuiError as exc:  # a model that cannot take a 1x28x28 drawing, NaN weights
            message = _sentence(exc)
            self._view.show_input_only(img28, message)
            self.failed.emit(message)
            return
        except Exception as exc:  # whatever else a user's model does: tell, don't crash the GUI
            message = f"This model cannot read drawings: {describe_line(exc)}"
            self._view.show_input_only(img28, message)
            self.failed.emit(message)
            return
        self._view.show_prediction(img28, probs, self._predictor.classes)
        top = int(np.argmax(probs))
        self.predicted.emit(top, float(probs[top]))
