"""The Runs tab's comparison plots: the selected runs' test accuracy and training loss, followed live.

Each shown run's :class:`~cnn_gui.core.runs.follower.RunFollower` polls on a job thread
(:mod:`~cnn_gui.gui.panels.runs.reading` says why); a run whose poll is still in flight is
not polled again until it returns, so one stuck file holds one thread and stops only its
own curves.

Runs of different batch sizes take different numbers of steps per epoch, so overlaid by
step their epochs do not line up. The x axis is therefore a choice (:data:`X_AXES`, the
combo above the plots, remembered in the settings): **epochs** (the default; a step at
``epoch - 1 + batch / batches per epoch``), **samples seen** (the images trained on so far,
ticks written short: 600, 12k, 1.5M; :mod:`~cnn_gui.gui.panels.runs.axes`), or **steps**
(optimizer steps, as before).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QStackedWidget, QWidget

from cnn_gui.core.runs.follower import RunFollower
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.background.jobs import Job, JobRunner
from cnn_gui.gui.panels.runs import reading
from cnn_gui.gui.panels.runs.labels import hint_label, legend_label
from cnn_gui.gui.panels.runs.axes import RunsXAxis

# The x axis of the overlay: key -> (combo text, axis label).
X_AXES = {"epochs": ("epochs", "epoch"), "samples": ("samples seen", "images seen"),
          "steps": ("steps", "step")}
DEFAULT_X_AXIS = "epochs"
MIN_PLOTS_HEIGHT = 170  # the plots and their legend: below it the curves are a few pixels tall
KEY_X_AXIS = "runs/x_axis"

# Matplotlib's tab10: distinct on white, and the window's own plots use its first four.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")


def _int_of(info: dict, key: str) -> int | None:
    v = info.get(key)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 else None


@dataclass
class _Shown:
    """One selected run's curves and the follower that feeds them."""

    run: Run
    color: str
    follower: RunFollower
    epoch_x: list[float] = field(default_factory=list)  # epoch numbers
    epoch_y: list[float] = field(default_factory=list)
    step_x: list[float] = field(default_factory=list)  # step numbers
    step_pos: list[tuple[float, float]] = field(default_factory=list)  # (epoch, batch) of each step, NaN unknown
    step_y: list[float] = field(default_factory=list)
    epoch_curve: pg.PlotDataItem | None = None
    step_curve: pg.PlotDataItem | None = None
    job: Job | None = None  # the follower's poll in flight

    def take(self, update) -> None:
        if update.reset:
            self.epoch_x, self.epoch_y, self.step_x, self.step_pos, self.step_y = [], [], [], [], []
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
            epoch, batch = s.get("epoch"), s.get("batch")
            self.step_pos.append((float(epoch) if isinstance(epoch, (int, float)) else math.nan,
                                  float(batch) if isinstance(batch, (int, float)) else math.nan))
            self.step_y.append(float(loss) if loss is not None else math.nan)

    def x_values(self, axis: str) -> tuple[np.ndarray, np.ndarray]:
        """(x of each epoch point, x of each step point) on ``axis`` (a key of X_AXES)."""
        epochs, steps = np.asarray(self.epoch_x, dtype=float), np.asarray(self.step_x, dtype=float)
        if axis == "steps":
            return epochs, steps
        info = self.run.info or {}
        per_epoch = _int_of(info, "batches_per_epoch")
        pos = np.asarray(self.step_pos, dtype=float).reshape(-1, 2)
        if per_epoch is None:  # an old or unfinished record: the largest batch number seen
            per_epoch = int(np.nanmax(pos[:, 1])) if pos.size and np.isfinite(pos[:, 1]).any() else 1
        # steps.jsonl says each step's epoch and batch; where it does not, steps since the run's start
        step_epochs = np.where(np.isfinite(pos[:, 0]) & np.isfinite(pos[:, 1]),
                               pos[:, 0] - 1 + pos[:, 1] / per_epoch, steps / per_epoch)
        if axis == "epochs":
            return epochs, step_epochs
        batch, train = _int_of(info, "batch_size"), _int_of(info, "train_size")
        samples = min(train, per_epoch * batch) if batch and train else (per_epoch * (batch or 1))
        return epochs * samples, step_epochs * samples

    def draw(self, axis: str) -> None:
        epoch_x, step_x = self.x_values(axis)
        self.epoch_curve.setData(epoch_x, np.asarray(self.epoch_y))
        self.step_curve.setData(step_x, np.asarray(self.step_y))


class ComparisonPlots(QStackedWidget):
    """Test accuracy per epoch and training loss per step of the runs :meth:`show_runs` is
    given, each run in its own colour under its name in one legend below both plots; a
    hint instead while none is shown. :meth:`poll` appends what the runs wrote since (off
    the GUI thread); ``note(str)`` says when a run's files take long to read.

    :attr:`axis_choice` ("x axis: [epochs]") is for its owner to place (the Runs tab puts it
    beside its Curves/Settings tabs, where it costs no height). The plots have no titles
    (their y labels say what they show) and the legend takes as many columns as fit, so
    that at 1280x720 the plots keep their height."""

    note = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._shown: dict[Path, _Shown] = {}
        self.jobs = JobRunner(self)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        # The plots take the room the splitter gives them and never ask for more: asked for
        # more, a 1280-wide window cut the loss plot and the legend at the settings table.
        self.graphics.setMinimumSize(160, MIN_PLOTS_HEIGHT)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.graphics.ci.setSpacing(10)
        acc = self.graphics.addPlot(axisItems={"bottom": RunsXAxis(whole=True)})
        acc.setLabel("left", "test accuracy (%)")
        acc.setLabel("bottom", "epoch")
        loss = self.graphics.addPlot(axisItems={"bottom": RunsXAxis(whole=False)})
        loss.setLabel("left", "training loss")
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
        legend = pg.LegendItem(colCount=2, labelTextColor="k", verSpacing=-4)
        self.graphics.addItem(legend, row=1, col=0, colspan=2)
        self.legend = legend
        acc.legend = loss.legend = legend
        self.accuracy_plot = acc
        self.loss_plot = loss
        self.hint = hint_label("Select runs in the table to compare their curves "
                               "(Ctrl+click or Shift+click for several).")
        self.addWidget(self.hint)
        self.axis_choice = self._axis_choice()
        self.panel = self.graphics
        self.addWidget(self.panel)
        self.x_axis = DEFAULT_X_AXIS
        self.set_x_axis(_remembered_axis())

    def _axis_choice(self) -> QWidget:
        """A one-line row: "x axis: [epochs]"."""
        self.axis_combo = QComboBox()
        for key, (text, _label) in X_AXES.items():
            self.axis_combo.addItem(text, key)
        self.axis_combo.setToolTip("What the curves are laid along: epochs (runs of different batch sizes "
                                   "line up), training images seen, or optimizer steps")
        self.axis_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.axis_combo.currentIndexChanged.connect(self._on_axis_chosen)
        choice = QWidget()
        row = QHBoxLayout(choice)
        row.setContentsMargins(0, 0, 4, 0)
        row.addWidget(QLabel("x axis:"))
        row.addWidget(self.axis_combo)
        return choice

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_legend()

    def _fit_legend(self) -> None:
        """As many legend columns as entries fit side by side (2 rows at most where they can)."""
        items = self.legend.items
        if not items:
            return
        widest = max(sample.boundingRect().width() + label.item.boundingRect().width() for sample, label in items) + 24
        columns = max(1, min(len(items), int(self.graphics.width() // max(widest, 1.0))))
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    @property
    def curves_shown(self) -> bool:
        """Whether the plots are on show (a readable run is selected), not the hint."""
        return self.currentWidget() is self.panel

    def set_x_axis(self, key: str) -> None:
        """Lay the curves along ``key`` (a key of :data:`X_AXES`; another: the default)."""
        key = key if key in X_AXES else DEFAULT_X_AXIS
        self.x_axis = key
        self.axis_combo.blockSignals(True)
        self.axis_combo.setCurrentIndex(list(X_AXES).index(key))
        self.axis_combo.blockSignals(False)
        label = X_AXES[key][1]
        self.accuracy_plot.setLabel("bottom", "epoch" if key == "steps" else label)
        self.loss_plot.setLabel("bottom", label)
        for plot in (self.accuracy_plot, self.loss_plot):
            plot.getAxis("bottom").set_mode(key)
        for shown in self._shown.values():
            shown.draw(key)
        for plot in (self.accuracy_plot, self.loss_plot):
            plot.enableAutoRange()

    @Slot(int)
    def _on_axis_chosen(self, index: int) -> None:
        key = self.axis_combo.itemData(index)
        self.set_x_axis(key)
        from cnn_gui.gui import settings as settings_mod

        settings_mod.open_settings().setValue(KEY_X_AXIS, key)

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
        self.setCurrentWidget(self.panel if self._shown else self.hint)
        self._fit_legend()
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
            shown.draw(self.x_axis)

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
        ``step``/``loss`` as the runs recorded them, ``x_epoch``/``x_step`` where those points
        lie on the chosen axis (:attr:`x_axis`), and the curves' ``color``."""
        out = {}
        for shown in self._shown.values():
            ex, ey = shown.epoch_curve.getData()
            sx, sy = shown.step_curve.getData()
            out[shown.run.name] = {"epoch": np.asarray(shown.epoch_x), "test_accuracy": np.asarray(ey if ey is not None else []),
                                   "step": np.asarray(shown.step_x), "loss": np.asarray(sy if sy is not None else []),
                                   "x_epoch": np.asarray(ex if ex is not None else []),
                                   "x_step": np.asarray(sx if sx is not None else []), "color": shown.color}
        return out

    def legend_names(self, plot: pg.PlotItem | None = None) -> list[str]:
        """The names in the legend (one legend serves both plots)."""
        plot = plot or self.accuracy_plot
        return [label.text for _, label in plot.legend.items]


def _remembered_axis() -> str:
    from cnn_gui.gui import settings as settings_mod

    return settings_mod.read_str(settings_mod.open_settings(), KEY_X_AXIS, DEFAULT_X_AXIS)
