"""Small texts of the Runs tab: a run's short name, and the grey hint shown before a selection."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from cnn_gui.core.errors import one_line
from cnn_gui.core.formatting import middle_elide


def legend_label(name: str, limit: int = 22) -> str:
    """A run's name short enough for a legend or a column title beside a small plot (the
    table shows it whole): "220855-mnist-cnn-mnist" for the run folder 20261128-220855-mnist-cnn-mnist."""
    name = one_line(name)
    if len(name) > limit and len(name) > 9 and name[:8].isdigit() and name[8] == "-":
        name = name[9:]  # a folder's own name starts with the date, which the table shows: keep the time
    return middle_elide(name, limit)


def hint_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #777777")
    return label
