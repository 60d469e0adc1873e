"""Small print: the notes and "which weights" labels under the analysis tabs' pictures."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

NOTE_COLOUR = "#555555"


def make_small(*labels: QLabel, grey: tuple[QLabel, ...] = ()) -> None:
    """``labels`` in a font 85 % of their own (7 pt at least); those also in ``grey`` in the notes' grey."""
    small = labels[0].font()
    small.setPointSizeF(max(small.pointSizeF() * 0.85, 7.0))
    for label in labels:
        label.setFont(small)
    for label in grey:
        label.setStyleSheet(f"color: {NOTE_COLOUR}")
