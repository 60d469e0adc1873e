"""What the network sees of a drawing and what it makes of it.

* :class:`PredictionView` shows the 28x28 image the network is given (nearest-neighbour
  enlarged, so its real pixels show), one bar per class, the top class in another colour,
  and a caption "Prediction: 7 (98.3%)".  A guess under
  :data:`~cnn_gui.core.analysis.predictor.MIN_CONFIDENCE` reads "Not sure: maybe 3 (41.0%)" with
  no bar highlighted, and a drawing too small to be a digit (a dot) is not read at all
  (:func:`~cnn_gui.core.inputs.preparation.too_little_to_read`): the rules live in the core, this
  module only shows what they decide.
* :class:`ProbabilityBars` is that bar chart: a small QPainter widget rather than a
  pyqtgraph plot, because ten rectangles need no plot machinery and an update is only
  storing ten numbers and scheduling a repaint (well under a millisecond).
* :class:`CanvasPredictor` is the controller, kept in this module: it connects a
  :class:`~cnn_gui.gui.panels.canvas.DrawingCanvas` to a :class:`PredictionView` through a
  :class:`~cnn_gui.core.analysis.predictor.Predictor` (prepare_drawing -> normalise -> predict).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnn_gui.core.errors import CnnGuiError, describe_line
from cnn_gui.core.analysis.predictor import Predictor, PredictionError, read_out
from cnn_gui.core.analysis.colormaps import image_rgb
from cnn_gui.core.inputs.preparation import DIGIT, LIGHT, Preparation, prepare_drawing, too_little_to_read
from cnn_gui.core.inputs.preprocess import TOO_LITTLE_INK_TEXT
from cnn_gui.gui.panels.canvas import DrawingCanvas

EMPTY_TEXT = "Draw a digit to see a prediction"  # MNIST's weights (and no weights yet)
EMPTY_TEXTS = {  # by Preparation: what the canvas can be given for these weights
    "digit": EMPTY_TEXT,
    "drawings": "Draw, or open an image, to see a prediction",
    "photos": "Open or drop an image to see a prediction",
}
NO_MODEL_TEXT = "No model yet: train or load one to get a prediction"

BAR_COLOUR = QColor(120, 144, 176)
TOP_COLOUR = QColor(230, 120, 30)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is b or (a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b))


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

    def set_classes(self, classes: Sequence[str]) -> None:
        """Label the bars with ``classes`` (new weights); no bars are shown until a reading."""
        self._classes = tuple(str(c) for c in classes)
        self._probs = np.zeros(len(self._classes), dtype=np.float32)
        self._visible = False
        self._top = self._biggest = -1
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

    def _horizontal(self, fm, slot: float) -> bool:
        """Names wider than their bar's slot (a folder's "triangle", CIFAR's "automobile"):
        one row per class instead, the name beside its bar."""
        return any(fm.horizontalAdvance(c) > slot - 2 for c in self._classes)

    def paintEvent(self, event) -> None:  # noqa: ARG002
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        fm = painter.fontMetrics()
        label_h = fm.height() + 2
        area = QRectF(self.rect()).adjusted(4, label_h, -4, -label_h)
        slot = area.width() / max(len(self._classes), 1)
        if self._horizontal(fm, slot):
            self._paint_rows(painter, fm)
        else:
            self._paint_columns(painter, fm, area, slot)
        painter.end()

    def _paint_columns(self, painter: QPainter, fm, area: QRectF, slot: float) -> None:
        text_colour = self.palette().windowText().color()
        label_h = fm.height() + 2
        painter.setPen(QColor(150, 150, 150))
        painter.drawLine(int(area.left()), int(area.bottom()), int(area.right()), int(area.bottom()))
        bar_w = max(2.0, slot * 0.7)
        for i in range(len(self._classes)):
            x = area.left() + i * slot + (slot - bar_w) / 2.0
            painter.setPen(text_colour)
            painter.drawText(QRectF(area.left() + i * slot, area.bottom() + 1, slot, label_h),
                             Qt.AlignmentFlag.AlignCenter, self._classes[i])
            if not self._visible:
                continue
            p = float(self._probs[i])
            h = p * area.height()
            if h >= 0.5:
                painter.fillRect(QRectF(x, area.bottom() - h, bar_w, h), TOP_COLOUR if i == self._top else BAR_COLOUR)
        painter.setPen(text_colour)
        for i, rect in self.value_labels(fm, area, slot):
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, f"{self._probs[i]:.0%}")

    def value_labels(self, fm, area: QRectF, slot: float) -> list[tuple[int, QRectF]]:
        """The percentages written above the columns, with where: the tallest bar's, and those
        of 10 % or more, the likelier first, none over another ("11%11%" when a snapshot read
        every class near 10 %). Each is kept inside the widget: never clipped at the edges."""
        if not self._visible:
            return []
        value_h = fm.height() + 2
        chosen: list[tuple[int, QRectF]] = []
        for i in sorted(range(len(self._probs)), key=lambda k: -float(self._probs[k])):
            p = float(self._probs[i])
            if i != self._biggest and p < 0.1:
                continue
            w = fm.horizontalAdvance(f"{p:.0%}") + 6
            left = min(max(area.left() + i * slot + slot / 2 - w / 2, 0.0), self.width() - w)
            rect = QRectF(left, area.bottom() - p * area.height() - value_h, w, value_h)
            if not any(rect.intersects(other) for _, other in chosen):
                chosen.append((i, rect))
        return chosen

    def row_layout(self, fm) -> tuple[float, list[int]]:
        """(row height, the classes shown as rows): rows tighten to the font's height before any
        class is left out; then the most probable ones (in class order), and a last row that
        says how many are not shown (ten CIFAR classes lost two rows without a word)."""
        n = len(self._classes)
        row_h = max(float(fm.height()), min(fm.height() + 4.0, self.height() / n))
        rows = max(1, min(n, int(self.height() // row_h)))
        if rows >= n:
            return row_h, list(range(n))
        rows = max(1, rows - 1)  # room for the "+k more" row
        if self._visible:
            return row_h, sorted(np.argsort(-self._probs, kind="stable")[:rows].tolist())
        return row_h, list(range(rows))

    def _paint_rows(self, painter: QPainter, fm) -> None:
        """Class names on the left, bars to their right, the percentage at the end."""
        text_colour = self.palette().windowText().color()
        row_h, shown = self.row_layout(fm)
        n = len(self._classes)
        name_w = min(max(fm.horizontalAdvance(self._classes[i]) for i in shown) + 8, self.width() * 0.45)
        value_w = fm.horizontalAdvance("100%") + 8
        bar_left, bar_max = 4 + name_w, max(self.width() - 4 - name_w - value_w, 4)
        lines = len(shown) + (len(shown) < n)
        top = (self.height() - lines * row_h) / 2
        for r, i in enumerate(shown):
            y = top + r * row_h
            painter.setPen(text_colour)
            name = fm.elidedText(self._classes[i], Qt.TextElideMode.ElideRight, int(name_w - 8))
            painter.drawText(QRectF(4, y, name_w - 6, row_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             name)
            if not self._visible:
                continue
            p = float(self._probs[i])
            if p * bar_max >= 0.5:
                painter.fillRect(QRectF(bar_left, y + 3, p * bar_max, row_h - 6),
                                 TOP_COLOUR if i == self._top else BAR_COLOUR)
            painter.setPen(text_colour)
            painter.drawText(QRectF(bar_left + p * bar_max + 4, y, value_w, row_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{p:.0%}")
        if len(shown) < n:
            painter.setPen(self.palette().placeholderText().color())
            more = f"+{n - len(shown)} more classes" + (", less probable" if self._visible else "")
            painter.drawText(QRectF(4, top + len(shown) * row_h, self.width() - 8, row_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(more, Qt.TextElideMode.ElideRight, self.width() - 8))


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
        self.input_title = input_title = QLabel("Network input (28x28)")
        input_title.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.bars = ProbabilityBars()
        self.caption = QLabel(EMPTY_TEXT)
        font = QFont(self.caption.font())
        font.setPointSizeF(font.pointSizeF() * 1.25 if font.pointSizeF() > 0 else 12.0)
        font.setBold(True)
        self.caption.setFont(font)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        # Three lines, whatever the text: a caption that wraps to another number of lines must
        # not resize the canvas above (a stroke begun then lands off).
        self.caption.setFixedHeight(QFontMetrics(font).lineSpacing() * 3 + 4)

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
        self._empty_text = EMPTY_TEXT
        self.show_empty()

    # ----------------------------------------------------------------- updates
    def _set_input(self, image: np.ndarray | None) -> None:
        """The network's input, (H, W) or (C, H, W) in [0, 1], enlarged without smoothing."""
        if image is None:
            self.input_label.setPixmap(self._blank)
            return
        a = np.ascontiguousarray(image_rgb(image))
        h, w = a.shape[:2]
        self.input_title.setText(f"Network input ({w}x{h})")
        qimg = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: own the pixels
        pix = QPixmap.fromImage(qimg).scaled(self.IMAGE_SIZE, self.IMAGE_SIZE,
                                             Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.FastTransformation)
        self.input_label.setPixmap(pix)

    def set_preparation_text(self, text: str) -> None:
        """The input's tooltip: how an image is prepared for the current weights."""
        self.input_label.setToolTip(f"What the network sees: {text}.")

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
        self._say(reading.caption)

    def show_too_little_ink(self, img28: np.ndarray | None) -> None:
        """A drawing too small to be a digit: its input, no bars, "Too little ink to read"."""
        self.show_input_only(img28, TOO_LITTLE_INK_TEXT)

    def show_input_only(self, img28: np.ndarray | None, message: str = NO_MODEL_TEXT) -> None:
        """Show what the network would see, but no guess (no model yet, or it failed)."""
        self._set_input(img28)
        self.bars.set_probabilities(None)
        self._top = None
        self._say(message)

    def _say(self, text: str) -> None:
        self.caption.setText(text)
        self.caption.setToolTip(text)  # whole, should three lines not hold it

    def show_empty(self) -> None:
        """Nothing drawn: no image, no bars, no guess."""
        self.show_input_only(None, self._empty_text)

    def set_expected(self, classes: Sequence[str] | None, preparation=None, input_shape=None) -> None:
        """New weights: the bars are labelled with their classes before anything is read, the
        input's title gives its size, and the empty caption says what these weights can be
        given (a digit, a drawing, an image)."""
        if classes:
            self.bars.set_classes(classes)
        if input_shape is not None and None not in tuple(input_shape)[1:]:
            self.input_title.setText(f"Network input ({input_shape[2]}x{input_shape[1]})")
        kind = "digit" if preparation is None or preparation.method == "digit" else (
            "drawings" if preparation.reads_drawings else "photos")
        was_empty = self.caption.text() == self._empty_text
        self._empty_text = EMPTY_TEXTS[kind]
        if was_empty:
            self._say(self._empty_text)

    def top_prediction(self) -> tuple[int, float] | None:
        """(class index, probability) shown now, confident or not, or None."""
        return self._top

    def caption_text(self) -> str:
        return self.caption.text()


class CanvasPredictor(QObject):
    """Reads the canvas with the current :class:`Predictor` and shows the result in the view.

    On ``imageChanged``/``strokeFinished`` it prepares the drawing as the predictor's weights
    were trained (:func:`~cnn_gui.core.inputs.preparation.prepare_drawing`) and runs ``Predictor.predict``
    (which normalises with the training mean/std) and updates the view; a drawing it has
    already read (same canvas revision) is not read again.  On an empty canvas or
    ``cleared`` the view shows no prediction.  With no predictor the view shows the
    28x28 input but no guess, and so it does for a drawing with too little ink to be a
    digit (:func:`~cnn_gui.core.inputs.preparation.too_little_to_read`: a dot is no "0").

    Swap in a newer snapshot with :meth:`set_predictor` (a slot: a trainer thread may
    build the Predictor between two steps and send it through a queued signal); the
    current drawing is read again at once.

    Signals:
        predicted(int, float): the top class index and its probability, after each read
            (also a "not sure" one; not for too little ink).
        failed(str): the model could not read the drawing (e.g. it wants 3x32x32 input).
        inputRead(object): the image the network reads ((H, W) grey or (C, H, W), floats in
            [0, 1]), or None (empty canvas), each time the drawing, the picture or the weights change.
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
        self._picture: np.ndarray | None = None
        self._emitted: np.ndarray | None = None  # the input last sent through inputRead
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
        if predictor is not None:
            self._view.set_expected(predictor.classes, predictor.preparation, predictor.input_shape)
        self.refresh(force=True)

    def forget_picture(self) -> None:
        """Drop an opened file's input prepared for other weights (it is being read again)."""
        self._picture = None

    def show_picture(self, image: np.ndarray) -> None:
        """Read an opened image file, already prepared as the predictor's weights expect
        ((C, H, W) in [0, 1], :func:`~cnn_gui.core.inputs.preparation.prepare_file`), until
        the canvas is cleared or drawn on."""
        self._picture = image
        self._seen_revision = None
        self.refresh()

    @Slot()
    def _on_changed(self) -> None:
        self.refresh()

    @Slot()
    def _on_cleared(self) -> None:
        self._picture = self._emitted = None
        self._seen_revision = self._canvas.revision
        self._view.show_empty()
        self.inputRead.emit(None)

    def _prepared(self) -> tuple[np.ndarray | None, bool]:
        """The canvas's content as the network's input, and whether it is too little ink to read."""
        if self._picture is not None:
            return self._picture, False
        if self._canvas.is_empty():
            return None, False
        drawing, strokes = self._canvas.image_array(), self._canvas.strokes()
        if self._predictor is None:  # no weights yet: show the drawing as MNIST's would be
            return prepare_drawing(drawing, Preparation(DIGIT, LIGHT), (1, 28, 28), strokes), False
        prep = self._predictor.preparation
        image = prepare_drawing(drawing, prep, self._predictor.input_shape, strokes)
        return image, prep.method == DIGIT and too_little_to_read(drawing, strokes)

    def refresh(self, force: bool = False) -> None:
        """Read the canvas now (unless it is unchanged since the last read and not ``force``)."""
        revision = self._canvas.revision
        drawn = revision != self._seen_revision
        if not force and not drawn:
            return
        self._seen_revision = revision
        try:
            image, too_little = self._prepared()
        except CnnGuiError as exc:  # weights that read photos: a drawing cannot stand in
            self._view.show_input_only(None, _sentence(exc))
            self.inputRead.emit(None)
            return
        if drawn or not _same(image, self._emitted):  # new weights may prepare the drawing another way
            self._emitted = image
            # grey as (H, W), as the analysis views take a test image too
            self.inputRead.emit(image[0] if image is not None and image.shape[0] == 1 else image)
        if image is None:
            self._view.show_empty()
            return
        if self._predictor is None:
            self._view.show_input_only(image)
            return
        if too_little:
            self._view.show_too_little_ink(image)
            return
        try:
            probs = self._predictor.predict(image)
        except CnnGuiError as exc:  # NaN weights, a model that fails on its own input
            message = _sentence(exc)
            self._view.show_input_only(image, message)
            self.failed.emit(message)
            return
        except Exception as exc:  # whatever else a user's model does: tell, don't crash the GUI
            message = f"This model cannot read this image: {describe_line(exc)}"
            self._view.show_input_only(image, message)
            self.failed.emit(message)
            return
        self._view.show_prediction(image, probs, self._predictor.classes)
        top = int(np.argmax(probs))
        self.predicted.emit(top, float(probs[top]))
