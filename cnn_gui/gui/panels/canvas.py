"""A square canvas to draw a digit on with the mouse or a tablet pen.

Strokes are painted into a fixed-size grey image (280x280 by default, white ink on
black, as MNIST stores its digits), whatever the widget's size: the widget shows that
image scaled into the largest centred square it has.  Painting only blits the image,
and nothing is converted to numpy while drawing: :meth:`DrawingCanvas.image_array` does
that once, when a prediction asks for it.

The canvas also keeps each stroke as the points the pen went through (x, y in image
pixels and the pen's pressure, :meth:`DrawingCanvas.strokes`): the network reads a digit
from those, written at a pen width in proportion to the drawing's size
(:mod:`cnn_gui.core.inputs.strokes`), so a small digit reads as well as a big one. The
grey image is what the user sees, and what weights trained on whole images read.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QTabletEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnn_gui.core.inputs.strokes import MOUSE_PRESSURE


class DrawingCanvas(QWidget):
    """Draw a digit; read it back with :meth:`image_array`.

    Signals:
        imageChanged(): the drawing changed. While a stroke goes on it is sent at most
            every ``THROTTLE_MS`` ms (a single-shot timer collects the changes); a
            pending one is sent at once when the stroke ends, before ``strokeFinished``.
        strokeFinished(): the pen or mouse button was released; the drawing is final.
        cleared(): :meth:`clear` emptied the canvas.

    :attr:`revision` grows with every change, so a listener of several signals can tell
    whether the drawing really changed since it last looked.
    """

    imageChanged = Signal()
    strokeFinished = Signal()
    cleared = Signal()

    THROTTLE_MS = 50
    HINT = "Draw a digit"
    # A "3" drawn two-thirds of the canvas high with this pen has about as much ink after
    # the MNIST preparation as MNIST's own 3s (112 vs 114 pixels > 0.5; 18 px gave 85, a
    # thin stroke the network has rarely seen). tests/gui/test_canvas.py keeps it so.
    DEFAULT_PEN_WIDTH = 22.0

    def __init__(self, parent: QWidget | None = None, resolution: int = 280,
                 pen_width: float = DEFAULT_PEN_WIDTH) -> None:
        super().__init__(parent)
        self._resolution = int(resolution)
        self._image = QImage(self._resolution, self._resolution, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._pen = QPen(QColor(255, 255, 255), float(pen_width), Qt.PenStyle.SolidLine,
                         Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        self._picture: QImage | None = None  # an image file opened on the canvas, shown instead of a drawing
        self._hint = self.HINT
        self._drawing_allowed = True
        self._last: QPointF | None = None  # last point of the stroke in progress, image coordinates
        self._has_ink = False
        self._revision = 0
        self._strokes: list[list[tuple[float, float, float]]] = []  # finished and in progress

        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(self.THROTTLE_MS)
        self._throttle.timeout.connect(self.imageChanged)

        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # paintEvent covers every pixel
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, False)
        self.setCursor(Qt.CursorShape.CrossCursor)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumSize(140, 140)
        self.setToolTip("Draw a digit with the mouse or a pen; it is read as you draw.")

    # ----------------------------------------------------------------- size
    def sizeHint(self) -> QSize:
        return QSize(280, 280)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    def _square(self) -> QRectF:
        """The centred square of the widget that shows the image."""
        side = float(min(self.width(), self.height()))
        return QRectF((self.width() - side) / 2.0, (self.height() - side) / 2.0, side, side)

    def _to_image(self, pos: QPointF) -> QPointF:
        sq = self._square()
        k = self._resolution / max(sq.width(), 1.0)
        return QPointF((pos.x() - sq.left()) * k, (pos.y() - sq.top()) * k)

    # ----------------------------------------------------------------- state
    @property
    def resolution(self) -> int:
        return self._resolution

    @property
    def revision(self) -> int:
        return self._revision

    def penWidth(self) -> float:
        return self._pen.widthF()

    @Slot(float)
    def setPenWidth(self, width: float) -> None:
        """Stroke width in image pixels (18 at 280 px gives MNIST-like ~2 px strokes at 28 px)."""
        self._pen.setWidthF(max(1.0, float(width)))

    def is_empty(self) -> bool:
        return not self._has_ink

    def has_picture(self) -> bool:
        return self._picture is not None

    def set_drawing_allowed(self, allowed: bool) -> None:
        """False for weights that cannot read a drawing: strokes are ignored, a picture still shows."""
        self._drawing_allowed = bool(allowed)
        self.setCursor(Qt.CursorShape.CrossCursor if allowed else Qt.CursorShape.ArrowCursor)

    def drawing_allowed(self) -> bool:
        return self._drawing_allowed

    def set_hint(self, text: str) -> None:
        """What the empty canvas says ("Draw a digit", "Drop an image file here"...)."""
        self._hint = text
        self.update()

    def hint(self) -> str:
        return self._hint

    def show_picture(self, rgb: np.ndarray) -> None:
        """Show an opened image file (uint8 H x W x 3) in place of the drawing, which is cleared.

        The network reads the file itself, prepared as the weights expect; drawing a stroke
        or :meth:`clear` goes back to drawing.
        """
        a = np.ascontiguousarray(rgb, dtype=np.uint8)
        h, w = a.shape[:2]
        picture = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.clear()
        self._picture = picture
        self.update()

    def image(self) -> QImage:
        """A copy of the drawing (Format_Grayscale8, white ink on black)."""
        return self._image.copy()

    def strokes(self) -> list[np.ndarray]:
        """Every stroke so far, the one in progress included: float64 (N, 3) arrays of x, y
        (image pixels, 0 to :attr:`resolution`) and pressure (0 to 1; a mouse gives
        :data:`~cnn_gui.core.inputs.strokes.MOUSE_PRESSURE`). Copies."""
        return [np.array(s, dtype=np.float64) for s in self._strokes if s]

    def image_array(self) -> np.ndarray:
        """The drawing as float32 (H, W) in [0, 1], ink = 1. Copies; call it when needed."""
        img = self._image
        h, w, bpl = img.height(), img.width(), img.bytesPerLine()
        buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=h * bpl).reshape(h, bpl)
        return buf[:, :w].astype(np.float32) * np.float32(1.0 / 255.0)

    def replay(self, strokes: list[np.ndarray]) -> None:
        """Draw these strokes (as :meth:`strokes` gives them: x, y in image pixels, pressure)
        after what is there, as if drawn now: the start-up window's drawing moves here so."""
        for stroke in strokes:
            if len(stroke) == 0 or not self._drawing_allowed:
                continue
            points = [QPointF(float(x), float(y)) for x, y, _ in stroke]
            if self._picture is not None:
                self.clear()
            self._strokes.append([(float(x), float(y), float(p)) for x, y, p in stroke])
            self._paint_segment(points[0], points[0])
            for a, b in zip(points, points[1:]):
                self._paint_segment(a, b)
        if strokes:
            self._throttle.stop()
            self.imageChanged.emit()
            self.strokeFinished.emit()

    @Slot()
    def clear(self) -> None:
        self._throttle.stop()
        self._picture = None
        self._image.fill(0)
        self._last = None
        self._has_ink = False
        self._strokes = []
        self._revision += 1
        self.update()
        self.cleared.emit()

    # ----------------------------------------------------------------- drawing
    def _begin(self, pos: QPointF, pressure: float = MOUSE_PRESSURE) -> None:
        if not self._drawing_allowed:
            return
        if self._picture is not None:  # drawing replaces an opened picture
            self.clear()
        p = self._to_image(pos)
        self._last = p
        self._strokes.append([(p.x(), p.y(), pressure)])
        self._paint_segment(p, p)

    def _extend(self, pos: QPointF, pressure: float = MOUSE_PRESSURE) -> None:
        if self._last is None:
            return
        p = self._to_image(pos)
        if p == self._last:
            return
        self._strokes[-1].append((p.x(), p.y(), pressure))
        self._paint_segment(self._last, p)
        self._last = p

    def _end(self, pos: QPointF | None, pressure: float = MOUSE_PRESSURE) -> None:
        if self._last is None:
            return
        if pos is not None:
            self._extend(pos, pressure)
        self._last = None
        if self._throttle.isActive():  # flush the pending change now, not 50 ms later
            self._throttle.stop()
            self.imageChanged.emit()
        self.strokeFinished.emit()

    def _paint_segment(self, a: QPointF, b: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(self._pen)
        if a == b:
            painter.drawPoint(a)  # a round dot: the round cap of a zero-length line
        else:
            painter.drawLine(a, b)
        painter.end()
        self._revision += 1
        if not self._has_ink:  # the hint text goes: repaint all of it once
            self._has_ink = True
            self.update()
        # Repaint only the part of the widget the segment touched.
        sq = self._square()
        k = sq.width() / self._resolution
        r = self._pen.widthF() / 2.0 + 2.0
        x0, x1 = sorted((a.x(), b.x()))
        y0, y1 = sorted((a.y(), b.y()))
        self.update(QRectF(sq.left() + (x0 - r) * k, sq.top() + (y0 - r) * k,
                           (x1 - x0 + 2 * r) * k, (y1 - y0 + 2 * r) * k).toAlignedRect())
        if not self._throttle.isActive():
            self._throttle.start()

    # ----------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position())
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._last is not None:
            self._end(event.position())
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def tabletEvent(self, event: QTabletEvent) -> None:
        # Accepting the event stops Qt from also synthesising mouse events for it.
        kind = event.type()
        pressure = min(max(float(event.pressure()), 0.0), 1.0)
        if kind == QEvent.Type.TabletPress:
            self._begin(event.position(), pressure)
        elif kind == QEvent.Type.TabletMove:
            if self._last is not None:
                self._extend(event.position(), pressure)
        elif kind == QEvent.Type.TabletRelease:
            # A pen lifting reports pressure 0 at the end; the stroke's last width stays.
            self._end(event.position(), self._strokes[-1][-1][2] if self._strokes and self._last else pressure)
        else:
            event.ignore()
            return
        event.accept()

    def paintEvent(self, event) -> None:  # noqa: ARG002 - Qt's signature
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        sq = self._square()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        if self._picture is not None:
            painter.fillRect(sq, QColor(0, 0, 0))
            size = self._picture.size().scaled(sq.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRectF(sq.left() + (sq.width() - size.width()) / 2, sq.top() + (sq.height() - size.height()) / 2,
                            size.width(), size.height())
            painter.drawImage(target, self._picture)
        else:
            painter.drawImage(sq, self._image)
        painter.setPen(QPen(QColor(90, 90, 90), 1))
        painter.drawRect(sq.adjusted(0, 0, -1, -1))
        if not self._has_ink and self._picture is None:
            painter.setPen(QColor(140, 140, 140))
            font = painter.font()
            font.setPointSizeF(max(9.0, sq.width() / 20.0))
            painter.setFont(font)
            painter.drawText(sq.adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._hint)
        painter.end()
