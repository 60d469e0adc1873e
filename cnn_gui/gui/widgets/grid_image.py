"""A widget that shows a 2-D array in [0, 1] as a crisp grey image, scaled to fit.

Used for feature maps and for grids of test images. NaN cells are the gaps between
tiles and are painted in the background colour. Pixels are scaled by whole-pixel
nearest-neighbour blocks where there is room, so a 26x26 map stays a 26x26 map and is
not smoothed into something the network never saw.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

GAP_RGB = (214, 220, 228)  # light blue-grey between tiles


def to_qimage(grid: np.ndarray) -> QImage:
    """A float array in [0, 1] (NaN = gap) as an RGB32 QImage that owns its pixels."""
    h, w = grid.shape
    grey = np.nan_to_num(np.clip(grid, 0.0, 1.0), nan=0.0)
    v = (grey * 255.0 + 0.5).astype(np.uint32)
    rgb = (0xFF << 24) | (v << 16) | (v << 8) | v
    gap = np.isnan(grid)
    r, g, b = GAP_RGB
    rgb[gap] = (0xFF << 24) | (r << 16) | (g << 8) | b
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, w, h, 4 * w, QImage.Format.Format_RGB32).copy()


class GridImage(QWidget):
    """Paints :meth:`set_grid`'s array; ``tooltip_for(row, col)`` names what is under the mouse.

    Signals: ``cellClicked(row, col)``, the array cell under a left click.
    """

    cellClicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid: np.ndarray | None = None
        self._image: QImage | None = None
        self._message = ""
        self.tooltip_for: Callable[[int, int], str | None] | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)

    def sizeHint(self) -> QSize:
        return QSize(520, 420)

    def set_grid(self, grid: np.ndarray | None) -> None:
        self._grid = None if grid is None or grid.size == 0 else np.asarray(grid, dtype=np.float32)
        self._image = None if self._grid is None else to_qimage(self._grid)
        self.update()

    def set_message(self, text: str) -> None:
        """Shown in the middle when there is no grid."""
        self._message = text
        self.update()

    @property
    def grid(self) -> np.ndarray | None:
        return self._grid

    def image_rect(self) -> QRect:
        """Where the image is drawn: whole-pixel scale if it fits, else fitted, centred."""
        if self._image is None:
            return QRect()
        w, h = self._image.width(), self._image.height()
        avail_w, avail_h = max(self.width() - 8, 1), max(self.height() - 8, 1)
        scale = min(avail_w / w, avail_h / h)
        if scale >= 1:
            scale = float(int(scale))
        dw, dh = max(int(w * scale), 1), max(int(h * scale), 1)
        return QRect((self.width() - dw) // 2, (self.height() - dh) // 2, dw, dh)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        """(row, col) of the array under a widget position, or None outside the image."""
        rect = self.image_rect()
        if self._grid is None or not rect.contains(pos):
            return None
        h, w = self._grid.shape
        row = min(int((pos.y() - rect.y()) * h / rect.height()), h - 1)
        col = min(int((pos.x() - rect.x()) * w / rect.width()), w - 1)
        return row, col

    def paintEvent(self, event) -> None:  # noqa: ARG002
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._image is None:
            if self._message:
                painter.setPen(QColor("#666666"))
                painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                                 Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(self.image_rect(), self._image)
        painter.end()

    def mouseMoveEvent(self, event) -> None:
        cell = self.cell_at(event.position().toPoint())
        text = self.tooltip_for(*cell) if cell is not None and self.tooltip_for is not None else None
        if text:
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            cell = self.cell_at(event.position().toPoint())
            if cell is not None:
                self.cellClicked.emit(*cell)
        super().mousePressEvent(event)
