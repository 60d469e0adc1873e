"""How the training plots look: colours, axes, and a title row shared by a title and its legend.

Each plot's title and its one-line legend share the title row. A narrow window would
make them overlap, so :class:`TitleRow` switches to shorter texts (and at last drops the
title) whenever the plot's width changes.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem

TRAIN_COLOR = "#1f77b4"  # blue
TEST_COLOR = "#d62728"  # red
LOSS_COLOR = "#ff7f0e"  # orange
BATCH_ACC_COLOR = "#2ca02c"  # green

ACCURACY_TOP = 100.5  # the accuracy axes never show more than this
TITLE_LEGEND_GAP = 16  # pixels between the title's end and the legend


class TitleRow:
    """A plot's title (left) and one-line legend (right) in its title row, never overlapping:
    on each change of the plot's width the first of ``variants`` -- (title, legend labels
    in legend order), longest first -- that fits is shown."""

    def __init__(self, plot: pg.PlotItem, legend: pg.LegendItem, variants) -> None:
        self.plot, self.legend, self.variants = plot, legend, variants
        self.index = 0
        plot.geometryChanged.connect(self.fit)

    def fit(self) -> int:
        width = self.plot.width()
        scene = self.plot.scene()
        if width <= 0 or scene is None or not any(view.isVisible() for view in scene.views()):
            return self.index  # a hidden plot has no real width yet: keep the texts until it shows
        for i in range(len(self.variants)):
            self._apply(i)
            if self.needed_width() <= width:
                break
        return self.index

    def needed_width(self) -> float:
        """The title row's width with the texts shown now, from the plot's left edge."""
        title = self.plot.titleLabel.item.boundingRect().width() if self.plot.titleLabel.text else 0.0
        left = self.plot.getAxis("left")
        start = left.width() if left.isVisible() else 0.0
        return start + title + TITLE_LEGEND_GAP + self.legend_width() + 8

    def legend_width(self) -> float:
        return self.legend.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()

    def _apply(self, index: int) -> None:
        if index == self.index:
            return
        self.index = index
        title, labels = self.variants[index]
        self.plot.titleLabel.setText(title)
        for (_sample, label), text in zip(self.legend.items, labels):
            label.setText(text)
        # LegendItem.updateSize() would sum the labels' old widths (they are laid out
        # later); its layout's minimum is the new texts' width, and the anchor keeps the
        # legend's right edge where it was.
        self.legend.layout.invalidate()
        self.legend.resize(self.legend.effectiveSizeHint(Qt.SizeHint.MinimumSize))


def title_row_legend(plot: pg.PlotItem) -> pg.LegendItem:
    """A one-line legend in the title row's right end (titles are left-justified), so it
    never covers a curve.  Curves with a ``name`` added to ``plot`` join it by themselves."""
    legend = pg.LegendItem(colCount=4, frame=False, labelTextColor="k", labelTextSize="9pt",
                           horSpacing=12)
    legend.setParentItem(plot)
    legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-8, 2))
    plot.legend = legend
    return legend


def style_axes(plot: pg.PlotItem) -> None:
    for name in ("left", "bottom", "right"):
        axis = plot.getAxis(name)
        # With the grid on, each axis item spans the whole view and replays its QPicture
        # (ticks, labels, grid lines) on every repaint, even when unchanged: a cached
        # pixmap instead took a repaint of the plots from ~83 ms to ~30 ms (1000x780,
        # idle 2-core CPU) and the heartbeat's max while training from ~67 to ~46 ms.
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        axis.setPen(pg.mkPen("#444444"))
        axis.setTextPen(pg.mkPen("#222222"))
        axis.enableAutoSIPrefix(False)
