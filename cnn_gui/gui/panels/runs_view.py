"""The *Runs* view: every recorded training run, compared and followed live.

A table of the runs in a runs folder (``core/runs/runs.py``), newest first (click a header
to sort by another column); select one or more to overlay their curves (test
accuracy per epoch, training loss per step), each run in its own colour under its
name, and to see their settings side by side, the differences highlighted.
Rename, Delete, Export metrics CSV and Load weights act on the selection (buttons and
the context menu); Load weights only asks, through :attr:`RunsView.loadWeightsRequested`.

While shown, the view polls the folder once a second: a ``stat`` per file, re-reading
only runs that changed, and appending to the shown curves only what was written since
(:class:`~cnn_gui.core.runs.runs.RunFollower`). So a ``cnn-gui train`` in a terminal, writing
to the same folder, appears here and its curves grow as it trains.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (QAbstractTableModel, QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt,
                            QTimer, QUrl, Signal, Slot)
from PySide6.QtGui import QAction, QBrush, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (QSizePolicy, QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QMenu, QMessageBox, QPushButton, QSplitter, QStackedWidget, QTableView,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.formatting import middle_elide
from cnn_gui.core.formatting import spoken_duration as format_duration
from cnn_gui.core.runs.runs import (Run, RunFollower, RunsError, RunsIndex, delete_run, rename_run, resolve_runs_dir,
                               run_metrics_csv)

from cnn_gui.gui.widgets.axes import IntegerAxis
from cnn_gui.gui.panels.training_panel import ElidedLabel

POLL_MS = 1000
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ROLE = Qt.ItemDataRole.UserRole + 2
# Matplotlib's tab10: distinct on white, and the window's own plots use its first four.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")
DIFF_COLOR = QColor("#fff1a8")
STATUS_COLORS = {"running": "#1f77b4", "failed": "#c62828", "interrupted": "#e65100", "unreadable": "#777777"}
NO_VALUE = "—"
MAX_COMPARED = 6  # settings side by side; more columns would not fit


# --------------------------------------------------------------------------- formatting


def legend_label(name: str, limit: int = 22) -> str:
    """A run's name short enough for a legend or a column title beside a small plot (the
    table shows it whole): "220855-mnist-cnn-mnist" for the run folder 20261128-220855-mnist-cnn-mnist."""
    name = one_line(name)
    if len(name) > limit and len(name) > 9 and name[:8].isdigit() and name[8] == "-":
        name = name[9:]  # a folder's own name starts with the date, which the table shows: keep the time
    return middle_elide(name, limit)


def _pct(value: float | None) -> str:
    return NO_VALUE if value is None else f"{100 * value:.2f} %"


def _duration_of(run: Run) -> float | None:
    if run.status == "running" and run.started is not None:
        return max(time.time() - run.started.timestamp(), 0.0)
    return run.duration_seconds


def _value_text(value: object) -> str:
    if value is None or value == "":
        return NO_VALUE
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return one_line(value, 80)
    return one_line(value, 80)


def _hint_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #777777")
    return label


# --------------------------------------------------------------------------- the table model


class RunsTableModel(QAbstractTableModel):
    """One row per :class:`Run`, in the order they were first seen (a proxy sorts them).

    :meth:`set_runs` removes, replaces and appends rows one by one, so a selection
    survives a refresh.
    """

    COLUMNS = ("Name", "Date", "Model", "Dataset", "Preset", "Epochs", "Best test", "Final test",
               "Duration", "Status")
    NUMERIC = {"Epochs", "Best test", "Final test", "Duration"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.runs: list[Run] = []

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def set_runs(self, runs: list[Run]) -> bool:
        """Show ``runs``; True when anything shown changed."""
        new = {r.folder: r for r in runs}
        changed = False
        for row in range(len(self.runs) - 1, -1, -1):
            if self.runs[row].folder not in new:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.runs[row]
                self.endRemoveRows()
                changed = True
        have = {}
        for row, old in enumerate(self.runs):
            have[old.folder] = row
            fresh = new[old.folder]
            if fresh is not old:
                self.runs[row] = fresh
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
                changed = True
        added = [r for r in runs if r.folder not in have]
        if added:
            first = len(self.runs)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self.runs.extend(added)
            self.endInsertRows()
            changed = True
        return changed

    def tick(self) -> None:
        """A running run's duration grows with the clock."""
        col = self.COLUMNS.index("Duration")
        for row, run in enumerate(self.runs):
            if run.status == "running":
                idx = self.index(row, col)
                self.dataChanged.emit(idx, idx)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        run = self.runs[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(run, column)
        if role == SORT_ROLE:
            return self._sort_value(run, column)
        if role == RUN_ROLE:
            return run
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "Status" and run.status == "failed" and run.error:
                return run.error
            if column == "Status" and run.status == "interrupted":
                return "Its writer stopped without ending the run (killed or crashed); finished epochs are kept."
            return f"{run.name}\n{run.folder}"
        if role == Qt.ItemDataRole.ForegroundRole and column == "Status":
            color = STATUS_COLORS.get(run.status)
            return QBrush(QColor(color)) if color else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in self.NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(run: Run, column: str) -> str:
        if column == "Name":
            return run.name
        if column == "Status":
            return run.status_text
        if not run.readable:
            return ""
        if column == "Date":
            return run.started.astimezone().strftime("%Y-%m-%d %H:%M") if run.started else NO_VALUE
        if column == "Model":
            return run.model
        if column == "Dataset":
            return run.dataset
        if column == "Preset":
            return run.preset or NO_VALUE
        if column == "Epochs":
            done = run.epochs_completed
            return f"{done}/{run.epochs_planned}" if run.epochs_planned else str(done)
        if column == "Best test":
            return _pct(run.best_test_accuracy)
        if column == "Final test":
            return _pct(run.final_test_accuracy)
        if column == "Duration":
            return format_duration(_duration_of(run))
        return ""

    @staticmethod
    def _sort_value(run: Run, column: str):
        if column == "Name":
            return run.name.lower()
        if column == "Date":
            return run.sort_key()
        if column == "Epochs":
            return float(run.epochs_completed)
        if column == "Best test":
            return run.best_test_accuracy if run.best_test_accuracy is not None else -1.0
        if column == "Final test":
            return run.final_test_accuracy if run.final_test_accuracy is not None else -1.0
        if column == "Duration":
            return _duration_of(run) or 0.0
        return RunsTableModel._text(run, column).lower()


class _SortProxy(QSortFilterProxyModel):
    def lessThan(self, left, right) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if type(a) is not type(b):
            return str(a) < str(b)
        return a < b


# --------------------------------------------------------------------------- curves of one run


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


# --------------------------------------------------------------------------- the view


class RunsView(QWidget):
    """The runs of one folder: table, overlaid curves, settings compared, actions.

    Signals: ``loadWeightsRequested(str)`` with a run's checkpoint path;
    ``runsDirChanged(str)`` when the folder was changed with the *Folder…* button.
    Dialogs go through :meth:`confirm`, :meth:`ask_name`, :meth:`ask_save_path` and
    :meth:`ask_directory`, which tests replace.
    """

    loadWeightsRequested = Signal(str)
    runsDirChanged = Signal(str)

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._index: RunsIndex | None = None
        self._folder_problem = False
        self._diff_key: tuple | None = None
        self._shown: dict[Path, _Shown] = {}
        self.model = RunsTableModel(self)
        self.proxy = _SortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(RunsTableModel.COLUMNS.index("Date"), Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(0, 260)
        row_height = self.table.fontMetrics().height() + 8
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        self.rename_action = QAction("Rename…", self)
        self.delete_action = QAction("Delete…", self)
        self.export_action = QAction("Export metrics CSV…", self)
        self.load_action = QAction("Load weights", self)
        self.open_folder_action = QAction("Open folder", self)
        self.rename_action.triggered.connect(self.rename_selected)
        self.delete_action.triggered.connect(self.delete_selected)
        self.export_action.triggered.connect(self.export_selected)
        self.load_action.triggered.connect(self.load_selected)
        self.open_folder_action.triggered.connect(self._open_folder)
        self.load_action.setToolTip("Load this run's final weights (its checkpoint) into the window")

        self.buttons: dict[str, QPushButton] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for key, action in (("rename", self.rename_action), ("delete", self.delete_action),
                            ("export", self.export_action), ("load", self.load_action)):
            button = QPushButton(action.text().rstrip("…").rstrip())
            button.setToolTip(action.toolTip() if action.toolTip() != action.text() else "")
            button.clicked.connect(action.trigger)
            self.buttons[key] = button
            bar.addWidget(button)
        self.folder_label = ElidedLabel(min_chars=8)  # a long runs path never widens the window
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Show the runs of another folder")
        self.folder_button.clicked.connect(self._choose_folder)
        bar.addWidget(self.folder_label, 1)
        bar.addWidget(self.folder_button)

        self._build_plots()
        self._build_diff()

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.plots_stack)
        lower.addWidget(self.diff_stack)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        lower.setSizes([640, 360])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([180, 420])
        self.splitter = split

        self.message = ElidedLabel(min_chars=8)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._update_actions()
        self.set_runs_dir(runs_dir)

    # -- construction -------------------------------------------------------------------

    def _build_plots(self) -> None:
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
        self.plots_hint = _hint_label("Select runs in the table to compare their curves "
                                      "(Ctrl+click or Shift+click for several).")
        self.plots_stack = QStackedWidget()
        self.plots_stack.addWidget(self.plots_hint)
        self.plots_stack.addWidget(self.graphics)

    @property
    def curves_shown(self) -> bool:
        """Whether the comparison plots are on show (something is selected)."""
        return self.plots_stack.currentWidget() is self.graphics

    def _build_diff(self) -> None:
        self.diff_table = QTableWidget(0, 2)
        self.diff_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.diff_table.verticalHeader().hide()
        # Left-aligned, so a long run name that does not fit still shows its beginning.
        self.diff_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.diff_table.verticalHeader().setDefaultSectionSize(self.diff_table.fontMetrics().height() + 6)
        self.diff_table.setWordWrap(False)
        # Its columns fit their values and it scrolls sideways; its own width never takes the plots' room.
        self.diff_table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.diff_table.setMinimumWidth(160)
        self.diff_hint = _hint_label("Select runs to see their settings side by side.")
        self.diff_stack = QStackedWidget()
        self.diff_stack.addWidget(self.diff_hint)
        self.diff_stack.addWidget(self.diff_table)

    # -- the folder -----------------------------------------------------------------------

    @property
    def runs_dir(self) -> Path:
        return self._index.runs_dir

    def set_runs_dir(self, path: str | os.PathLike | None) -> None:
        """Show the runs of ``path`` (None: ``$CNN_GUI_RUNS_DIR`` or the per-user default).

        The folder is read when the view is shown (or on :meth:`refresh`), not before:
        a window that starts with another tab in front reads nothing at start-up.
        """
        folder = resolve_runs_dir(path)
        if self._index is None or folder != self._index.runs_dir:
            self._index = RunsIndex(folder)
            self._clear_shown()
            self.model.set_runs([])
            self.folder_label.setText(f"runs in {folder}")
            self.folder_label.setToolTip(str(folder))
        if self.isVisible():
            self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Re-read the folder now (the timer does this every second while the view is shown)."""
        self.poll()

    @Slot()
    def poll(self) -> None:
        """One cheap look at the folder: new, changed and deleted runs, and new points."""
        try:
            self._index.refresh()
            problem = ""
        except RunsError as exc:
            problem = str(exc)
        if self.model.set_runs(self._index.runs):
            self._after_runs_changed()
        else:
            self.model.tick()
        for shown in self._shown.values():
            update = shown.follower.poll()
            if update:
                shown.take(update)
                shown.draw()
        count = len(self._index.runs)
        noun = "run" if count == 1 else "runs"
        self.folder_label.setText(f"{count} {noun} in {self.runs_dir}")
        self.folder_label.setToolTip(str(self.runs_dir))
        if problem:
            self.show_message(problem)
        elif self._folder_problem:
            self.show_message("")
        self._folder_problem = bool(problem)

    def _after_runs_changed(self) -> None:
        selected = {r.folder: r for r in self.selected_runs()}
        for folder, shown in list(self._shown.items()):
            fresh = selected.get(folder)
            if fresh is None:
                continue
            if fresh.name != shown.run.name:
                self._set_legend_name(shown, fresh.name)
            shown.run = fresh
        self._sync_shown()
        self._update_diff()
        self._update_actions()

    # -- visibility: poll only while shown --------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.poll()
        self.timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802
        self.timer.stop()
        super().hideEvent(event)

    # -- selection ------------------------------------------------------------------------------

    def runs(self) -> list[Run]:
        """The runs as the table shows them, top to bottom."""
        return [self.proxy.index(row, 0).data(RUN_ROLE) for row in range(self.proxy.rowCount())]

    def selected_runs(self) -> list[Run]:
        """The selected runs, top to bottom."""
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.proxy.index(row, 0).data(RUN_ROLE) for row in rows]

    def select_runs(self, folders_or_names) -> None:
        """Select the runs with these folders (or names), replacing the selection."""
        wanted = {str(x) for x in folders_or_names}
        selection = self.table.selectionModel()
        selection.clearSelection()
        for row in range(self.proxy.rowCount()):
            run = self.proxy.index(row, 0).data(RUN_ROLE)
            if str(run.folder) in wanted or run.name in wanted or run.id in wanted:
                selection.select(self.proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                                 | QItemSelectionModel.SelectionFlag.Rows)

    @Slot()
    def _on_selection_changed(self, *_args) -> None:
        self._sync_shown()
        self._update_diff()
        self._update_actions()

    def _sync_shown(self) -> None:
        selected = [r for r in self.selected_runs() if r.readable]
        keep = {r.folder for r in selected}
        for folder in [f for f in self._shown if f not in keep]:
            self._remove_shown(self._shown.pop(folder))
        used = {s.color for s in self._shown.values()}
        for run in selected:
            if run.folder in self._shown:
                continue
            free = [c for c in PALETTE if c not in used]
            color = free[0] if free else PALETTE[len(self._shown) % len(PALETTE)]
            used.add(color)
            self._shown[run.folder] = self._add_shown(run, color)
        self.plots_stack.setCurrentWidget(self.graphics if self._shown else self.plots_hint)

    def _add_shown(self, run: Run, color: str) -> _Shown:
        shown = _Shown(run=run, color=color, follower=RunFollower(run.folder))
        pen = pg.mkPen(color, width=2)
        shown.epoch_curve = self.accuracy_plot.plot([], [], name=legend_label(run.name), pen=pen, symbol="o", symbolSize=6,
                                                    symbolBrush=color, symbolPen="w")
        shown.step_curve = self.loss_plot.plot([], [], pen=pg.mkPen(color, width=1.5))
        shown.take(shown.follower.poll())
        shown.draw()
        return shown

    def _remove_shown(self, shown: _Shown) -> None:
        for plot, curve in ((self.accuracy_plot, shown.epoch_curve), (self.loss_plot, shown.step_curve)):
            plot.legend.removeItem(curve)
            plot.removeItem(curve)

    def _set_legend_name(self, shown: _Shown, name: str) -> None:
        for plot, curve in ((self.accuracy_plot, shown.epoch_curve), (self.loss_plot, shown.step_curve)):
            for sample, label in plot.legend.items:
                if sample.item is curve:
                    label.setText(legend_label(name))
            curve.opts["name"] = legend_label(name)

    def _clear_shown(self) -> None:
        for shown in self._shown.values():
            self._remove_shown(shown)
        self._shown.clear()
        self.plots_stack.setCurrentWidget(self.plots_hint)

    def shown_curves(self) -> dict[str, dict[str, np.ndarray]]:
        """What the comparison plots show, by run name: ``epoch``/``test_accuracy`` (%) and
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
        plot = plot or self.accuracy_plot
        return [label.text for _, label in plot.legend.items]

    # -- settings side by side -----------------------------------------------------------------

    @staticmethod
    def settings_rows(runs: list[Run]) -> list[tuple[str, list[str]]]:
        """(setting, its value in each run) for the settings runs are compared by."""
        def get(run: Run, key: str) -> object:
            if key in ("preset", "model", "dataset"):
                return getattr(run, key)
            if key == "device used":
                return run.device_label or run.device
            if key == "precision":
                return run.precision
            if key.endswith(" version"):
                return run.versions.get(key[: -len(" version")])
            return run.config.get(key)

        keys = ["preset", "model", "dataset"]
        for run in runs:
            keys += [k for k in run.config if k not in keys]
        keys += ["device used", "precision", "torch version", "cnn_gui version", "python version"]
        return [(key, [_value_text(get(run, key)) for run in runs]) for key in keys]

    def _update_diff(self) -> None:
        runs = [r for r in self.selected_runs() if r.readable]
        if not runs or len(runs) > MAX_COMPARED:
            self.diff_hint.setText("Select runs to see their settings side by side." if not runs else
                                   f"Select at most {MAX_COMPARED} runs to see their settings side by side.")
            self.diff_stack.setCurrentWidget(self.diff_hint)
            self.diff_table.setRowCount(0)
            self._diff_key = None
            return
        rows = self.settings_rows(runs)
        key = (tuple((r.folder, r.name) for r in runs), tuple((k, tuple(v)) for k, v in rows))
        if key == self._diff_key:
            return  # a running run was re-read; its settings did not change
        self._diff_key = key
        table = self.diff_table
        table.clear()
        table.setColumnCount(1 + len(runs))
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(["setting"] + [legend_label(r.name, 16) for r in runs])
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for c, run in enumerate(runs, 1):
            # Values whole (the table scrolls sideways) rather than "…" in a squeezed column.
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
            shown = self._shown.get(run.folder)
            if shown is not None:
                table.horizontalHeaderItem(c).setForeground(QBrush(QColor(shown.color)))
        bold = QFont(table.font())
        bold.setBold(True)
        for r, (name, values) in enumerate(rows):
            differs = len(set(values)) > 1
            for c, text in enumerate([name] + values):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if differs:
                    item.setBackground(QBrush(DIFF_COLOR))
                    item.setFont(bold)
                table.setItem(r, c, item)
        self.diff_stack.setCurrentWidget(table)

    def differing_settings(self) -> list[str]:
        """The settings highlighted in the comparison table."""
        out = []
        for r in range(self.diff_table.rowCount()):
            item = self.diff_table.item(r, 0)
            if item is not None and item.background().color() == DIFF_COLOR:
                out.append(item.text())
        return out

    # -- actions -----------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        runs = self.selected_runs()
        one = runs[0] if len(runs) == 1 else None
        self.rename_action.setEnabled(one is not None and one.readable)
        self.delete_action.setEnabled(bool(runs))
        self.export_action.setEnabled(one is not None and one.readable)
        self.load_action.setEnabled(one is not None and one.checkpoint is not None)
        self.open_folder_action.setEnabled(True)
        for key, action in (("rename", self.rename_action), ("delete", self.delete_action),
                            ("export", self.export_action), ("load", self.load_action)):
            self.buttons[key].setEnabled(action.isEnabled())
        if one is not None and one.checkpoint is None and one.readable:
            why = ("it is still running" if one.status == "running" else
                   f"it has no checkpoint ({one.checkpoint_error or one.status})")
            self.buttons["load"].setToolTip(f"Load weights: {why}")
        else:
            self.buttons["load"].setToolTip(self.load_action.toolTip())

    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        for action in (self.rename_action, self.delete_action, self.export_action, self.load_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.open_folder_action)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    @Slot()
    def rename_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        run = runs[0]
        name = self.ask_name(run.name)
        if name is None or name.strip() == run.name:
            return
        try:
            rename_run(run.folder, name)
        except CnnGuiError as exc:
            self.show_message(f"Could not rename: {exc}")
            return
        self.poll()

    @Slot()
    def delete_selected(self) -> None:
        runs = self.selected_runs()
        if not runs:
            return
        if len(runs) == 1:
            text = f"Delete the run “{runs[0].name}” and its folder?\n{runs[0].folder}"
        else:
            text = f"Delete {len(runs)} runs and their folders in {self.runs_dir}?"
        if not self.confirm("Delete runs", text + "\n\nThis cannot be undone."):
            return
        problems = []
        for run in runs:
            try:
                delete_run(run.folder)
            except CnnGuiError as exc:
                problems.append(str(exc))
        self.poll()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.show_message(f"Not deleted: {problems[0]}{more}")
        else:
            self.show_message(f"Deleted {len(runs)} run{'s' if len(runs) > 1 else ''}.")

    @Slot()
    def export_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        run = runs[0]
        path = self.ask_save_path(f"{run.id}-metrics.csv")
        if not path:
            return
        try:
            run_metrics_csv(run, path)
        except CnnGuiError as exc:
            self.show_message(f"Could not export: {exc}")
            return
        self.show_message(f"Saved the metrics of “{run.name}” to {path}")

    @Slot()
    def load_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1 and runs[0].checkpoint is not None:
            self.loadWeightsRequested.emit(str(runs[0].checkpoint))

    @Slot()
    def _open_folder(self) -> None:
        runs = self.selected_runs()
        folder = runs[0].folder if len(runs) == 1 else self.runs_dir
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @Slot()
    def _choose_folder(self) -> None:
        path = self.ask_directory(str(self.runs_dir))
        if path:
            self.set_runs_dir(path)
            self.runsDirChanged.emit(str(self.runs_dir))

    # -- dialogs (tests replace these) -------------------------------------------------------------

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_name(self, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, "Rename run", "Name:", text=current)
        return text if ok else None

    def ask_save_path(self, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics CSV", suggested, "CSV files (*.csv)")
        return path or None

    def ask_directory(self, current: str) -> str | None:
        path = QFileDialog.getExistingDirectory(self, "Runs folder", current)
        return path or None

    def show_message(self, text: str) -> None:
        """One line under the table: what an action did, or why it could not."""
        line = one_line(text) if text else ""
        self.message.setText(line)
        self.message.setToolTip(line)
