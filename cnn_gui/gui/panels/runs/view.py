"""The *Runs* view: every recorded training run, compared and followed live.

A table of the runs in a runs folder (``core/runs/reader.py``), newest first (click a header
to sort by another column); select one or more to overlay their curves (test
accuracy per epoch, training loss per step), each run in its own colour under its
name, and to see their settings side by side, the differences highlighted.
Rename, Delete, Export metrics CSV and Load weights act on the selection (buttons and
the context menu); Load weights only asks, through :attr:`RunsView.loadWeightsRequested`.

While shown, the view polls the folder once a second: a ``stat`` per file, re-reading
only runs that changed, and appending to the shown curves only what was written since
(:class:`~cnn_gui.core.runs.follower.RunFollower`). So a ``cnn-gui train`` in a terminal, writing
to the same folder, appears here and its curves grow as it trains.

The GUI thread never reads or writes a run's file: listing, following, rename, delete and
export run on job threads (:mod:`~cnn_gui.gui.panels.runs.reading`), so a named pipe or a
stuck drive in the runs folder never freezes the window; what takes long says so in one
line. :meth:`RunsView.busy` tells whether an outcome is still on its way.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog, QMenu,
                               QMessageBox, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from cnn_gui.core.errors import describe, one_line
from cnn_gui.core.runs.layout import resolve_runs_dir
from cnn_gui.core.runs.manage import rename_run, run_metrics_csv
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.panels.runs import reading
from cnn_gui.gui.panels.runs.curves import ComparisonPlots
from cnn_gui.gui.panels.runs.settings_diff import SettingsDiff
from cnn_gui.gui.panels.runs.table_model import RUN_ROLE, SORT_ROLE, RunsSortProxy, RunsTableModel
from cnn_gui.gui.widgets.elided_text import ElidedLabel

POLL_MS = 1000


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
        self.reader = reading.FolderReader(self)
        self.reader.listed.connect(self._show_listing)
        self.reader.note.connect(self._show_note)
        self.jobs = JobRunner(self)  # rename, delete, export
        self._runs_dir: Path | None = None
        self._checkpoints: dict[Path, Path | None] = {}  # from the last listing
        self._note_shown = False  # the message is a note about the folder, cleared by the next listing
        self._build_table()
        self._build_actions()
        bar = self._build_bar()
        self.curves = ComparisonPlots()
        self.curves.note.connect(self._show_note)
        self.accuracy_plot, self.loss_plot = self.curves.accuracy_plot, self.curves.loss_plot
        self.diff_stack = SettingsDiff()
        self.diff_table, self.diff_hint = self.diff_stack.table, self.diff_stack.hint
        self._build_layout(bar)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._update_actions()
        self.set_runs_dir(runs_dir)

    # -- construction -------------------------------------------------------------------

    def _build_table(self) -> None:
        self.model = RunsTableModel(self)
        self.proxy = RunsSortProxy(self)
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

    def _build_actions(self) -> None:
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

    def _build_bar(self) -> QHBoxLayout:
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
        return bar

    def _build_layout(self, bar: QHBoxLayout) -> None:
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.curves)
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

    @property
    def curves_shown(self) -> bool:
        """Whether the comparison plots are on show (something is selected)."""
        return self.curves.curves_shown

    # -- the folder -----------------------------------------------------------------------

    @property
    def runs_dir(self) -> Path:
        return self._runs_dir

    def set_runs_dir(self, path: str | os.PathLike | None) -> None:
        """Show the runs of ``path`` (None: ``$CNN_GUI_RUNS_DIR`` or the per-user default).

        The folder is read when the view is shown (or on :meth:`refresh`), not before:
        a window that starts with another tab in front reads nothing at start-up.
        """
        folder = resolve_runs_dir(path)
        if folder != self._runs_dir:
            self._runs_dir = folder
            self.reader.set_folder(folder)
            self.curves.clear_runs()
            self.model.set_runs([])
            self._checkpoints = {}
            self.folder_label.setText(f"runs in {folder}")
            self.folder_label.setToolTip(str(folder))
        if self.isVisible():
            self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Re-read the folder now, superseding a look in flight (the timer polls every second
        while the view is shown). The table follows when the listing arrives."""
        self.reader.refresh(force=True)
        self.curves.poll()

    @Slot()
    def poll(self) -> None:
        """One cheap look at the folder (new, changed and deleted runs) and at the shown runs'
        new points, off the GUI thread; skipped where the last look is still in flight."""
        self.reader.refresh(force=False)
        self.curves.poll()

    def _show_listing(self, listing: reading.Listing) -> None:
        self._checkpoints = listing.checkpoints
        if self.model.set_runs(listing.runs):
            self._on_selection_changed()  # the selected runs were re-read: new names, new status
        else:
            self.model.tick()
        count = len(listing.runs)
        noun = "run" if count == 1 else "runs"
        self.folder_label.setText(f"{count} {noun} in {self.runs_dir}")
        self.folder_label.setToolTip(str(self.runs_dir))
        if listing.problem:
            self._show_note(listing.problem)
        elif self._note_shown:
            self.show_message("")

    def _show_note(self, text: str) -> None:
        """A line about the folder (it cannot be read, it takes long): the next listing clears it."""
        self.show_message(text)
        self._note_shown = True

    def busy(self) -> bool:
        """Whether a listing, a look at the curves or an action is still on its way."""
        return self.reader.busy() or self.curves.busy() or self.jobs.busy()

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Deliver nothing more and wait up to ``timeout`` seconds in all for the job threads;
        True when none is left (one blocked in a read never ends, and never calls back)."""
        runners = (self.reader.jobs, self.curves.jobs, self.jobs)
        for runner in runners:
            runner.shutdown(0.0)
        deadline = time.monotonic() + timeout
        return all([runner.join(max(0.0, deadline - time.monotonic())) for runner in runners])

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
        selected = self.selected_runs()
        self.curves.show_runs(selected)
        self.diff_stack.show_runs(selected, self.curves.color_of)
        self._update_actions()

    def shown_curves(self) -> dict[str, dict[str, np.ndarray]]:
        """What the comparison plots show, by run name: ``epoch``/``test_accuracy`` (%) and
        ``step``/``loss``, and the curves' ``color``."""
        return self.curves.shown_curves()

    def legend_names(self, plot: pg.PlotItem | None = None) -> list[str]:
        return self.curves.legend_names(plot)

    def differing_settings(self) -> list[str]:
        """The settings highlighted in the comparison table."""
        return self.diff_stack.differing_settings()

    # -- actions -----------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        runs = self.selected_runs()
        one = runs[0] if len(runs) == 1 else None
        self.rename_action.setEnabled(one is not None and one.readable)
        self.delete_action.setEnabled(bool(runs))
        self.export_action.setEnabled(one is not None and one.readable)
        checkpoint = self._checkpoints.get(one.folder) if one is not None else None
        self.load_action.setEnabled(checkpoint is not None)
        self.open_folder_action.setEnabled(True)
        for key, action in (("rename", self.rename_action), ("delete", self.delete_action),
                            ("export", self.export_action), ("load", self.load_action)):
            self.buttons[key].setEnabled(action.isEnabled())
        if one is not None and checkpoint is None and one.readable:
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
        self._act("Renaming", "Could not rename", lambda _run: "", rename_run, run.folder, name)

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

        def said(problems: list[str]) -> str:
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                return f"Not deleted: {problems[0]}{more}"
            return f"Deleted {len(runs)} run{'s' if len(runs) > 1 else ''}."

        self._act("Deleting", "Could not delete", said, reading.delete_runs, [run.folder for run in runs])

    @Slot()
    def export_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        run = runs[0]
        path = self.ask_save_path(f"{run.id}-metrics.csv")
        if not path:
            return
        self._act("Exporting", "Could not export", lambda _path: f"Saved the metrics of “{run.name}” to {path}",
                  run_metrics_csv, run, path)

    def _act(self, doing: str, failed: str, said: Callable[[Any], str], fn: Callable, *args) -> None:
        """Run ``fn(*args)`` on a job thread; then ``said(result)`` (or ``failed`` and why) under
        the table and a fresh listing. Slower than ``reading.SLOW_S``: a line says so meanwhile."""
        self.show_message(f"{doing}…")

        def finish(text: str) -> None:
            self.show_message(text)
            self.refresh()

        self.jobs.submit(fn, *args, timeout=reading.SLOW_S,
                         on_done=lambda result: finish(said(result)),
                         on_error=lambda exc: finish(f"{failed}: {describe(exc)[0]}"),
                         on_timeout=lambda: self.show_message(f"{doing} is taking long; the window goes on…"))

    @Slot()
    def load_selected(self) -> None:
        runs = self.selected_runs()
        checkpoint = self._checkpoints.get(runs[0].folder) if len(runs) == 1 else None
        if checkpoint is not None:
            self.loadWeightsRequested.emit(str(checkpoint))

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
        self._note_shown = False
        line = one_line(text) if text else ""
        self.message.setText(line)
        self.message.setToolTip(line)
