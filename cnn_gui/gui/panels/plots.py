"""Live training curves: accuracy per epoch, and running loss/accuracy per batch.

:class:`TrainingPlots` holds one :class:`pyqtgraph.GraphicsLayoutWidget` with two plots,
one above the other:

1. *Accuracy per epoch* -- train and test accuracy in %, one point per epoch.  These are
   accuracy curves and are labelled as such (the tutorial this app grows from calls them
   "loss"; they are not).
2. *Training loss and accuracy per batch* -- the train loss of the latest batches (the
   mean since the previous report, ~1 batch on a CPU; left axis) and the epoch's running
   train accuracy in % (right axis, a second ViewBox linked on x: pyqtgraph's "multiple
   axes" pattern) per optimizer step.

Every series has one :class:`~pyqtgraph.PlotDataItem`, created once; updates only call
``setData``.  Points live in float64 numpy buffers that double when full, so appending
is O(1) amortised and a redraw hands pyqtgraph views of those buffers, never a list
converted again.  :meth:`TrainingPlots.add_batch` only appends and marks the plot
dirty; a 10 Hz timer, running only while something is pending, pushes the data to the
curves.  The per-batch curves clip to the view and downsample ("peak") automatically,
so 100,000+ points stay fast.  Epochs are rare: :meth:`TrainingPlots.add_epoch` redraws
at once.

The per-batch plot *follows* the run instead of auto-ranging: the step axis spans the
whole planned run (:meth:`TrainingPlots.plan_steps`), so the curves fill the plot from
left to right like a progress bar; loss runs from 0 to a round number above its
highest value, accuracy from 0 to 100 %.  The axes therefore change only a few times a
run.  Under pyqtgraph's auto-range every redraw moved all three axes (their ticks were
regenerated in Python) and painted the plots twice (the range applied during the
paint asks for another one): ~9 ms of the GUI thread per redraw, which on a 2-core
machine the training threads wait for.  Zooming or panning it with the mouse stops
following; the plot's "A" button (bottom left, on hover) follows the run again.  The
per-epoch plot's epoch axis likewise spans the planned epochs (:meth:`plan_epochs`; a
1-epoch run is one tick, not a point at the edge of a 1-3 axis), with whole-number ticks.

Each plot's title and its one-line legend share the title row.  A narrow window would
make them overlap, so :class:`_TitleRow` switches to shorter texts (and at last drops the
title) whenever the plot's width changes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy, QVBoxLayout, QWidget

from cnn_gui.core.events import BatchEnded, EpochEnded
from cnn_gui.core.files.metrics_csv import CSV_HEADER, write_metrics_csv  # noqa: F401 - CSV_HEADER re-exported
from cnn_gui.gui.widgets.axes import IntegerAxis

TRAIN_COLOR = "#1f77b4"  # blue
TEST_COLOR = "#d62728"  # red
LOSS_COLOR = "#ff7f0e"  # orange
BATCH_ACC_COLOR = "#2ca02c"  # green

ACCURACY_TOP = 100.5  # the accuracy axes never show more than this
NEUTRAL_EPOCHS = 3  # the epoch axis of an empty plot with no run planned

# Title and legend texts, longest first; the first that fits the plot's width is shown.
EPOCH_TITLES = (
    ("Accuracy per epoch", ("train accuracy", "test accuracy")),
    ("Accuracy per epoch", ("train", "test")),
    ("", ("train", "test")),
)
BATCH_TITLES = (
    ("Training loss and accuracy per batch", ("train loss (latest batches)", "train accuracy % (epoch so far)")),
    ("Loss and accuracy per batch", ("loss (latest batches)", "accuracy % (epoch so far)")),
    ("Per batch", ("loss", "accuracy %")),
    ("", ("loss", "accuracy %")),
)
TITLE_LEGEND_GAP = 16  # pixels between the title's end and the legend



class _GrowBuffer:
    """Named float64 columns in one ``(columns, capacity)`` array that doubles when full.

    Each column is a contiguous row, so ``view(name)`` is a cheap contiguous slice.
    """

    def __init__(self, names: tuple[str, ...], capacity: int) -> None:
        self.names = names
        self._index = {name: i for i, name in enumerate(names)}
        self.initial_capacity = capacity
        self.data = np.empty((len(names), capacity), dtype=np.float64)
        self.size = 0

    @property
    def capacity(self) -> int:
        return self.data.shape[1]

    def append(self, values: tuple[float, ...]) -> None:
        if self.size == self.capacity:
            grown = np.empty((len(self.names), 2 * self.capacity), dtype=np.float64)
            grown[:, : self.size] = self.data[:, : self.size]
            self.data = grown
        self.data[:, self.size] = values
        self.size += 1

    def view(self, name: str) -> np.ndarray:
        """The column's filled part, a view: do not keep it past the next append/clear."""
        return self.data[self._index[name], : self.size]

    def truncate(self, size: int) -> None:
        self.size = max(0, min(size, self.size))

    def clear(self) -> None:
        """Empty, back at the initial capacity (a fresh array: old views stay intact)."""
        self.data = np.empty((len(self.names), self.initial_capacity), dtype=np.float64)
        self.size = 0


def _num(value) -> float:
    """A dict value as a float; missing or None -> NaN."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class TrainingPlots(QWidget):
    """The training curves of the main window.

    Public API:
        ``add_batch(ev)`` -- append one :class:`BatchEnded` (drawn by the next timer tick).
        ``add_epoch(ev)`` -- append one :class:`EpochEnded` and redraw the epoch plot now.
        ``set_history(history)`` -- replace the epoch curves by a list of
        ``EpochEnded.to_dict()``-like dicts (a loaded checkpoint's history).
        ``clear()`` -- empty every curve.
        ``flush()`` -- push pending batch data to the curves now.
        ``export_png(path)`` / ``export_csv(path)`` -- save the plots / the numbers.
        ``epoch_series()`` / ``batch_series()`` -- copies of the plotted numbers.

    An event whose epoch (or step) is not after the last one shown replaces the points
    from there on, so x stays increasing when a run resumes from an earlier checkpoint
    (clip-to-view needs sorted x).  Start a run from scratch with :meth:`clear`.
    """

    # 10 Hz: smooth enough for a curve, and each repaint of the two plots costs a 2-core
    # machine ~7-30 ms that training threads then wait for (benchmarks/gui_responsiveness.py).
    REDRAW_MS = 100
    INITIAL_BATCH_CAPACITY = 1024
    INITIAL_EPOCH_CAPACITY = 16

    _BATCH_COLUMNS = ("step", "loss", "accuracy_pct", "accuracy", "epoch", "lr")
    _EPOCH_COLUMNS = (
        "epoch", "train_accuracy_pct", "test_accuracy_pct", "train_loss", "train_accuracy",
        "test_loss", "test_accuracy", "lr", "seconds",
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._batches = _GrowBuffer(self._BATCH_COLUMNS, self.INITIAL_BATCH_CAPACITY)
        self._epochs = _GrowBuffer(self._EPOCH_COLUMNS, self.INITIAL_EPOCH_CAPACITY)
        self._dirty = False
        self._batch_finite = True  # every batch value so far is finite (skipFiniteCheck)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(12)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._build_epoch_plot()
        self.graphics.nextRow()
        self._build_batch_plot()

        self._timer = QTimer(self)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self._on_timer)

        self._following = True
        self._planned_last_step: int | None = None
        self._planned_epochs: int | None = None
        self._epochs_following = True
        self._loss_max = -math.inf  # highest finite loss in the batch buffer
        self._applied_ranges: tuple | None = None
        self.batch_plot.vb.sigRangeChangedManually.connect(self._stop_following)
        self._acc_view.sigRangeChangedManually.connect(self._stop_following)
        # After PlotItem's own handler (which turns auto-range on): follow the run again.
        self.batch_plot.autoBtn.clicked.connect(self.follow_run)
        self.accuracy_plot.vb.sigRangeChangedManually.connect(self._stop_following_epochs)
        self.accuracy_plot.autoBtn.clicked.connect(self.follow_epochs)
        self._apply_batch_ranges()
        self._apply_epoch_range()
        # The plots take whatever room the window has; they never ask for more.
        self.graphics.setMinimumSize(200, 160)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        # Titles are fitted when the plots' width changes, but a hidden plot is skipped
        # (its width is not real yet): fit once the layout has settled on screen.
        QTimer.singleShot(0, self.fit_titles)

    @Slot()
    def fit_titles(self) -> None:
        """Pick the title and legend texts that fit each plot's width now."""
        self.accuracy_title.fit()
        self.batch_title.fit()

    # -- construction -------------------------------------------------------------------

    def _build_epoch_plot(self) -> None:
        plot = self.graphics.addPlot(axisItems={"bottom": IntegerAxis("bottom")})
        plot.setTitle(EPOCH_TITLES[0][0], color="k", size="11pt", justify="left")
        plot.setLabel("left", "accuracy (%)")
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setMouseEnabled(x=True, y=True)
        plot.vb.setLimits(yMax=ACCURACY_TOP)
        plot.vb.setDefaultPadding(0.06)  # whole markers at the first and last epoch
        plot.setMenuEnabled(False)
        _style_axes(plot)
        legend = _title_row_legend(plot)
        self.train_acc_curve = plot.plot(
            [], [], name=EPOCH_TITLES[0][1][0], pen=pg.mkPen(TRAIN_COLOR, width=2),
            symbol="o", symbolSize=7, symbolBrush=TRAIN_COLOR, symbolPen="w",
        )
        self.test_acc_curve = plot.plot(
            [], [], name=EPOCH_TITLES[0][1][1], pen=pg.mkPen(TEST_COLOR, width=2),
            symbol="s", symbolSize=7, symbolBrush=TEST_COLOR, symbolPen="w",
        )
        # The latest test accuracy in the view's bottom-right corner, where rising
        # accuracy curves rarely are.
        self.test_label = pg.LabelItem("", color=TEST_COLOR, size="12pt", bold=True)
        self.test_label.setParentItem(plot.vb)
        self.test_label.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-8, -4))
        self.accuracy_plot = plot
        self.accuracy_legend = legend
        self.accuracy_title = _TitleRow(plot, legend, EPOCH_TITLES)

    def _build_batch_plot(self) -> None:
        plot = self.graphics.addPlot()
        plot.setTitle(BATCH_TITLES[0][0], color="k", size="11pt", justify="left")
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "loss", color=LOSS_COLOR)
        plot.showAxis("right")
        plot.setLabel("right", "accuracy (%)", color=BATCH_ACC_COLOR)
        # No grid here: with it, every axis spans the whole plot and repaints cost ~4x more.
        plot.setMenuEnabled(False)
        _style_axes(plot)
        plot.getAxis("left").setTextPen(LOSS_COLOR)
        plot.getAxis("right").setTextPen(BATCH_ACC_COLOR)
        plot.vb.setLimits(yMin=-0.05)

        # Second y axis: its own ViewBox, laid over the plot's, sharing x.
        acc_view = pg.ViewBox()
        acc_view.setMenuEnabled(False)
        acc_view.setLimits(yMax=ACCURACY_TOP)
        plot.scene().addItem(acc_view)
        plot.getAxis("right").linkToView(acc_view)
        acc_view.setXLink(plot.vb)
        acc_view.setZValue(plot.vb.zValue() + 1)
        self._acc_view = acc_view
        plot.vb.sigResized.connect(self._sync_acc_view)

        self.batch_loss_curve = pg.PlotDataItem(pen=pg.mkPen(LOSS_COLOR, width=1.5))
        self.batch_acc_curve = pg.PlotDataItem(pen=pg.mkPen(BATCH_ACC_COLOR, width=1.5))
        plot.addItem(self.batch_loss_curve)
        acc_view.addItem(self.batch_acc_curve)
        # PlotItem.addItem imposes the plot's own clip/downsample settings on its curves,
        # so set them on the plot too, and on each curve after adding it.
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        for curve in (self.batch_loss_curve, self.batch_acc_curve):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            curve.setSkipFiniteCheck(True)

        legend = _title_row_legend(plot)
        legend.addItem(self.batch_loss_curve, BATCH_TITLES[0][1][0])
        legend.addItem(self.batch_acc_curve, BATCH_TITLES[0][1][1])
        self.batch_plot = plot
        self.batch_legend = legend
        self.batch_title = _TitleRow(plot, legend, BATCH_TITLES)
        self._sync_acc_view()

    @Slot()
    def _sync_acc_view(self) -> None:
        self._acc_view.setGeometry(self.batch_plot.vb.sceneBoundingRect())
        self._acc_view.linkedViewChanged(self.batch_plot.vb, self._acc_view.XAxis)

    # -- following the run ------------------------------------------------------------------

    def plan_steps(self, last_step: int, epochs: int | None = None) -> None:
        """The run in progress ends at optimizer step ``last_step`` (and after epoch ``epochs``):
        the step axis spans to it. Without ``epochs`` the epoch axis is planned from the
        first batch (``last_step / batches_per_epoch``)."""
        self._planned_last_step = int(last_step) if last_step and last_step > 0 else None
        if epochs is not None:
            self.plan_epochs(epochs)
        else:
            self._planned_epochs = None
        self._apply_batch_ranges()

    def plan_epochs(self, epochs: int | None) -> None:
        """The run in progress ends after epoch ``epochs``: the epoch axis spans 1 to it."""
        self._planned_epochs = int(epochs) if epochs and epochs > 0 else None
        self._apply_epoch_range()

    def epoch_range(self) -> tuple[float, float]:
        """The epoch axis: the planned epochs, or those shown, or 1-3 for an empty plot;
        a little room either side so the first and last markers show whole."""
        buf = self._epochs
        last = buf.view("epoch")[-1] if buf.size else 0.0
        first = min(float(buf.view("epoch")[0]), 1.0) if buf.size else 1.0
        n = max(float(self._planned_epochs or 0), float(last) if math.isfinite(last) else 0.0)
        if n <= 0:
            n = float(NEUTRAL_EPOCHS)
        pad = max(0.06 * (n - first), 0.25)
        return first - pad, n + pad

    @Slot()
    def follow_epochs(self) -> None:
        """Show the planned epochs again after a zoom or pan by hand (the plot's "A" button)."""
        self._epochs_following = True
        self._apply_epoch_range()

    @Slot()
    def _stop_following_epochs(self) -> None:
        self._epochs_following = False

    def _apply_epoch_range(self) -> None:
        if not self._epochs_following:
            return
        vb = self.accuracy_plot.vb
        lo, hi = self.epoch_range()
        vb.setXRange(lo, hi, padding=0)  # x fixed; accuracy keeps auto-ranging
        vb.enableAutoRange(axis=vb.YAxis)

    @property
    def following(self) -> bool:
        """True while the per-batch plot's ranges follow the run (not zoomed by hand)."""
        return self._following

    @Slot()
    def follow_run(self) -> None:
        """Follow the run again after a zoom or pan by hand (the plot's "A" button)."""
        self._following = True
        self._applied_ranges = None
        self._apply_batch_ranges()

    @Slot()
    def _stop_following(self) -> None:
        self._following = False

    def batch_ranges(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """(step, loss, accuracy %) ranges the per-batch plot shows while following the run."""
        buf = self._batches
        first = float(buf.view("step")[0]) - 1.0 if buf.size else 0.0
        last = float(buf.view("step")[-1]) if buf.size else 0.0
        planned = self._planned_last_step
        if planned is not None and planned >= last and planned > first:
            x_hi = float(planned)
        else:  # no plan, or past it: grow in round steps, so the axis rarely changes
            x_hi = max(_round_up(first + 1.1 * (last - first)), first + 10.0)
        loss_hi = _round_up(1.05 * self._loss_max) if math.isfinite(self._loss_max) and self._loss_max > 0 else 2.5
        return (first, x_hi), (0.0, loss_hi), (0.0, ACCURACY_TOP)

    def _apply_batch_ranges(self) -> None:
        if not self._following:
            return
        ranges = self.batch_ranges()
        if ranges == self._applied_ranges:
            return  # the common case: nothing moves, nothing is re-laid out
        self._applied_ranges = ranges
        (x_lo, x_hi), (l_lo, l_hi), (a_lo, a_hi) = ranges
        # setRange turns auto-range off on those axes, which is what following means.
        self.batch_plot.vb.setRange(xRange=(x_lo, x_hi), yRange=(l_lo, l_hi), padding=0)
        self._acc_view.setRange(yRange=(a_lo, a_hi), padding=0)

    # -- data in ------------------------------------------------------------------------

    def add_batch(self, ev: BatchEnded) -> None:
        """Append one running loss/accuracy point; the timer draws it within ~100 ms."""
        buf = self._batches
        if buf.size and ev.step <= buf.view("step")[-1]:
            buf.truncate(int(np.searchsorted(buf.view("step"), ev.step, side="left")))
            self._loss_max = _finite_max(buf.view("loss"))
        loss, acc = float(ev.loss), float(ev.accuracy)
        if math.isfinite(loss) and loss > self._loss_max:
            self._loss_max = loss
        if self._batch_finite and not (math.isfinite(loss) and math.isfinite(acc)):
            # A NaN/inf loss (the engine reports it, then fails): let pyqtgraph check.
            self._batch_finite = False
            self.batch_loss_curve.setSkipFiniteCheck(False)
            self.batch_acc_curve.setSkipFiniteCheck(False)
        buf.append((float(ev.step), loss, acc * 100.0, acc, float(ev.epoch), float(ev.lr)))
        if self._planned_epochs is None and self._planned_last_step and ev.batches_per_epoch > 0:
            self.plan_epochs(math.ceil(self._planned_last_step / int(ev.batches_per_epoch)))
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def add_epoch(self, ev: EpochEnded) -> None:
        """Append one epoch's accuracies and redraw the epoch plot now."""
        self._append_epoch(ev.to_dict())
        self._draw_epochs()

    def set_history(self, history: list[dict]) -> None:
        """Replace the epoch curves by ``history`` (dicts as from ``EpochEnded.to_dict()``).

        Only ``epoch``, ``train_accuracy`` and ``test_accuracy`` are needed; missing
        losses, ``lr`` or ``seconds`` become NaN.  The per-batch curves are left alone.
        """
        self._epochs.clear()
        for row in sorted(history, key=lambda r: _num(r.get("epoch"))):
            self._append_epoch(row)
        self._draw_epochs()

    def clear(self) -> None:
        """Empty every curve and buffer (a new run from scratch)."""
        self._timer.stop()
        self._dirty = False
        self._batches.clear()
        self._epochs.clear()
        self._batch_finite = True
        self._loss_max = -math.inf
        self._planned_last_step = None
        self._planned_epochs = None
        self.batch_loss_curve.setSkipFiniteCheck(True)
        self.batch_acc_curve.setSkipFiniteCheck(True)
        self._draw_batches()
        # Without data, auto-range keeps the last run's accuracies; show a neutral frame
        # instead (auto-range takes over again with the first point).
        self.accuracy_plot.vb.setYRange(0, 100, padding=0.06)
        self._epochs_following = True
        self._draw_epochs()
        self.follow_run()

    def flush(self) -> None:
        """Push pending batch data to the curves now."""
        if self._dirty:
            self._draw_batches()

    @Slot()
    def _on_timer(self) -> None:
        if self._dirty:
            self._draw_batches()
        else:
            self._timer.stop()  # nothing new for a whole tick: sleep until add_batch

    def _append_epoch(self, row: dict) -> None:
        buf = self._epochs
        epoch = _num(row.get("epoch"))
        if buf.size and epoch <= buf.view("epoch")[-1]:
            buf.truncate(int(np.searchsorted(buf.view("epoch"), epoch, side="left")))
        train_acc = _num(row.get("train_accuracy"))
        test_acc = _num(row.get("test_accuracy"))
        buf.append((
            epoch, train_acc * 100.0, test_acc * 100.0, _num(row.get("train_loss")), train_acc,
            _num(row.get("test_loss")), test_acc, _num(row.get("lr")), _num(row.get("seconds")),
        ))

    # -- drawing ------------------------------------------------------------------------

    def _draw_batches(self) -> None:
        self._dirty = False
        buf = self._batches
        step = buf.view("step")
        self.batch_loss_curve.setData(step, buf.view("loss"))
        self.batch_acc_curve.setData(step, buf.view("accuracy_pct"))
        self._apply_batch_ranges()

    def _draw_epochs(self) -> None:
        buf = self._epochs
        epoch = buf.view("epoch")
        self.train_acc_curve.setData(epoch, buf.view("train_accuracy_pct"))
        self.test_acc_curve.setData(epoch, buf.view("test_accuracy_pct"))
        tests = buf.view("test_accuracy_pct")
        finite = tests[np.isfinite(tests)]
        self.test_label.setText(f"test {finite[-1]:.2f}%" if finite.size else "")
        self._apply_epoch_range()

    @property
    def test_label_text(self) -> str:
        """The latest-test-accuracy label as shown ("test 98.91%"), "" before any epoch."""
        return self.test_label.text

    # -- data out -----------------------------------------------------------------------

    def epoch_series(self) -> dict[str, np.ndarray]:
        """Copies of the epoch data: ``epoch``, ``train_accuracy``/``test_accuracy`` in %
        (as plotted), ``train_loss``, ``test_loss``, ``lr``, ``seconds``."""
        buf = self._epochs
        return {
            "epoch": buf.view("epoch").copy(),
            "train_accuracy": buf.view("train_accuracy_pct").copy(),
            "test_accuracy": buf.view("test_accuracy_pct").copy(),
            "train_loss": buf.view("train_loss").copy(),
            "test_loss": buf.view("test_loss").copy(),
            "lr": buf.view("lr").copy(),
            "seconds": buf.view("seconds").copy(),
        }

    def batch_series(self) -> dict[str, np.ndarray]:
        """Copies of the batch data: ``step``, ``loss``, ``accuracy`` in % (as plotted),
        ``epoch``, ``lr`` -- everything added, drawn or still pending."""
        buf = self._batches
        return {
            "step": buf.view("step").copy(),
            "loss": buf.view("loss").copy(),
            "accuracy": buf.view("accuracy_pct").copy(),
            "epoch": buf.view("epoch").copy(),
            "lr": buf.view("lr").copy(),
        }

    @property
    def batch_capacity(self) -> int:
        """Points the batch buffers hold before they next double."""
        return self._batches.capacity

    def export_png(self, path) -> Path:
        """Save both plots, as they look, as one PNG (``grab()`` of the plot widget).

        Works while hidden too (offscreen tests, export before the window shows): the
        plots are then laid out at the widget's size, at least 900x700 (``grab`` sends
        the pending resize events a hidden widget has not had, which pyqtgraph's
        ``ImageExporter`` of the scene would not).
        """
        path = Path(path)
        self.flush()
        if not self.isVisible():
            self.resize(max(self.width(), 900), max(self.height(), 700))
        pixmap = self.graphics.grab()
        if pixmap.isNull() or not pixmap.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def export_csv(self, path) -> Path:
        """Save every point as one CSV file with the header
        ``kind,epoch,step,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds``.

        Rows with ``kind=batch`` come first, one per reported batch: ``epoch``, ``step``,
        ``train_loss`` (running loss), ``train_accuracy`` (running accuracy) and ``lr``;
        their test columns and ``seconds`` are empty.  Then one ``kind=epoch`` row per
        epoch: ``step`` is empty, the rest filled.  Accuracies are fractions 0..1, as in
        the engine's events (the plots show them in %); numbers are written with
        ``repr`` so they read back exactly; NaN (unknown) is written as an empty cell.
        """
        b, e = self._batches, self._epochs
        steps = [dict(zip(("epoch", "step", "loss", "accuracy", "lr"), row))
                 for row in zip(*[b.view(n) for n in ("epoch", "step", "loss", "accuracy", "lr")])]
        names = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
        epochs = [dict(zip(names, row)) for row in zip(*[e.view(n) for n in names])]
        return write_metrics_csv(path, epochs, steps)  # the same file the CLI and the Runs tab write


class _TitleRow:
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


def _round_up(value: float) -> float:
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


def _title_row_legend(plot: pg.PlotItem) -> pg.LegendItem:
    """A one-line legend in the title row's right end (titles are left-justified), so it
    never covers a curve.  Curves with a ``name`` added to ``plot`` join it by themselves."""
    legend = pg.LegendItem(colCount=4, frame=False, labelTextColor="k", labelTextSize="9pt",
                           horSpacing=12)
    legend.setParentItem(plot)
    legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-8, 2))
    plot.legend = legend
    return legend


def _style_axes(plot: pg.PlotItem) -> None:
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
