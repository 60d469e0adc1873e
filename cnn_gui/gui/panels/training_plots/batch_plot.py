"""The lower training plot: loss (left axis) and the epoch's running accuracy (right) per step.

The train loss of the latest batches (the mean since the previous report, ~1 batch on a
CPU) and the epoch's running train accuracy in % share the step axis: the accuracy has a
second ViewBox linked on x (pyqtgraph's "multiple axes" pattern). The curves clip to the
view and downsample ("peak") automatically, so 100,000+ points stay fast.

The plot *follows* the run instead of auto-ranging: the step axis spans the whole
planned run (:meth:`BatchPlot.plan`), so the curves fill the plot from left to right
like a progress bar; loss runs from 0 to a round number above its highest value,
accuracy from 0 to 100 %. The axes therefore change only a few times a run. Under
pyqtgraph's auto-range every redraw moved all three axes (their ticks were regenerated
in Python) and painted the plots twice (the range applied during the paint asks for
another one): ~9 ms of the GUI thread per redraw, which on a 2-core machine the training
threads wait for. Zooming or panning it with the mouse stops following; the plot's "A"
button (bottom left, on hover) follows the run again.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from cnn_gui.core.events import BatchEnded
from cnn_gui.gui.panels.training_plots.buffers import GrowBuffer
from cnn_gui.gui.panels.training_plots.plot_style import (ACCURACY_TOP, BATCH_ACC_COLOR, LOSS_COLOR, TitleRow,
                                                          style_axes, title_row_legend)

# Title and legend texts, longest first; the first that fits the plot's width is shown.
BATCH_TITLES = (
    ("Training loss and accuracy per batch", ("train loss (latest batches)", "train accuracy % (epoch so far)")),
    ("Loss and accuracy per batch", ("loss (latest batches)", "accuracy % (epoch so far)")),
    ("Per batch", ("loss", "accuracy %")),
    ("", ("loss", "accuracy %")),
)

_COLUMNS = ("step", "loss", "accuracy_pct", "accuracy", "epoch", "lr")
RATE_MARK_COLOR = "#7f3fbf"  # where the learning rate was changed during the run


def round_up(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= value."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * scale >= value * (1 - 1e-12):
            return m * scale
    return 10.0 * scale


def _finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else -math.inf


class BatchPlot:
    """The per-batch plot, added to ``graphics``, and the batches' numbers (:attr:`buffer`).

    A step that is not after the last one shown replaces the points from there on, so x
    stays increasing when a run resumes from an earlier checkpoint (clip-to-view needs
    sorted x).
    """

    def __init__(self, graphics: pg.GraphicsLayoutWidget, capacity: int) -> None:
        self.buffer = GrowBuffer(_COLUMNS, capacity)
        self.planned_last_step: int | None = None
        self._finite = True  # every value so far is finite (skipFiniteCheck)
        self._loss_max = -math.inf  # highest finite loss in the buffer
        self._following = True
        self._applied_ranges: tuple | None = None
        self.rate_marks: list[pg.InfiniteLine] = []
        self._build(graphics)
        self.plot.vb.sigRangeChangedManually.connect(self._stop_following)
        self.acc_view.sigRangeChangedManually.connect(self._stop_following)
        # After PlotItem's own handler (which turns auto-range on): follow the run again.
        self.plot.autoBtn.clicked.connect(self.follow)
        self._apply_ranges()

    def _build(self, graphics: pg.GraphicsLayoutWidget) -> None:
        plot = self.plot = graphics.addPlot()
        plot.setTitle(BATCH_TITLES[0][0], color="k", size="11pt", justify="left")
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "loss", color=LOSS_COLOR)
        plot.showAxis("right")
        plot.setLabel("right", "accuracy (%)", color=BATCH_ACC_COLOR)
        # No grid here: with it, every axis spans the whole plot and repaints cost ~4x more.
        plot.setMenuEnabled(False)
        style_axes(plot)
        plot.getAxis("left").setTextPen(LOSS_COLOR)
        plot.getAxis("right").setTextPen(BATCH_ACC_COLOR)
        plot.vb.setLimits(yMin=-0.05)

        # Second y axis: its own ViewBox, laid over the plot's, sharing x.
        acc_view = self.acc_view = pg.ViewBox()
        acc_view.setMenuEnabled(False)
        acc_view.setLimits(yMax=ACCURACY_TOP)
        plot.scene().addItem(acc_view)
        plot.getAxis("right").linkToView(acc_view)
        acc_view.setXLink(plot.vb)
        acc_view.setZValue(plot.vb.zValue() + 1)
        plot.vb.sigResized.connect(self._sync_acc_view)

        self.loss_curve = pg.PlotDataItem(pen=pg.mkPen(LOSS_COLOR, width=1.5))
        self.acc_curve = pg.PlotDataItem(pen=pg.mkPen(BATCH_ACC_COLOR, width=1.5))
        plot.addItem(self.loss_curve)
        acc_view.addItem(self.acc_curve)
        # PlotItem.addItem imposes the plot's own clip/downsample settings on its curves,
        # so set them on the plot too, and on each curve after adding it.
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        for curve in (self.loss_curve, self.acc_curve):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            curve.setSkipFiniteCheck(True)

        self.legend = title_row_legend(plot)
        self.legend.addItem(self.loss_curve, BATCH_TITLES[0][1][0])
        self.legend.addItem(self.acc_curve, BATCH_TITLES[0][1][1])
        self.title = TitleRow(plot, self.legend, BATCH_TITLES)
        self._sync_acc_view()

    def _sync_acc_view(self) -> None:
        self.acc_view.setGeometry(self.plot.vb.sceneBoundingRect())
        self.acc_view.linkedViewChanged(self.plot.vb, self.acc_view.XAxis)

    # -- following the run ------------------------------------------------------------------

    def plan(self, last_step: int | None) -> None:
        """The run in progress ends at optimizer step ``last_step``: the step axis spans to it."""
        self.planned_last_step = int(last_step) if last_step and last_step > 0 else None
        self._apply_ranges()

    @property
    def following(self) -> bool:
        """True while the ranges follow the run (not zoomed by hand)."""
        return self._following

    def follow(self) -> None:
        """Follow the run again after a zoom or pan by hand (the plot's "A" button)."""
        self._following = True
        self._applied_ranges = None
        self._apply_ranges()

    def _stop_following(self) -> None:
        self._following = False

    def ranges(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """(step, loss, accuracy %) ranges the plot shows while following the run."""
        buf = self.buffer
        first = float(buf.view("step")[0]) - 1.0 if buf.size else 0.0
        last = float(buf.view("step")[-1]) if buf.size else 0.0
        planned = self.planned_last_step
        if planned is not None and planned >= last and planned > first:
            x_hi = float(planned)
        else:  # no plan, or past it: grow in round steps, so the axis rarely changes
            x_hi = max(round_up(first + 1.1 * (last - first)), first + 10.0)
        loss_hi = round_up(1.05 * self._loss_max) if math.isfinite(self._loss_max) and self._loss_max > 0 else 2.5
        return (first, x_hi), (0.0, loss_hi), (0.0, ACCURACY_TOP)

    def _apply_ranges(self) -> None:
        if not self._following:
            return
        ranges = self.ranges()
        if ranges == self._applied_ranges:
            return  # the common case: nothing moves, nothing is re-laid out
        self._applied_ranges = ranges
        (x_lo, x_hi), (l_lo, l_hi), (a_lo, a_hi) = ranges
        # setRange turns auto-range off on those axes, which is what following means.
        self.plot.vb.setRange(xRange=(x_lo, x_hi), yRange=(l_lo, l_hi), padding=0)
        self.acc_view.setRange(yRange=(a_lo, a_hi), padding=0)

    # -- data -------------------------------------------------------------------------------

    def append(self, ev: BatchEnded) -> None:
        """Add one running loss/accuracy point; :meth:`draw` shows it."""
        buf = self.buffer
        if buf.size and ev.step <= buf.view("step")[-1]:
            buf.truncate(int(np.searchsorted(buf.view("step"), ev.step, side="left")))
            self._loss_max = _finite_max(buf.view("loss"))
        loss, acc = float(ev.loss), float(ev.accuracy)
        if math.isfinite(loss) and loss > self._loss_max:
            self._loss_max = loss
        if self._finite and not (math.isfinite(loss) and math.isfinite(acc)):
            # A NaN/inf loss (the engine reports it, then fails): let pyqtgraph check.
            self._finite = False
            self.loss_curve.setSkipFiniteCheck(False)
            self.acc_curve.setSkipFiniteCheck(False)
        buf.append((float(ev.step), loss, acc * 100.0, acc, float(ev.epoch), float(ev.lr)))

    def mark_rate(self, step: int, lr: float) -> None:
        # Successive marks' labels at three heights in turn: two changes a few steps apart
        # drew "lr 0.001" under "lr 1" at one height.
        height = (0.8, 0.6, 0.4)[len(self.rate_marks) % 3]
        line = pg.InfiniteLine(pos=float(step), angle=90, movable=False, label=f"lr {lr:g}",
                               pen=pg.mkPen(RATE_MARK_COLOR, width=1, style=Qt.PenStyle.DashLine),
                               labelOpts={"position": height, "color": RATE_MARK_COLOR, "fill": (255, 255, 255, 210)})
        self.plot.addItem(line, ignoreBounds=True)
        self.rate_marks.append(line)

    def clear(self) -> None:
        """No points, no marks and no plan; following the run again."""
        for line in self.rate_marks:
            self.plot.removeItem(line)
        self.rate_marks = []
        self.buffer.clear()
        self._finite = True
        self._loss_max = -math.inf
        self.planned_last_step = None
        self.loss_curve.setSkipFiniteCheck(True)
        self.acc_curve.setSkipFiniteCheck(True)
        self.draw()
        self.follow()

    def draw(self) -> None:
        buf = self.buffer
        step = buf.view("step")
        self.loss_curve.setData(step, buf.view("loss"))
        self.acc_curve.setData(step, buf.view("accuracy_pct"))
        self._apply_ranges()

    def series(self) -> dict[str, np.ndarray]:
        """Copies of the batch data: ``step``, ``loss``, ``accuracy`` in % (as plotted),
        ``epoch``, ``lr``."""
        buf = self.buffer
        return {
            "step": buf.view("step").copy(),
            "loss": buf.view("loss").copy(),
            "accuracy": buf.view("accuracy_pct").copy(),
            "epoch": buf.view("epoch").copy(),
            "lr": buf.view("lr").copy(),
        }
