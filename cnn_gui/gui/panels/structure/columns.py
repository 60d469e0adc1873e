"""The structure tree's column widths: what the rows need, shared out over a narrow panel."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QTreeView

from cnn_gui.gui.panels.structure.tree_model import COL_DETAILS, COL_NAME, COL_OUTPUT, COL_PARAMS, COL_TYPE, COLUMNS

NAME_MIN, NAME_MAX = 72, 170  # the Name column's width (tick box and indent included): elided below its contents
DETAILS_MIN = 24  # the stretched Details column's smallest width (Qt's own, when shown)
DETAILS_SHOWN = 80  # Details is shown only with this much room ("in_channels=1…"); else hidden


class _ElideRightDelegate(QStyledItemDelegate):
    """Constructor arguments read from the left: "kernel_size=(5, 5), stride=…"."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt's name)
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class ColumnFitter(QObject):
    """Sizes a structure tree view's columns; a column resized by hand leaves them all alone.

    Widths only grow while a tree is shown (:meth:`fit` after rows were expanded), so
    expanding and collapsing rows does not make the columns jump back and forth;
    :meth:`reset` starts afresh for another tree.
    """

    def __init__(self, view: QTreeView) -> None:
        super().__init__(view)
        self._view = view
        self._content_widths: list[int] | None = None  # what the rows shown so far need
        self._sizing = False
        self._user_sized = False
        header = view.header()
        # The stretched last column never gets narrower than its size when it began to
        # stretch: start it at DETAILS_MIN, or it would keep 100 px and scroll sideways.
        header.resizeSection(COL_DETAILS, DETAILS_MIN)
        header.setStretchLastSection(True)
        view.setItemDelegateForColumn(COL_DETAILS, _ElideRightDelegate(view))
        view.viewport().installEventFilter(self)
        header.sectionResized.connect(self._on_section_resized)
        view.expanded.connect(self.fit)

    def reset(self) -> None:
        """Another tree: measure its columns afresh, even after a resize by hand."""
        self._user_sized = False
        self._content_widths = None

    def fit(self) -> None:
        """Measure what the shown rows need in each column, then share the view's width out."""
        view = self._view
        header = view.header()
        measured = [max(view.sizeHintForColumn(col), header.sectionSizeHint(col)) for col in range(len(COLUMNS))]
        if self._content_widths is not None:
            measured = [max(a, b) for a, b in zip(measured, self._content_widths)]
        self._content_widths = measured
        self._layout()

    def _layout(self) -> None:
        """Type, Output and Params whole; Name up to its contents (at most NAME_MAX); Details,
        elided on the right, gets the rest when that is at least DETAILS_SHOWN, and is hidden
        otherwise (each row's tooltip and the pane below say the same). Only then does Name
        elide ("layer4…weight"), down to NAME_MIN; a panel narrower than Type + Output +
        Params + NAME_MIN scrolls sideways. No column is ever cut off by the panel's edge."""
        widths = self._content_widths
        if widths is None or self._user_sized:
            return
        header = self._view.header()
        fixed = widths[COL_TYPE] + widths[COL_OUTPUT] + widths[COL_PARAMS]
        name = min(widths[COL_NAME], NAME_MAX)
        room = self._view.viewport().width() - fixed
        details = room - name >= DETAILS_SHOWN
        if not details:
            name = max(min(name, room), min(NAME_MIN, widths[COL_NAME]))
        self._sizing = True
        try:
            header.setSectionHidden(COL_DETAILS, not details)
            header.resizeSection(COL_NAME, name)
            for col in (COL_TYPE, COL_OUTPUT, COL_PARAMS):
                header.resizeSection(col, widths[col])
        finally:
            self._sizing = False

    def details_shown(self) -> bool:
        return not self._view.header().isSectionHidden(COL_DETAILS)

    def _on_section_resized(self, section: int, _old: int, _new: int) -> None:
        stretched = COL_DETAILS if self.details_shown() else COL_PARAMS  # the header sizes it, not the user
        if not self._sizing and section != stretched and self._content_widths is not None:
            self._user_sized = True

    def column_widths(self) -> list[int]:
        """The columns' widths as shown."""
        header = self._view.header()
        return [header.sectionSize(col) for col in range(len(COLUMNS))]

    def content_widths(self) -> list[int] | None:
        """What each column needs to show the rows shown so far whole, or None before a tree."""
        return None if self._content_widths is None else list(self._content_widths)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize and obj is self._view.viewport():
            self._layout()
        return super().eventFilter(obj, event)
