"""Live training curves: accuracy per epoch above, running loss/accuracy per batch below.

:class:`TrainingPlots` holds one :class:`pyqtgraph.GraphicsLayoutWidget` with the two
plots (:class:`~.epoch_plot.EpochPlot`, :class:`~.batch_plot.BatchPlot`), feeds them, and
saves them as PNG or their numbers as CSV.

Every series has one :class:`~pyqtgraph.PlotDataItem`, created once; updates only call
``setData``. Points live in float64 numpy buffers that double when full, so appending
is O(1) amortised and a redraw hands pyqtgraph views of those buffers, never a list
converted again. :meth:`TrainingPlots.add_batch` only appends and marks the plot
dirty; a 10 Hz timer, running only while something is pending, pushes the data to the
curves. Epochs are rare: :meth:`TrainingPlots.add_epoch` redraws at once.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QTimer, Slot
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from cnn_gui.core.events import BatchEnded, EpochEnded
from cnn_gui.core.files.metrics_csv import write_metrics_csv
from cnn_gui.core.files.safe_io import atomic_write
from cnn_gui.gui.panels.training_plots.batch_plot import BatchPlot
from cnn_gui.gui.panels.training_plots.epoch_plot import EpochPlot

MAX_RECORDED_POINTS = 5000  # of a past run's per-step curve (cnn-gui writes at most 2,000)
MOMENT_COLOR = "#202020"  # the time slider's mark: unlike every curve and the rate marks (purple)


class TrainingPlots(QWidget):
    """The training curves of the main window.

    Public API:
        ``add_batch(ev)`` -- append one :class:`BatchEnded` (drawn by the next timer tick).
        ``add_epoch(ev)`` -- append one :class:`EpochEnded` and redraw the epoch plot now.
        ``set_history(history)`` -- replace the epoch curves by a list of
        ``EpochEnded.to_dict()``-like dicts (a loaded checkpoint's history).
        ``plan_steps(last_step, epochs)`` / ``plan_epochs(epochs)`` -- the run's extent.
        ``clear()`` -- empty every curve.
        ``flush()`` -- push pending batch data to the curves now.
        ``export_png(path)`` / ``export_csv(path)`` -- save the plots / the numbers.
        ``epoch_series()`` / ``batch_series()`` -- copies of the plotted numbers.

    An event whose epoch (or step) is not after the last one shown replaces the points
    from there on (a run resumed from an earlier checkpoint). Start a run from scratch
    with :meth:`clear`.
    """

    # 10 Hz: smooth enough for a curve, and each repaint of the two plots costs a 2-core
    # machine ~7-30 ms that training threads then wait for (benchmarks/gui_responsiveness.py).
    REDRAW_MS = 100
    INITIAL_BATCH_CAPACITY = 1024
    INITIAL_EPOCH_CAPACITY = 16

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dirty = False
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(12)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)

        self.epochs = EpochPlot(self.graphics, self.INITIAL_EPOCH_CAPACITY)
        self.graphics.nextRow()
        self.batches = BatchPlot(self.graphics, self.INITIAL_BATCH_CAPACITY)
        # The plot items by the names the window, its tests and its layout checks use.
        self.accuracy_plot, self.accuracy_legend = self.epochs.plot, self.epochs.legend
        self.train_acc_curve, self.test_acc_curve = self.epochs.train_curve, self.epochs.test_curve
        self.batch_plot, self.batch_legend = self.batches.plot, self.batches.legend
        self.batch_loss_curve, self.batch_acc_curve = self.batches.loss_curve, self.batches.acc_curve

        self._moment_lines: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []  # where the time slider is (mark_moment)
        self._timer = QTimer(self)
        self._timer.setInterval(self.REDRAW_MS)
        self._timer.timeout.connect(self._on_timer)
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
        self.epochs.title.fit()
        self.batches.title.fit()

    # -- following the run ------------------------------------------------------------------

    def plan_steps(self, last_step: int, epochs: int | None = None) -> None:
        """The run in progress ends at optimizer step ``last_step`` (and after epoch ``epochs``):
        the step axis spans to it. Without ``epochs`` the epoch axis is planned from the
        first batch (``last_step / batches_per_epoch``)."""
        if epochs is not None:
            self.epochs.plan(epochs)
        else:
            self.epochs.planned = None
        self.batches.plan(last_step)

    def plan_epochs(self, epochs: int | None) -> None:
        """The run in progress ends after epoch ``epochs``: the epoch axis spans 1 to it."""
        self.epochs.plan(epochs)

    @property
    def following(self) -> bool:
        """True while the per-batch plot's ranges follow the run (not zoomed by hand)."""
        return self.batches.following

    @Slot()
    def follow_run(self) -> None:
        """Follow the run again after a zoom or pan by hand (the plot's "A" button)."""
        self.batches.follow()

    # -- data in ------------------------------------------------------------------------

    def add_batch(self, ev: BatchEnded) -> None:
        """Append one running loss/accuracy point; the timer draws it within ~100 ms."""
        self.batches.append(ev)
        planned = self.batches.planned_last_step
        if self.epochs.planned is None and planned and ev.batches_per_epoch > 0:
            self.epochs.plan(math.ceil(planned / int(ev.batches_per_epoch)))
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def mark_rate(self, step: int, lr: float) -> None:
        """A dashed line on the per-batch curves where the learning rate changed during the run."""
        self.batches.mark_rate(step, lr)

    def show_recorded_steps(self, points: list[dict], batches_per_epoch: int | None, last_step: int) -> bool:
        """A past run's per-step curve as its run folder recorded it (``steps.jsonl`` points),
        when the per-batch plot is empty (weights opened from a run); False when it was not."""
        if len(self.batches.buffer.view("step")) or not points:
            return False
        nan = math.nan
        stride = max(1, math.ceil(len(points) / MAX_RECORDED_POINTS))  # a folder written by another tool: bounded
        for p in points[::stride]:  # checked by core/runs/records.valid_step as they were read
            self.batches.append(BatchEnded(
                epoch=int(p.get("epoch") or 1), batch=int(p.get("batch") or 0), batches_per_epoch=batches_per_epoch or 0,
                step=int(p["step"]), loss=nan if p.get("loss") is None else float(p["loss"]),
                accuracy=nan if p.get("accuracy") is None else float(p["accuracy"]), samples_per_sec=0.0,
                eta_seconds=0.0, lr=nan if p.get("lr") is None else float(p["lr"])))
        self.batches.plan(last_step)
        self.batches.draw()
        return True

    def add_footer(self, widget: QWidget) -> None:
        """A row under the plots (the time slider)."""
        self.layout().addWidget(widget)

    def mark_moment(self, step: int | None, epoch_x: float | None = None) -> None:
        """A solid line where the time slider is: at ``step`` on the per-batch curves and at
        ``epoch_x`` on the epoch axis; None removes them (live)."""
        for plot, line in self._moment_lines:
            plot.removeItem(line)
        self._moment_lines = []
        if step is None:
            return
        pen = pg.mkPen(MOMENT_COLOR, width=2)
        for plot, x in ((self.batches.plot, float(step)), (self.epochs.plot, epoch_x)):
            if x is not None:
                line = pg.InfiniteLine(pos=x, angle=90, movable=False, pen=pen)
                plot.addItem(line, ignoreBounds=True)
                self._moment_lines.append((plot, line))

    @property
    def moment_positions(self) -> list[float]:
        """Where the time slider's marks are (per-batch, then the epoch axis); [] when live."""
        return [float(line.value()) for _, line in self._moment_lines]

    def add_epoch(self, ev: EpochEnded) -> None:
        """Append one epoch's accuracies and redraw the epoch plot now."""
        self.epochs.append(ev.to_dict())
        self.epochs.draw()

    def set_history(self, history: list[dict]) -> None:
        """Replace the epoch curves by ``history`` (dicts as from ``EpochEnded.to_dict()``).

        Only ``epoch``, ``train_accuracy`` and ``test_accuracy`` are needed; missing
        losses, ``lr`` or ``seconds`` become NaN.  The per-batch curves are left alone.
        """
        self.epochs.set_history(history)

    def clear(self) -> None:
        """Empty every curve and buffer (a new run from scratch)."""
        self._timer.stop()
        self._dirty = False
        self.batches.clear()
        self.epochs.clear()

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

    def _draw_batches(self) -> None:
        self._dirty = False
        self.batches.draw()

    # -- data out -----------------------------------------------------------------------

    @property
    def test_label_text(self) -> str:
        """The latest-test-accuracy label as shown ("test 98.91%"), "" before any epoch."""
        return self.epochs.test_label.text

    def epoch_series(self) -> dict[str, np.ndarray]:
        """Copies of the epoch data: ``epoch``, ``train_accuracy``/``test_accuracy`` in %
        (as plotted), ``train_loss``, ``test_loss``, ``lr``, ``seconds``."""
        return self.epochs.series()

    def batch_series(self) -> dict[str, np.ndarray]:
        """Copies of the batch data: ``step``, ``loss``, ``accuracy`` in % (as plotted),
        ``epoch``, ``lr`` -- everything added, drawn or still pending."""
        return self.batches.series()

    @property
    def batch_capacity(self) -> int:
        """Points the batch buffers hold before they next double."""
        return self.batches.buffer.capacity

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
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if pixmap.isNull() or not pixmap.save(buffer, "PNG"):
            raise OSError(f"could not draw the plot for {path}")
        try:
            return atomic_write(path, bytes(data.data()))  # never replaces a device, never blocks on a FIFO
        except OSError as exc:  # named by the file asked for, not the temporary one beside it
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None

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
        b, e = self.batches.buffer, self.epochs.buffer
        steps = [dict(zip(("epoch", "step", "loss", "accuracy", "lr"), row))
                 for row in zip(*[b.view(n) for n in ("epoch", "step", "loss", "accuracy", "lr")])]
        names = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
        epochs = [dict(zip(names, row)) for row in zip(*[e.view(n) for n in names])]
        return write_metrics_csv(path, epochs, steps)  # the same file the CLI and the Runs tab write
