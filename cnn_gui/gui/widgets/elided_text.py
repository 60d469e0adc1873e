"""Text that never widens its window: one long line cut with "…", whole in the tooltip.

:class:`ElidedLabel` is such a label; :func:`fit_combo` sizes a combo box to its fixed
items, or to a number of characters past which its text elides (whole in the popup).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QComboBox, QLabel, QSizePolicy, QWidget

MIN_CHARS = 12  # the narrowest an elided label gets, in average characters


class ElidedLabel(QLabel):
    """One line of plain text that never widens its window: what does not fit ends in "…",
    and the tooltip then shows it whole. ``text()`` is the whole text."""

    def __init__(self, text: str = "", parent: QWidget | None = None, min_chars: int = MIN_CHARS) -> None:
        super().__init__(parent)
        self._min_chars = min_chars
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self._update_tooltip()

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def shown_text(self) -> str:
        """The text as painted now, elided to the label's width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             max(self.contentsRect().width(), 0))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.averageCharWidth() * self._min_chars + m.left() + m.right(),
                     super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(max(min(hint.width(), self.fontMetrics().averageCharWidth() * 60),
                         self.minimumSizeHint().width()), hint.height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._update_tooltip()

    def paintEvent(self, event) -> None:  # noqa: N802, ARG002
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(),
                                  self.isEnabled(), self.shown_text(), QPalette.ColorRole.WindowText)
        painter.end()

    def _update_tooltip(self) -> None:
        self.setToolTip(self.text() if self.is_elided() else "")


def fit_combo(combo: QComboBox, max_chars: int | None = None) -> None:
    """Size ``combo`` to its longest item (its items are fixed), or with ``max_chars`` to that
    many characters' width: longer items elide, the popup is widened to show them whole."""
    fm = combo.fontMetrics()
    widest = max((fm.horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
    if max_chars:
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(max_chars)
    else:
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    combo.view().setMinimumWidth(widest + 4 * fm.averageCharWidth())
