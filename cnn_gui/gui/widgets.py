"""Small layout pieces shared by the views, so that none of them widens the window.

:class:`FlowLayout` wraps a row of controls onto more lines when the window is narrow;
:func:`labelled` keeps a label with its field when they wrap; :class:`ElidedLabel` cuts
one long line with "…" and shows it whole in its tooltip.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from .training_panel import ElidedLabel, FlowLayout  # noqa: F401 - the shared home of these names


def labelled(label: QLabel | str, field: QWidget) -> QWidget:
    """One flow item: ``label`` and ``field`` side by side, never split across two lines."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    row.addWidget(label if isinstance(label, QLabel) else QLabel(label))
    row.addWidget(field)
    return box
