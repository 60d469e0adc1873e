"""The Runs tab's comparison plots: the selected runs' test accuracy and training loss, followed live.

Each shown run's :class:`~cnn_gui.core.runs.follower.RunFollower` polls on a job thread
(:mod:`~cnn_gui.gui.panels.runs.reading` says why); a run whose poll is still in flight is
not polled again until it returns, so one stuck file holds one thread and stops only its
own curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QStackedWidget

from cnn_gui.core.runs.follower import RunFollower
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.background.jobs import Job, JobRunner
from cnn_gui.gui.panels.runs import reading
from cnn_gui.gui.panels.runs.labels import hint_label, legend_label
from cnn_gui.gui.widgets.axes import IntegerAxis

# Matplotlib's tab10: distinct on white, and the window's own plots use its first four.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")


@dataclass
class _Shown:
    """One selected run's curves and the follower that feeds them."""

    run: Run
    color: str
    follower: RunFollower
    epoch_x: list[float] = field(default_factory=list)
    epoch_y: list[float] = field(default_factory=list)
    step_x: list[float] = field(default_factory=list)
    step_y: list[float] = field(default_factory=list)
    epoch_curve: pg.PlotDataItem | None = None
    step_curve: pg.PlotDataItem | None = None
    job: Job | None = None  # the follower's poll in flight

    def take(self, update) -> None:
        if update.reset:
            self.epoch_x, self.epoch_y, self.step_x, self.step_y = [], [], [], []
        for e in update.epochs:
            acc = e.get("test_accuracy")
            if self.epoch_x and e["epoch"] <= self.epoch_x[-1]:
                continue  # a repeated epoch line: keep x increasing
            self.epoch_x.append(float(e["epoch"]))
            self.epoch_y.append(100.0 * acc if acc is not None else math.nan)
        for s in update.steps:
            if self.step_x and s["step"] <= self.step_x[-1]:
                continue
            loss = s.get("loss")
            self.step_x.append(float(s["step"]))
            self.step_y.append(float(loss) if loss is not None else math.nan)

    def draw(self) -> None:
        self.epoch_curve.setData(np.asarray(self.epoch_x), np.asarray(self.epoch_y))
        self.step_curve.setData(np.asarray(self.step_x), np.asarray(self.step_y))


class ComparisonPlots(QStackedWidget):
    """Test accuracy per epoch and training loss per step of the runs :meth:`show_runs` is
    given, each run in its own colour under its name in one legend below both plots; a
    hint instead while none is shown. :meth:`poll` appends what the runs wrote since (off
    the GUI thread); ``note(str)`` says when a run's files take long to read."""

    note = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._shown: dict[Path, _Shown] = {}
        self.jobs = JobRunner(self)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.ci.setSpacing(10)
        acc = self.graphics.addPlot(axisItems={"bottom": IntegerAxis("bottom")})
        acc.setTitle("Test accuracy", color="k", size="10pt", justify="left")
        acc.setLabel("left", "test accuracy (%)")
        acc.setLabel("bottom", "epoch")
        loss = self.graphics.addPlot()
        loss.setTitle("Training loss", color="k", size="10pt", justify="left")
        loss.setLabel("left", "loss")
        loss.setLabel("bottom", "step")
        for plot in (acc, loss):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            for name in ("left", "bottom"):
                plot.getAxis(name).setPen(pg.mkPen("#444444"))
                plot.getAxis(name).setTextPen(pg.mkPen("#222222"))
        acc.vb.setLimits(yMax=100.5)
        loss.vb.setLimits(yMin=-0.05)
        # One legend under both plots (a run has one colour in both): inside plots this small it
        # would cover the curves and be cut off.
        legend = pg.LegendItem(colCount=2, labelTextColor="k")
        self.graphics.addItem(legend, row=1, col=0, colspan=2)
        acc.legend = loss.legend = legend
        self.accuracy_plot = acc
        self.loss_plot = loss
        self.hint = hint_label("Select runs in the table to compare their curves "
                               "(Ctrl+click or Shift+click for several).")
        self.addWidget(self.hint)
        self.addWidget(self.graphics)

    @property
    def curves_shown(self) -> bool:
        """Whether the plots are on show (a readable run is selected), not the hint."""
        return self.currentWidget() is self.graphics

    def show_runs(self, runs: list[Run]) -> None:
        """Show the curves of the readable ones of ``runs``. A run already shown keeps its
        colour and its follower, under its name as ``runs`` gives it now (renamed on disk)."""
        fresh = {r.folder: r for r in runs}
        for folder, shown in self._shown.items():
            run = fresh.get(folder)
            if run is not None:
                if run.name != shown.run.name:
                    self._set_legend_name(shown, run.name)
                shown.run = run
        readable = [r for r in runs if r.readable]
        keep = {r.folder for r in readable}
        for folder in [f for f in self._shown if f not in keep]:
            self._remove_shown(self._shown.pop(folder))
        used = {s.color for s in self._shown.values()}
        for run in readable:
            if run.folder in self._shown:
                continue
            free = [c for c in PALETTE if c not in used]
            color = free[0] if free else PALETTE[len(self._shown) % len(PALETTE)]
            used.add(color)
            self._shown[run.folder] = self._add_shown(run, color)
        self.setCurrentWidget(self.graphics if self._shown else self.hint)
        self.poll()

    def poll(self) -> None:
        """Start a look at what the shown runs wrote since the last one (each on a job
        thread; the curves grow when it returns). A run whose last look is still in flight waits."""
        for shown in self._shown.values():
            if shown.job is not None and shown.job.live:
                continue
            name = shown.run.name
            shown.job = self.jobs.submit(
                shown.follower.poll, key=f"follow:{shown.run.folder}", timeout=reading.SLOW_S,
                on_done=lambda update, s=shown: self._take(s, update),
                on_error=lambda _exc: None,  # unreadable for now: the next poll tries again
                on_timeout=lambda n=name: self.note.emit(f"Reading the curves of “{n}” is taking long…"))

    def _take(self, shown: _Shown, update) -> None:
        if self._shown.get(shown.run.folder) is shown and update:
            shown.take(update)
            shown.draw()

    def busy(self) -> bool:
        """Whether a look at the shown runs is still in flight."""
        return self.jobs.busy()

    def clear_runs(self) -> None:
        """No run shown (another folder)."""
        for shown in self._shown.values():
            self._remove_shown(shown)
        self._shown.clear()
        self.jobs.cancel()
        self.setCurrentWidget(self.hint)

    def color_of(self, folder: Path) -> str | None:
        """The colour of the run in ``folder``, None when it is not shown."""
        shown = self._shown.get(folder)
        return None if shown is None else shown.color

    def _add_shown(self, run: Run, color: str) -> _Shown:
        shown = _Shown(run=run, color=color, follower=RunFollower(run.folder))
        pen = pg.mkPen(color, width=2)
        shown.epoch_curve = self.accuracy_plot.plot([], [], name=legend_label(run.name), pen=pen, symbol="o", symbolSize=6,
                                                    symbolBrush=color, symbolPen="w")
        shown.step_curve = self.loss_plot.plot([], [], pen=pg.mkPen(color, width=1.5))
        return shown

    def _remove_shown(self, shown: _Shown) -> None:
        if shown.job is not None:
            shown.job.cancel()
        for plot, curve in ((self.accuracy_plot, shown.epoch_curve), (self.loss_plot, shown.step_curve)):
            plot.legend.removeItem(curve)
            plot.removeItem(curve)

    def _set_legend_name(self, shown: _Shown, name: str) -> None:
        for plot, curve in ((self.accuracy_plot, shown.epoch_curve), (self.loss_plot, shown.step_curve)):
            for sample, label in plot.legend.items:
                if sample.item is curve:
                    label.setText(legend_label(name))
            curve.opts["name"] = legend_label(name)

    def shown_curves(self) -> dict[str, dict[str, np.ndarray]]:
        """What the plots show, by run name: ``epoch``/``test_accuracy`` (%) and
        ``step``/``loss``, and the curves' ``color``."""
        out = {}
        for shown in self._shown.values():
            ex, ey = shown.epoch_curve.getData()
            sx, sy = shown.step_curve.getData()
            out[shown.run.name] = {"epoch": np.asarray(ex if ex is not None else []),
                                   "test_accuracy": np.asarray(ey if ey is not None else []),
                                   "step": np.asarray(sx if sx is not None else []),
                                   "loss": np.asarray(sy if sy is not None else []),
                                   "color": shown.color}
        return out

    def legend_names(self, plot: pg.PlotItem | None = None) -> list[str]:
        """The names in the legend (one legend serves both plots)."""
        plot = plot or self.accuracy_plot
        return [label.text for _, label in plot.legend.items]
