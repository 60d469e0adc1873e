"""The Runs tab's settings table: the selected runs' settings side by side, differences highlighted."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QStackedWidget, QTableWidget, QTableWidgetItem

from cnn_gui.core.errors import one_line
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.panels.runs.labels import hint_label, short_run_name
from cnn_gui.gui.panels.runs.table_model import NO_VALUE

DIFF_COLOR = QColor("#fff1a8")
MAX_COMPARED = 6  # settings side by side; more columns would not fit
_HINT = "Select runs to see their settings side by side."


def _value_text(value: object) -> str:
    if value is None or value == "":
        return NO_VALUE
    if isinstance(value, float):
        return f"{value:g}"
    return one_line(value, 80)


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


class SettingsDiff(QStackedWidget):
    """The settings table of up to MAX_COMPARED runs, or a hint why there is none."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._key: tuple | None = None  # what the table shows now
        table = self.table = QTableWidget(0, 2)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.verticalHeader().hide()
        # Left-aligned, so a long run name that does not fit still shows its beginning.
        table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        table.setWordWrap(False)
        # Every run's column in view: they share the width, a value too long for its column is
        # cut in its middle (whole in its tooltip), so that runs compare at a glance.
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        table.setMinimumWidth(160)
        self.hint = hint_label(_HINT)
        self.addWidget(self.hint)
        self.addWidget(table)

    def show_runs(self, runs: list[Run], color_of: Callable[[Path], str | None]) -> None:
        """Compare the readable ones of ``runs``; a run's column title takes its curves' colour."""
        runs = [r for r in runs if r.readable]
        if not runs or len(runs) > MAX_COMPARED:
            self.hint.setText(_HINT if not runs else
                              f"Select at most {MAX_COMPARED} runs to see their settings side by side.")
            self.setCurrentWidget(self.hint)
            self.table.setRowCount(0)
            self._key = None
            return
        rows = settings_rows(runs)
        key = (tuple((r.folder, r.name) for r in runs), tuple((k, tuple(v)) for k, v in rows))
        if key == self._key:
            return  # a running run was re-read; its settings did not change
        self._key = key
        self._fill(runs, rows, color_of)
        self.setCurrentWidget(self.table)

    def _fill(self, runs: list[Run], rows: list[tuple[str, list[str]]], color_of) -> None:
        table = self.table
        table.clear()
        table.setColumnCount(1 + len(runs))
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(["setting"] + [short_run_name(r.name) for r in runs])
        header = table.horizontalHeader()
        header.setTextElideMode(Qt.TextElideMode.ElideRight)  # a title too long keeps its start: the time
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for c, run in enumerate(runs, 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
            table.horizontalHeaderItem(c).setToolTip(run.name)
            color = color_of(run.folder)
            if color is not None:
                table.horizontalHeaderItem(c).setForeground(QBrush(QColor(color)))
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

    def differing_settings(self) -> list[str]:
        """The settings highlighted in the table."""
        out = []
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.background().color() == DIFF_COLOR:
                out.append(item.text())
        return out
