"""The *Runs* view: every recorded training run, compared and followed live.

A table of the runs in a runs folder (``core/runs/reader.py``), newest first (click a header
to sort by another column); select one or more to overlay their curves (test
accuracy per epoch, training loss per step), each run in its own colour under its
name, and to see their settings side by side, the differences highlighted.
Rename, Delete, Export metrics CSV and Load weights act on the selection (buttons and
the context menu); Load weights only asks, through :attr:`RunsView.loadWeightsRequested`.

Besides its own runs folder (where the window's runs are written) the view can *follow*
other runs folders: a mounted share of a GPU server, a synced folder (*Folders > Follow
another runs folder…*, remembered in the settings). Their runs join the table, with a
Folder column saying where each is; one that cannot be reached says so in one line
(:mod:`~cnn_gui.gui.panels.runs.folders`).

While shown, the view polls each folder once a second: a ``stat`` per file, re-reading
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
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QMenu, QPushButton,
                               QSplitter, QTableView, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from cnn_gui.core.errors import one_line
from cnn_gui.core.runs.followed import with_folder, without_folder
from cnn_gui.core.runs.layout import RunsError, resolve_runs_dir
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.panels.runs.actions import RunActions
from cnn_gui.gui.panels.runs.curves import ComparisonPlots
from cnn_gui.gui.panels.runs.folders import FolderSet
from cnn_gui.gui.panels.runs.settings_diff import SettingsDiff
from cnn_gui.gui.panels.runs.table_model import RUN_ROLE, SORT_ROLE, RunsSortProxy, RunsTableModel
from cnn_gui.gui.widgets.elided_text import ElidedLabel

POLL_MS = 1000


NAME_WIDTH_CHARS = 26  # the Name column's width at first, in average characters
MIN_TABLE_ROWS = 5


class RunsView(RunActions, QWidget):
    """The runs of one folder: table, overlaid curves, settings compared, actions.

    Signals: ``loadWeightsRequested(str)`` with a run's checkpoint path;
    ``runsDirChanged(str)`` when the own folder was changed from the *Folders* menu;
    ``followedChanged(list)`` with the followed folders' paths when one was added or dropped;
    ``runsDeleted(list)`` with the folders a Delete was asked for, once it is done (some may
    remain: the receiver checks); ``runRenamed(str, str)`` with a run's folder and new name.
    :attr:`holds_canvas_weights` (folders -> bool, set by the window) tells whether the
    weights on the canvas exist only in those runs: the delete dialog says so.
    Dialogs go through :meth:`confirm`, :meth:`ask_name`, :meth:`ask_save_path` and
    :meth:`ask_directory`, which tests replace.
    """

    loadWeightsRequested = Signal(str)
    runsDirChanged = Signal(str)
    followedChanged = Signal(list)
    runsDeleted = Signal(list)
    runRenamed = Signal(str, str)

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None,
                 followed: list | None = None) -> None:
        super().__init__(parent)
        self.folders = FolderSet(self)
        self.folders.changed.connect(self._show_listing)
        self.folders.note.connect(self._show_note)
        self.jobs = JobRunner(self)  # rename, delete, export
        self.holds_canvas_weights: Callable[[list[Path]], bool] = lambda folders: False
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
        self._shut_down = False
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._update_actions()
        self.set_runs_dir(runs_dir)
        self.set_followed(followed or [])

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
        # Every column as narrow as its contents (short headers, full names in their tooltips)
        # and the name cut at its end (whole in its tooltip; drag its edge for more), so that
        # the results after it are in view without scrolling sideways in a 1366x768 window;
        # model, dataset and preset come last (the settings table beside the curves has them too).
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(24)
        self.table.setColumnWidth(0, NAME_WIDTH_CHARS * self.table.fontMetrics().averageCharWidth())
        # A name's start: "20261204-185635-mnist-c…" keeps the time that tells runs of the same
        # model and data apart (cut in the middle, several rows read "20261204-…nn-shapes").
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        row_height = self.table.fontMetrics().height() + 6
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)

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
        self.followed_label = ElidedLabel(min_chars=8)
        self.followed_label.hide()
        self.folder_button = QToolButton()
        self.folder_button.setText("Folders")
        self.folder_button.setToolTip("This window's runs folder, and other runs folders to follow")
        self.folder_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.folder_menu = QMenu(self.folder_button)
        self.folder_menu.aboutToShow.connect(self._fill_folder_menu)
        self.folder_button.setMenu(self.folder_menu)
        bar.addStretch(1)
        bar.addWidget(self.folder_button)
        return bar

    def _fill_folder_menu(self) -> None:
        menu = self.folder_menu
        menu.clear()
        own = menu.addAction("Change this window's runs folder…", self._choose_folder)
        own.setToolTip("Where the window's runs are written and read")
        menu.addAction("Follow another runs folder…", self._add_followed)
        if self.followed:
            menu.addSeparator()
            for folder in self.followed:
                menu.addAction(f"Stop following {folder}", lambda f=folder: self.stop_following(f))

    def _build_layout(self, bar: QHBoxLayout) -> None:
        # Curves and settings in two tabs under the table, each the whole width: side by side
        # in a 550-px-wide tab (1280x720) the plots were 150x40 px and the settings showed one
        # run's column at a time. The x-axis choice sits in the tab bar's corner.
        lower = self.lower = QTabWidget()
        lower.setDocumentMode(True)
        lower.addTab(self.curves, "Curves")
        lower.addTab(self.diff_stack, "Settings compared")
        lower.setTabToolTip(1, "The selected runs' settings side by side, the differences highlighted")
        lower.setCornerWidget(self.curves.axis_choice, Qt.Corner.TopRightCorner)
        lower.currentChanged.connect(lambda i: self.curves.axis_choice.setVisible(i == 0))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setChildrenCollapsible(False)
        # The table shows at least five runs, the plots get the larger share below it (at
        # 1280x720 they were 40 px tall); drag the handle for more of either.
        self.table.setMinimumHeight(self._table_height(MIN_TABLE_ROWS))
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([200, 300])
        self.splitter = split

        # Under the table: what an action did (while there is something to say), where the
        # runs come from. Beside the buttons a 1366-wide window left the folders a few letters
        # ("2 runs i…", "followin…"); a line of their own cost the plots the height they need
        # at 1280x720.
        self.message = ElidedLabel(min_chars=8)
        self.message.hide()
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        footer.addWidget(self.message, 3)
        footer.addWidget(self.folder_label, 2)
        footer.addWidget(self.followed_label, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addLayout(footer)

    def _table_height(self, rows: int) -> int:
        """The table's height that shows ``rows`` rows, its header and a sideways scroll bar."""
        t = self.table
        return (rows * t.verticalHeader().defaultSectionSize() + t.horizontalHeader().sizeHint().height()
                + t.horizontalScrollBar().sizeHint().height() + 2 * t.frameWidth())

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
            self.folders.set_own(folder)
            if any(os.path.abspath(f) == os.path.abspath(folder) for f in self.followed):
                self.set_followed(without_folder(self.followed, folder))  # shown as the own folder now
                self.followedChanged.emit([str(f) for f in self.followed])
            self.model.set_folder_names(self.folders.names())
            self.curves.clear_runs()
            self.model.set_runs([])
            self._checkpoints = {}
            self.folder_label.setText(f"runs in {folder}")
            self.folder_label.setToolTip(str(folder))
        if self.isVisible():
            self.refresh()

    @property
    def followed(self) -> list[Path]:
        """The runs folders followed besides the own one, in the order they were added."""
        return self.folders.followed

    def set_followed(self, folders: list) -> None:
        """Follow exactly these runs folders (read when the view is shown, as the own one)."""
        self.folders.set_followed([Path(f) for f in folders])
        self.model.set_folder_names(self.folders.names())
        self.table.setColumnHidden(RunsTableModel.COLUMNS.index("Folder"), not self.followed)
        self._show_listing()
        if self.isVisible():
            self.refresh()

    def follow(self, folder: str | os.PathLike) -> bool:
        """Follow ``folder`` too, or say in one line why not; True when it is followed now."""
        try:
            folders = with_folder(self.followed, folder, self.runs_dir)
        except RunsError as exc:
            self.show_message(f"Not followed: {exc}")
            return False
        self.set_followed(folders)
        self.followedChanged.emit([str(f) for f in folders])
        self.show_message(f"Following {folders[-1]}: its runs are listed here as they are written.")
        return True

    def stop_following(self, folder: str | os.PathLike) -> None:
        self.set_followed(without_folder(self.followed, folder))
        self.followedChanged.emit([str(f) for f in self.followed])

    @Slot()
    def refresh(self) -> None:
        """Re-read the folders now, superseding looks in flight (the timer polls every second
        while the view is shown). The table follows when the listings arrive."""
        if self._shut_down:
            return
        self.folders.refresh(force=True)
        self.curves.poll()

    @Slot()
    def poll(self) -> None:
        """One cheap look at each folder (new, changed and deleted runs) and at the shown runs'
        new points, off the GUI thread; skipped where a folder's last look is still in flight."""
        if self._shut_down:
            return
        self.folders.refresh(force=False)
        self.curves.poll()

    def _show_listing(self) -> None:
        self._checkpoints = self.folders.checkpoints()
        runs = self.folders.runs()
        if self.model.set_runs(runs):
            self._on_selection_changed()  # the selected runs were re-read: new names, new status
        else:
            self.model.tick()
        own = self.folders.own_listing()
        count = len(own.runs) if own is not None else 0
        noun = "run" if count == 1 else "runs"
        self.folder_label.setText(f"{count} {noun} in {self.runs_dir}")
        self.folder_label.setToolTip(f"This window's runs folder (its runs are written here):\n{self.runs_dir}")
        line, tip, troubled = self.folders.followed_summary()
        self.followed_label.setVisible(bool(line))
        self.followed_label.setText(line)
        self.followed_label.setToolTip(tip)
        self.followed_label.setStyleSheet("color: #e65100;" if troubled else "")
        if own is not None and own.problem:
            self._show_note(own.problem)
        elif own is not None and self._note_shown:
            self.show_message("")

    def _show_note(self, text: str) -> None:
        """A line about the folder (it cannot be read, it takes long): the next listing clears it."""
        self.show_message(text)
        self._note_shown = True

    def busy(self) -> bool:
        """Whether a listing, a look at the curves or an action is still on its way."""
        return self.folders.busy() or self.curves.busy() or self.jobs.busy()

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Deliver nothing more and wait up to ``timeout`` seconds in all for the job threads;
        True when none is left (one blocked in a read never ends, and never calls back)."""
        self._shut_down = True  # no poll from here on: a timer tick or a show would submit to a closed runner
        self.timer.stop()
        runners = (*self.folders.runners(), self.curves.jobs, self.jobs)
        for runner in runners:
            runner.shutdown(0.0)
        deadline = time.monotonic() + timeout
        return all([runner.join(max(0.0, deadline - time.monotonic())) for runner in runners])

    # -- visibility: poll only while shown --------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._shut_down:
            return
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

    @Slot()
    def _choose_folder(self) -> None:
        path = self.ask_directory(str(self.runs_dir))
        if path:
            self.set_runs_dir(path)
            self.runsDirChanged.emit(str(self.runs_dir))

    @Slot()
    def _add_followed(self) -> None:
        path = self.ask_directory(str(self.followed[-1] if self.followed else self.runs_dir),
                                  "Follow a runs folder")
        if path:
            self.follow(path)

    # -- dialogs (tests replace these) -------------------------------------------------------------

    def ask_directory(self, current: str, title: str = "Runs folder") -> str | None:
        path = QFileDialog.getExistingDirectory(self, title, current)
        return path or None

    def show_message(self, text: str) -> None:
        """One line under the table: what an action did, or why it could not."""
        self._note_shown = False
        line = one_line(text) if text else ""
        self.message.setText(line)
        self.message.setToolTip(line)
        self.message.setVisible(bool(line))
