"""The Embedding tab's scatter plot: one dot per test image, coloured by its true class.

A black ring marks a mistake, a gold star the live image (the canvas drawing), a thicker
ring the hovered dot; a dashed box chooses the images shown in the gallery beside it. There
is no box until the user drags one across the plot (a box put anywhere by default sat on
empty space, "In the box: 0 images"); drawn, it can be moved and resized. The wheel zooms,
a middle-button drag pans.
The plot knows points and rows (indices into the embedding's features), not images.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot

HOVER_PIXELS = 8  # how close the mouse must be to a dot
# matplotlib's tab10: ten colours told apart easily
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


class _BoxViewBox(pg.ViewBox):
    """A left-button drag reports its start and end (data coordinates) to ``on_drag`` instead
    of panning; other buttons as pyqtgraph has them (middle: pan, right: zoom)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_drag = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph's name)
        if ev.button() != Qt.MouseButton.LeftButton or self.on_drag is None:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        self.on_drag(self.mapSceneToView(ev.buttonDownScenePos()), self.mapSceneToView(ev.scenePos()), ev.isFinish())


def class_colour(c: int) -> str:
    return CLASS_COLOURS[c % len(CLASS_COLOURS)]


class EmbeddingPlot(pg.PlotWidget):
    """The dots, their rings, the star and the box.

    Signals: ``mouseMovedTo(QPointF)`` and ``clickedAt(QPointF)``, in data coordinates
    (a left click only); ``boxChanged()``, when the box was dragged, resized or moved.
    """

    mouseMovedTo = Signal(object)
    clickedAt = Signal(object)
    boxChanged = Signal()

    def __init__(self) -> None:
        view_box = _BoxViewBox()
        super().__init__(background="w", viewBox=view_box)
        view_box.on_drag = self._drag_box
        self.setToolTip("Drag across the plot to draw a box: the images inside it show beside it. "
                        "Wheel: zoom; middle button: pan")
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.showGrid(x=True, y=True, alpha=0.15)
        self.class_items: list[pg.ScatterPlotItem] = []
        self.mistake_item = pg.ScatterPlotItem(symbol="o", size=11, pen=pg.mkPen("#000000", width=1.2), brush=None)
        self.live_item = pg.ScatterPlotItem(symbol="star", size=22, pen=pg.mkPen("#000000", width=1.5),
                                            brush=pg.mkBrush("#ffd700"))
        self.hover_item = pg.ScatterPlotItem(symbol="o", size=14, pen=pg.mkPen("#000000", width=2), brush=None)
        self.box = pg.RectROI((0, 0), (1, 1), pen=pg.mkPen("#000000", width=2, style=Qt.PenStyle.DashLine))
        self.box.sigRegionChangeFinished.connect(lambda *_: self.boxChanged.emit())
        self.box.setZValue(20)
        for extra in (self.mistake_item, self.live_item, self.hover_item):
            extra.setZValue(10)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._points = np.zeros((0, 2), np.float32)  # what the plot shows now
        self._rows = np.zeros(0, np.int64)  # rows of the features behind the points

    def has_points(self) -> bool:
        return self._points.shape[0] > 0

    def clear_points(self) -> None:
        self._points = np.zeros((0, 2), np.float32)
        self._rows = np.zeros(0, np.int64)
        self.getPlotItem().clear()
        self.class_items = []

    def show_points(self, points: np.ndarray, labels: np.ndarray, mistakes: np.ndarray, classes: int) -> None:
        """Rows 0 … len(points)-1 at ``points``, coloured by ``labels``, ringed where ``mistakes``;
        the view fitted to them and the box put in their lower left (quietly)."""
        self._points = points
        self._rows = np.arange(len(points), dtype=np.int64)
        item = self.getPlotItem()
        item.clear()
        self.class_items = []
        for c in range(classes):
            mask = labels == c
            scatter = pg.ScatterPlotItem(points[mask, 0], points[mask, 1], symbol="o", size=5,
                                         pen=None, brush=pg.mkBrush(class_colour(c)))
            item.addItem(scatter)
            self.class_items.append(scatter)
        self.mistake_item.setData(points[mistakes, 0], points[mistakes, 1])
        for extra in (self.mistake_item, self.live_item, self.hover_item):
            item.addItem(extra)
        self.hover_item.setData([], [])
        item.autoRange(padding=0.05)  # no box until one is drawn (item.clear() took the last one)

    def has_box(self) -> bool:
        return self.box.scene() is not None

    def _drag_box(self, start: QPointF, now: QPointF, finished: bool) -> None:
        """The box from ``start`` to ``now`` while the mouse is dragged; ``boxChanged`` at the end."""
        if not self.has_points():
            return
        if not self.has_box():
            self.getPlotItem().addItem(self.box)
        self.box.setPos(QPointF(min(start.x(), now.x()), min(start.y(), now.y())), finish=False)
        self.box.setSize(QPointF(abs(now.x() - start.x()), abs(now.y() - start.y())), finish=finished)

    def set_live(self, point: np.ndarray | None) -> None:
        """The star at ``point`` (data coordinates), or none."""
        if point is None:
            self.live_item.setData([], [])
        else:
            self.live_item.setData([float(point[0])], [float(point[1])])

    def point_at(self, view_pos: QPointF, pixels: float = HOVER_PIXELS) -> int | None:
        """The row of the dot nearest ``view_pos`` (data coordinates) within ``pixels``
        screen pixels, or None."""
        if self._points.shape[0] == 0:
            return None
        px = self.getPlotItem().getViewBox().viewPixelSize()
        sx, sy = max(px[0], 1e-12), max(px[1], 1e-12)
        d2 = ((self._points[:, 0] - view_pos.x()) / sx) ** 2 + ((self._points[:, 1] - view_pos.y()) / sy) ** 2
        i = int(np.argmin(d2))
        return int(self._rows[i]) if d2[i] <= pixels ** 2 else None

    def highlight(self, row: int | None) -> None:
        """Ring the dot of ``row`` (None: no ring)."""
        if row is None:
            self.hover_item.setData([], [])
            return
        i = int(np.searchsorted(self._rows, row))
        self.hover_item.setData([float(self._points[i, 0])], [float(self._points[i, 1])])

    def move_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """The box over data rectangle (x0, y0)-(x1, y1); ``boxChanged`` follows."""
        if not self.has_box():
            self.getPlotItem().addItem(self.box)
        self.box.setPos(QPointF(min(x0, x1), min(y0, y1)), update=False)
        self.box.setSize(QPointF(abs(x1 - x0), abs(y1 - y0)))  # emits sigRegionChangeFinished

    def rows_in_box(self) -> np.ndarray:
        """The rows of the dots inside the box (none while there is no box)."""
        if not self.has_box():
            return np.zeros(0, np.int64)
        pos, size = self.box.pos(), self.box.size()
        rect = QRectF(pos.x(), pos.y(), size.x(), size.y())
        p = self._points
        inside = ((p[:, 0] >= rect.left()) & (p[:, 0] <= rect.right())
                  & (p[:, 1] >= rect.top()) & (p[:, 1] <= rect.bottom()))
        return self._rows[inside]

    @Slot(object)
    def _on_mouse_moved(self, scene_pos) -> None:
        vb = self.getPlotItem().getViewBox()
        if vb.sceneBoundingRect().contains(scene_pos):
            self.mouseMovedTo.emit(vb.mapSceneToView(scene_pos))

    @Slot(object)
    def _on_mouse_clicked(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clickedAt.emit(self.getPlotItem().getViewBox().mapSceneToView(event.scenePos()))
