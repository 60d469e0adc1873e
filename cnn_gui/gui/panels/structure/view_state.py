"""What a user did to the structure tree, kept across a redraw of the same network.

The tree is rebuilt when weights change (a run ends, a checkpoint of the same model is
opened): the rows are the same, so the selected row, the rows opened or closed by hand and
the scroll position stay (:class:`TreeViewState`, by full names). :func:`same_rows` says
whether two trees have the same rows; only the Train ticks and counts may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QTreeView

from cnn_gui.core.model.structure import ModuleNode

from cnn_gui.gui.panels.structure.tree_model import FULLNAME_ROLE, KIND_ROLE


def _rows(tree: ModuleNode) -> tuple:
    return tuple((n.name, n.type_name, tuple(n.hparams.items()), n.output_shape,
                  tuple((p.name, p.shape) for p in n.params)) for n in tree.walk())


def same_rows(a: ModuleNode | None, b: ModuleNode | None) -> bool:
    """Whether trees ``a`` and ``b`` show the same rows (names, types, shapes, parameters)."""
    return a is not None and b is not None and (a is b or _rows(a) == _rows(b))


def _key(index: QModelIndex) -> tuple[str, str]:
    return index.data(KIND_ROLE), index.data(FULLNAME_ROLE)


def _walk(view: QTreeView, parent: QModelIndex = QModelIndex()):
    model = view.model()
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        yield index
        yield from _walk(view, index)


@dataclass(frozen=True)
class TreeViewState:
    expanded: frozenset[tuple[str, str]]  # (kind, full name) of the open rows
    scroll: int  # the vertical scroll bar's value

    @classmethod
    def of(cls, view: QTreeView) -> "TreeViewState":
        return cls(frozenset(_key(i) for i in _walk(view) if view.isExpanded(i)), view.verticalScrollBar().value())

    def restore(self, view: QTreeView) -> None:
        """Open the rows that were open (and only those); then the scroll position."""
        for index in _walk(view):
            view.setExpanded(index, _key(index) in self.expanded)
        view.doItemsLayout()  # the scroll bar's range for the rows now open
        view.verticalScrollBar().setValue(self.scroll)
