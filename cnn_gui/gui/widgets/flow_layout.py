"""Rows of controls that wrap onto more lines instead of widening the window.

:class:`FlowLayout` lays its items out left to right and wraps when the width runs out;
:func:`labelled` makes a label and its field one flow item, so a wrap never separates them.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    """Items left to right, wrapping to a new line when the width runs out.

    Its minimum width is its widest item, so it never widens a window; it reports the
    height it needs for a width (``heightForWidth``), which QBoxLayout honours. Hidden
    widgets take no room.
    """

    def __init__(self, parent: QWidget | None = None, h_spacing: int = 10, v_spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._h = h_spacing
        self._v = v_spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt's name)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        # Not "everything on one line": a hint of ~1,700 px would only invite a window to
        # grow. The height a width needs comes from heightForWidth.
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest item (items are never squeezed below their size hint)."""
        shown = self._shown()
        m = self.contentsMargins()
        w = max((i.sizeHint().width() for i in shown), default=0)
        h = max((i.sizeHint().height() for i in shown), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def lines(self, width: int) -> list[list[QLayoutItem]]:
        """The shown items, line by line, as laid out in ``width`` pixels."""
        m = self.contentsMargins()
        avail = max(width - m.left() - m.right(), 1)
        lines: list[list[QLayoutItem]] = []
        x = 0
        for item in self._shown():
            w = item.sizeHint().width()
            if lines and x + self._h + w <= avail:
                lines[-1].append(item)
                x += self._h + w
            else:
                lines.append([item])
                x = w
        return lines

    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not i.isEmpty()]

    def _arrange(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        y = rect.y() + m.top()
        lines = self.lines(rect.width())
        for n, line in enumerate(lines):
            height = max(i.sizeHint().height() for i in line)
            x = rect.x() + m.left()
            for item in line:
                hint = item.sizeHint()
                if move:  # vertically centred in the line
                    item.setGeometry(QRect(QPoint(x, y + (height - hint.height()) // 2), hint))
                x += hint.width() + self._h
            y += height + (self._v if n < len(lines) - 1 else 0)
        return y + m.bottom() - rect.y()


def labelled(label: QLabel | str, field: QWidget) -> QWidget:
    """One flow item: ``label`` and ``field`` side by side, never split across two lines."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    row.addWidget(label if isinstance(label, QLabel) else QLabel(label))
    row.addWidget(field)
    return box
