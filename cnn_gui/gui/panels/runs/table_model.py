"""The Runs tab's table: one row per recorded run, its numbers as text, and its sort order."""

from __future__ import annotations

import time

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor

from cnn_gui.core.formatting import dataset_title, spoken_duration as format_duration
from cnn_gui.core.runs.reader import Run

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_COLORS = {"running": "#1f77b4", "failed": "#c62828", "interrupted": "#e65100", "unreadable": "#777777"}
NO_VALUE = "—"


def _pct(value: float | None) -> str:
    return NO_VALUE if value is None else f"{100 * value:.2f} %"


def _duration_of(run: Run) -> float | None:
    if run.status == "running" and run.started is not None:
        return max(time.time() - run.started.timestamp(), 0.0)
    return run.duration_seconds


def _cell_text(run: Run, column: str, folder_names: dict | None = None) -> str:
    """What the table shows for ``run`` in ``column`` (``folder_names``: each runs folder's short name)."""
    if column == "Name":
        return run.name
    if column == "Folder":
        return (folder_names or {}).get(run.folder.parent, run.folder.parent.name)
    if column == "Status":
        return run.status_text
    if not run.readable:
        return ""
    if column == "Date":
        return run.started.astimezone().strftime("%Y-%m-%d %H:%M") if run.started else NO_VALUE
    if column == "Model":
        return run.model
    if column == "Dataset":  # a folder by its name (its path in the tooltip)
        return dataset_title(run.dataset) if run.dataset else NO_VALUE
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


def _sort_value(run: Run, column: str):
    """What ``column`` sorts ``run`` by: numbers as numbers, dates as dates, text lower-case."""
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
    return _cell_text(run, column).lower()


class RunsTableModel(QAbstractTableModel):
    """One row per :class:`Run`, in the order they were first seen (a proxy sorts them).

    :meth:`set_runs` removes, replaces and appends rows one by one, so a selection
    survives a refresh.
    """

    # The results first, after the name, so that they are in view without scrolling sideways
    # in a 1366x768 window; what the run was (model, dataset, preset) after them.
    # Folder: which runs folder a run is in, shown only while other folders are followed.
    COLUMNS = ("Name", "Folder", "Status", "Epochs", "Best test", "Final test", "Date", "Duration", "Model", "Dataset",
               "Preset")
    NUMERIC = {"Epochs", "Best test", "Final test", "Duration"}
    # Header texts kept short (the column's name in its tooltip), so the columns are as narrow as their numbers.
    HEADERS = {"Best test": "Best", "Final test": "Final", "Duration": "Time", "Epochs": "Ep."}
    HEADER_TIPS = {"Best test": "best test accuracy of any epoch", "Final test": "test accuracy of the last epoch",
                   "Duration": "how long it trained", "Epochs": "epochs done / planned",
                   "Date": "when it started", "Folder": "the runs folder it is in (Folders > Follow…)"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.runs: list[Run] = []
        self.folder_names: dict = {}  # each runs folder's short name, set by the view

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        column = self.COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS.get(column, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS.get(column, column)
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

    def set_folder_names(self, names: dict) -> None:
        """Each runs folder's short name, for the Folder column."""
        self.folder_names = dict(names)
        if self.runs:
            col = self.COLUMNS.index("Folder")
            self.dataChanged.emit(self.index(0, col), self.index(len(self.runs) - 1, col))

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
            return _cell_text(run, column, self.folder_names)
        if role == SORT_ROLE:
            return _sort_value(run, column) if column != "Folder" else _cell_text(run, column, self.folder_names)
        if role == RUN_ROLE:
            return run
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "Status" and run.status == "failed" and run.error:
                return run.error
            if column == "Status" and run.status == "interrupted":
                return "Its writer stopped without ending the run (killed or crashed); finished epochs are kept."
            if column == "Date" and run.started is not None:
                return run.started.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if column == "Dataset" and run.readable:  # a folder's whole path, kept in run.json only
                return run.dataset_source or run.dataset
            if column == "Model" and run.readable:  # your own class's file
                return run.model_source or run.model
            if column == "Folder":
                return str(run.folder.parent)
            return f"{run.name}\n{run.folder}"
        if role == Qt.ItemDataRole.ForegroundRole and column == "Status":
            color = STATUS_COLORS.get(run.status)
            return QBrush(QColor(color)) if color else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in self.NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class RunsSortProxy(QSortFilterProxyModel):
    """Sorts by each column's SORT_ROLE value (numbers as numbers, dates as dates)."""

    def lessThan(self, left, right) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if type(a) is not type(b):
            return str(a) < str(b)
        return a < b
