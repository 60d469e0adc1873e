"""The upper training plot: train and test accuracy per epoch, on an axis spanning the planned epochs.

These are accuracy curves and are labelled as such (the tutorial this app grows from
calls them "loss"; they are not). The epoch axis spans the planned epochs (a 1-epoch run
is one tick, not a point at the edge of a 1-3 axis), with whole-number ticks; zooming or
panning by hand stops that until the plot's "A" button is pressed.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from cnn_gui.gui.panels.training_plots.buffers import GrowBuffer
from cnn_gui.gui.panels.training_plots.plot_style import (ACCURACY_TOP, TEST_COLOR, TRAIN_COLOR, TitleRow, style_axes,
                                                          title_row_legend)
from cnn_gui.gui.widgets.axes import IntegerAxis

NEUTRAL_EPOCHS = 3  # the epoch axis of an empty plot with no run planned

# Title and legend texts, longest first; the first that fits the plot's width is shown.
EPOCH_TITLES = (
    ("Accuracy per epoch", ("train accuracy", "test accuracy")),
    ("Accuracy per epoch", ("train", "test")),
    ("", ("train", "test")),
)

_COLUMNS = (
    "epoch", "train_accuracy_pct", "test_accuracy_pct", "train_loss", "train_accuracy",
    "test_loss", "test_accuracy", "lr", "seconds",
)


def _num(value) -> float:
    """A dict value as a float; missing or None -> NaN."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class EpochPlot:
    """The per-epoch plot, added to ``graphics``, and the epochs' numbers (:attr:`buffer`).

    An epoch that is not after the last one shown replaces the points from there on, so
    x stays increasing when a run resumes from an earlier checkpoint.
    """

    def __init__(self, graphics: pg.GraphicsLayoutWidget, capacity: int) -> None:
        self.buffer = GrowBuffer(_COLUMNS, capacity)
        self.planned: int | None = None  # the last epoch of the run in progress
        self._following = True
        plot = self.plot = graphics.addPlot(axisItems={"bottom": IntegerAxis("bottom")})
        plot.setTitle(EPOCH_TITLES[0][0], color="k", size="11pt", justify="left")
        plot.setLabel("left", "accuracy (%)")
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setMouseEnabled(x=True, y=True)
        plot.vb.setLimits(yMax=ACCURACY_TOP)
        plot.vb.setDefaultPadding(0.06)  # whole markers at the first and last epoch
        plot.setMenuEnabled(False)
        style_axes(plot)
        self.legend = title_row_legend(plot)
        self.train_curve = plot.plot(
            [], [], name=EPOCH_TITLES[0][1][0], pen=pg.mkPen(TRAIN_COLOR, width=2),
            symbol="o", symbolSize=7, symbolBrush=TRAIN_COLOR, symbolPen="w",
        )
        self.test_curve = plot.plot(
            [], [], name=EPOCH_TITLES[0][1][1], pen=pg.mkPen(TEST_COLOR, width=2),
            symbol="s", symbolSize=7, symbolBrush=TEST_COLOR, symbolPen="w",
        )
        # The latest test accuracy in the view's bottom-right corner, where rising
        # accuracy curves rarely are.
        self.test_label = pg.LabelItem("", color=TEST_COLOR, size="12pt", bold=True)
        self.test_label.setParentItem(plot.vb)
        self.test_label.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-8, -4))
        self.title = TitleRow(plot, self.legend, EPOCH_TITLES)
        plot.vb.sigRangeChangedManually.connect(self._stop_following)
        # After PlotItem's own handler (which turns auto-range on): show the planned epochs again.
        plot.autoBtn.clicked.connect(self.follow)
        self._apply_range()

    # -- the epoch axis -------------------------------------------------------------------

    def plan(self, epochs: int | None) -> None:
        """The run in progress ends after epoch ``epochs``: the epoch axis spans 1 to it."""
        self.planned = int(epochs) if epochs and epochs > 0 else None
        self._apply_range()

    def epoch_range(self) -> tuple[float, float]:
        """The epoch axis: the planned epochs, or those shown, or 1-3 for an empty plot;
        a little room either side so the first and last markers show whole."""
        buf = self.buffer
        last = buf.view("epoch")[-1] if buf.size else 0.0
        first = min(float(buf.view("epoch")[0]), 1.0) if buf.size else 1.0
        n = max(float(self.planned or 0), float(last) if math.isfinite(last) else 0.0)
        if n <= 0:
            n = float(NEUTRAL_EPOCHS)
        pad = max(0.06 * (n - first), 0.25)
        return first - pad, n + pad

    def follow(self) -> None:
        """Show the planned epochs again after a zoom or pan by hand (the plot's "A" button)."""
        self._following = True
        self._apply_range()

    def _stop_following(self) -> None:
        self._following = False

    def _apply_range(self) -> None:
        if not self._following:
            return
        vb = self.plot.vb
        lo, hi = self.epoch_range()
        vb.setXRange(lo, hi, padding=0)  # x fixed; accuracy keeps auto-ranging
        vb.enableAutoRange(axis=vb.YAxis)

    # -- data -----------------------------------------------------------------------------

    def append(self, row: dict) -> None:
        """Add one epoch (a dict as from ``EpochEnded.to_dict()``); :meth:`draw` shows it."""
        buf = self.buffer
        epoch = _num(row.get("epoch"))
        if buf.size and epoch <= buf.view("epoch")[-1]:
            buf.truncate(int(np.searchsorted(buf.view("epoch"), epoch, side="left")))
        train_acc = _num(row.get("train_accuracy"))
        test_acc = _num(row.get("test_accuracy"))
        buf.append((
            epoch, train_acc * 100.0, test_acc * 100.0, _num(row.get("train_loss")), train_acc,
            _num(row.get("test_loss")), test_acc, _num(row.get("lr")), _num(row.get("seconds")),
        ))

    def set_history(self, history: list[dict]) -> None:
        """Replace the epochs by ``history`` and draw them."""
        self.buffer.clear()
        for row in sorted(history, key=lambda r: _num(r.get("epoch"))):
            self.append(row)
        self.draw()

    def clear(self) -> None:
        """No epochs and no plan; a neutral frame (auto-range takes over with the first point,
        and would otherwise keep the last run's accuracies)."""
        self.buffer.clear()
        self.planned = None
        self.plot.vb.setYRange(0, 100, padding=0.06)
        self._following = True
        self.draw()

    def draw(self) -> None:
        buf = self.buffer
        epoch = buf.view("epoch")
        self.train_curve.setData(epoch, buf.view("train_accuracy_pct"))
        self.test_curve.setData(epoch, buf.view("test_accuracy_pct"))
        tests = buf.view("test_accuracy_pct")
        finite = tests[np.isfinite(tests)]
        self.test_label.setText(f"test {finite[-1]:.2f}%" if finite.size else "")
        self._apply_range()

    def series(self) -> dict[str, np.ndarray]:
        """Copies of the epoch data: ``epoch``, ``train_accuracy``/``test_accuracy`` in %
        (as plotted), ``train_loss``, ``test_loss``, ``lr``, ``seconds``."""
        buf = self.buffer
        return {
            "epoch": buf.view("epoch").copy(),
            "train_accuracy": buf.view("train_accuracy_pct").copy(),
            "test_accuracy": buf.view("test_accuracy_pct").copy(),
            "train_loss": buf.view("train_loss").copy(),
            "test_loss": buf.view("test_loss").copy(),
            "lr": buf.view("lr").copy(),
            "seconds": buf.view("seconds").copy(),
        }
