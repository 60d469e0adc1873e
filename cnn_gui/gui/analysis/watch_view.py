"""The Watch tab: small multiples of the pinned images, each one's class probabilities over the steps.

A :class:`WatchTile` per pin, painted by hand (16 pyqtgraph plots would cost more to build
than the whole tab): the image, what it should be and what the shown weights read now,
and a small plot of every class's probability over the run's steps -- the class it should
be thick and blue, the others thin and grey, the step where it was last forgotten (right,
then wrong again) as a red dashed line, and the time slider's snapshot as a black one.

The view only shows and asks; :class:`~cnn_gui.gui.flows.watch_flow.WatchFlow` keeps the list
and the readings.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QToolButton, QVBoxLayout, QWidget

from cnn_gui.core.analysis.watch import MAX_PINNED, Pinned
from cnn_gui.gui.widgets.flow_layout import FlowLayout
from cnn_gui.gui.widgets.small_text import make_small

TILE = QSize(250, 150)
THUMB = 52
TARGET_COLOR = QColor("#1f5fbf")
OTHER_COLOR = QColor(150, 150, 150, 150)
FORGOT_COLOR = QColor("#c0392b")
MOMENT_COLOR = QColor("#202020")
RIGHT_COLOR = QColor("#1e7b34")
EMPTY_TEXT = ("Pin the drawing, or a test image (click one in the Test set or Embedding tab, then Pin it here), to watch "
              "how the network reads it as it trains: at each snapshot, and twice a second while training.")


def _qimage(image: np.ndarray) -> QImage:
    """(C, H, W) in [0, 1] as an 8-bit QImage (kept alive by the caller's reference to it)."""
    a = np.ascontiguousarray(np.clip(image * 255.0, 0, 255).astype(np.uint8))
    if a.shape[0] == 1:
        g = np.ascontiguousarray(a[0])
        return QImage(g.data, g.shape[1], g.shape[0], g.strides[0], QImage.Format.Format_Grayscale8).copy()
    rgb = np.ascontiguousarray(a[:3].transpose(1, 2, 0))
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()


class WatchTile(QWidget):
    """One pinned image and its probabilities over the steps (see the module docstring)."""

    removeRequested = Signal()

    def __init__(self, pin: Pinned, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pin = pin
        self.setFixedSize(TILE)
        # It paints every pixel of itself: else each update repaints its parent and every sibling (~120 paints)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.thumb = _qimage(pin.image)
        self.steps = np.zeros(0)
        self.probs = np.zeros((0, 0), np.float32)
        self.classes: tuple[str, ...] = ()
        self.target: int | None = None
        self.forgotten: int | None = None
        self.x_max = 1.0
        self.now: np.ndarray | None = None  # the shown weights' reading
        self.moment: int | None = None
        self.remove_button = QToolButton(self)
        self.remove_button.setText("×")
        self.remove_button.setToolTip(f"Remove {pin.name} from the watch list")
        self.remove_button.setAutoRaise(True)
        self.remove_button.move(TILE.width() - 22, 0)
        self.remove_button.clicked.connect(self.removeRequested)
        self.setToolTip(f"{pin.name}: should be {pin.target}")

    def set_readings(self, steps, probs, classes, target, forgotten, x_max, now) -> None:
        self.steps, self.probs, self.classes = steps, probs, tuple(classes)
        self.target, self.forgotten, self.x_max, self.now = target, forgotten, max(float(x_max), 1.0), now
        self.update()

    def set_moment(self, step: int | None) -> None:
        self.moment = step
        self.update()

    def now_text(self) -> str:
        """"reads 4 (97 %)" by the weights shown, "" when not read."""
        if self.now is None or not np.isfinite(self.now).all() or not len(self.now):
            return ""
        top = int(np.argmax(self.now))
        name = self.classes[top] if top < len(self.classes) else str(top)
        return f"reads {name} ({self.now[top]:.0%})"

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        p.setPen(QPen(QColor("#c8c8c8")))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        p.drawImage(QRectF(4, 4, THUMB, THUMB), self.thumb)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
        p.setFont(font)
        p.setPen(QColor("black"))
        p.drawText(QRectF(THUMB + 10, 2, TILE.width() - THUMB - 34, 16), Qt.AlignmentFlag.AlignLeft, self.pin.name)
        p.drawText(QRectF(THUMB + 10, 18, TILE.width() - THUMB - 14, 16), Qt.AlignmentFlag.AlignLeft,
                   f"should be {self.pin.target}")
        now = self.now_text()
        right = self.now is not None and self.target is not None and now and int(np.argmax(self.now)) == self.target
        p.setPen(RIGHT_COLOR if right else FORGOT_COLOR)
        p.drawText(QRectF(THUMB + 10, 34, TILE.width() - THUMB - 14, 16), Qt.AlignmentFlag.AlignLeft, now)
        self._plot(p, QRectF(8, THUMB + 12, TILE.width() - 16, TILE.height() - THUMB - 20))
        p.end()

    def _plot(self, p: QPainter, r: QRectF) -> None:
        p.setPen(QPen(QColor("#d0d0d0")))
        p.drawRect(r)

        def x_of(step: float) -> float:  # log steps: the snapshots are log-spaced, and so is most change
            return r.left() + r.width() * min(max(np.log1p(max(step, 0.0)) / np.log1p(self.x_max), 0.0), 1.0)

        def y_of(prob: float) -> float:
            return r.bottom() - r.height() * prob

        if len(self.steps) and self.probs.ndim == 2:
            order = [c for c in range(self.probs.shape[1]) if c != self.target]
            order += [self.target] if self.target is not None and self.target < self.probs.shape[1] else []
            for c in order:
                path, started = QPainterPath(), False
                for s, v in zip(self.steps, self.probs[:, c]):
                    if not np.isfinite(v):
                        started = False
                        continue
                    point = QPointF(x_of(s), y_of(float(v)))
                    path.lineTo(point) if started else path.moveTo(point)
                    started = True
                p.setPen(QPen(TARGET_COLOR, 2.2) if c == self.target else QPen(OTHER_COLOR, 1.0))
                p.drawPath(path)
        if self.forgotten is not None:
            p.setPen(QPen(FORGOT_COLOR, 1.2, Qt.PenStyle.DashLine))
            x = x_of(self.forgotten)
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.drawText(QRectF(min(x + 2, r.right() - 110), r.top(), 110, 14), Qt.AlignmentFlag.AlignLeft,
                       f"forgotten at {self.forgotten:,}")
        if self.moment is not None:
            p.setPen(QPen(MOMENT_COLOR, 1.6))
            x = x_of(self.moment)
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))


class WatchView(QWidget):
    """The Watch tab: pin buttons, and a tile per pinned image."""

    pinDrawingRequested = Signal()
    pinTestRequested = Signal()
    removeRequested = Signal(int)
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pin_drawing_button = QPushButton("Pin the drawing")
        self.pin_drawing_button.setToolTip("Watch the drawing on the canvas: what it should be is what the "
                                           "network reads now")
        self.pin_test_button = QPushButton("Pin the test image")
        self.pin_test_button.setEnabled(False)
        self.pin_test_button.setToolTip("Click an image in the Test set or Embedding tab first")
        self.clear_button = QPushButton("Remove all")
        self.count_label = QLabel()
        self.note = QLabel(EMPTY_TEXT)
        self.note.setWordWrap(True)
        make_small(self.note, self.count_label, grey=(self.note, self.count_label))
        top = QHBoxLayout()
        for widget in (self.pin_drawing_button, self.pin_test_button, self.clear_button):
            top.addWidget(widget)
        top.addWidget(self.count_label)
        top.addStretch(1)
        self.grid_widget = QWidget()
        self.grid = FlowLayout(self.grid_widget, h_spacing=8, v_spacing=8)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_widget)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(scroll, 1)
        self.tiles: list[WatchTile] = []
        self.pin_drawing_button.clicked.connect(self.pinDrawingRequested)
        self.pin_test_button.clicked.connect(self.pinTestRequested)
        self.clear_button.clicked.connect(self.clearRequested)
        self.set_pins([])

    def set_pins(self, pins: list[Pinned]) -> None:
        for tile in self.tiles:
            self.grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles = []
        for i, pin in enumerate(pins):
            tile = WatchTile(pin)
            tile.removeRequested.connect(lambda i=i: self.removeRequested.emit(i))
            self.grid.addWidget(tile)
            self.tiles.append(tile)
        self.clear_button.setEnabled(bool(pins))
        self.count_label.setText(f"{len(pins)} of {MAX_PINNED} pinned" if pins else "")
        self.note.setText(EMPTY_TEXT if not pins else
                          "Probability of each class over the steps (log scale). Blue: the class it should be; "
                          "grey: the others; red dashes: where it was last forgotten; black: the snapshot the "
                          "slider shows.")

    def set_test_choice(self, name: str | None) -> None:
        """The test image last clicked in the Test set tab (None: none)."""
        self.pin_test_button.setEnabled(name is not None)
        self.pin_test_button.setText(f"Pin {name}" if name else "Pin the test image")

    def set_moment(self, step: int | None) -> None:
        for tile in self.tiles:
            tile.set_moment(step)
