"""Small texts of the Runs tab: a run's short name, and the grey hint shown before a selection."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from cnn_gui.core.errors import one_line
from cnn_gui.core.formatting import middle_elide


def short_run_name(name: str) -> str:
    """A run's name without the date a folder's own name starts with (the table's Date column
    shows it): "220855-mnist-cnn-mnist" for 20261128-220855-mnist-cnn-mnist; the time stays."""
    name = one_line(name)
    if len(name) > 9 and name[:8].isdigit() and name[8] == "-":
        return name[9:]
    return name


def legend_label(name: str, limit: int = 24) -> str:
    """A run's name short enough for a legend beside a small plot (the table shows it whole):
    :func:`short_run_name` when the whole name is longer than ``limit``, cut in its middle."""
    name = one_line(name)
    return middle_elide(short_run_name(name) if len(name) > limit else name, limit)


def hint_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #777777")
    return label
