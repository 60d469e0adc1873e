"""A grey ramp with numbers under a grey image: what black, mid-grey and white stand for."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class ScaleBar(QWidget):
    """A grey ramp with numbers: what black, mid-grey and white stand for in the image above."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: tuple[str, str, str] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 16)

    def sizeHint(self) -> QSize:
        return QSize(200, self.fontMetrics().height() + 16)

    def minimumSizeHint(self) -> QSize:
        return QSize(100, self.fontMetrics().height() + 16)

    def set_labels(self, labels: tuple[str, str, str] | None) -> None:
        """(black, mid-grey, white) texts; None hides the bar's contents."""
        self._labels = labels
        self.update()

    @property
    def labels(self) -> tuple[str, str, str] | None:
        return self._labels

    def paintEvent(self, event) -> None:  # noqa: ARG002
        if self._labels is None:
            return
        painter = QPainter(self)
        fm = self.fontMetrics()
        margin = max(fm.horizontalAdvance(self._labels[0]), fm.horizontalAdvance(self._labels[2])) // 2 + 4
        ramp = QRectF(margin, 2, max(self.width() - 2 * margin, 10), 10)
        gradient = QLinearGradient(ramp.topLeft(), ramp.topRight())
        gradient.setColorAt(0.0, QColor(0, 0, 0))
        gradient.setColorAt(1.0, QColor(255, 255, 255))
        painter.fillRect(ramp, gradient)
        painter.setPen(QColor("#888888"))
        painter.drawRect(ramp)
        painter.setPen(self.palette().windowText().color())
        y = int(ramp.bottom()) + 2 + fm.ascent()
        for frac, text in zip((0.0, 0.5, 1.0), self._labels):
            x = ramp.left() + frac * ramp.width() - fm.horizontalAdvance(text) / 2
            painter.drawText(int(x), y, text)
        painter.end()
