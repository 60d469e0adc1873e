"""The structure tree's filter: module type and search text, by the core's search rule."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel

from cnn_gui.core.model.structure import ModuleNode, search
from cnn_gui.gui.panels.structure.tree_model import StructureModel


class StructureFilterProxy(QSortFilterProxyModel):
    """Module-type filter and text search, both at once; matching rows keep their ancestors.

    Which rows match is :func:`cnn_gui.core.model.structure.search`'s answer, worked out
    once per tree, type and text rather than once per row.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self._type: str | None = None
        self._text = ""
        self._hits_key: tuple | None = None  # (tree, type, text) that _hits answers
        self._hits: set[tuple[str, str]] = set()

    @property
    def type_filter(self) -> str | None:
        return self._type

    def set_type_filter(self, type_name: str | None) -> None:
        type_name = type_name or None
        if type_name != self._type:
            self._change(lambda: setattr(self, "_type", type_name))

    def set_search_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            self._change(lambda: setattr(self, "_text", text))

    def _change(self, apply) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter is deprecated in 6.10
            self.beginFilterChange()
            apply()
            self.endFilterChange()
        else:
            apply()
            self.invalidateFilter()

    def is_active(self) -> bool:
        return self._type is not None or bool(self._text)

    def _matches(self, tree: ModuleNode) -> set[tuple[str, str]]:
        """(kind, full name) of the rows that match by themselves."""
        key = (self._type, self._text)
        if self._hits_key is None or self._hits_key[0] is not tree or self._hits_key[1:] != key:
            self._hits_key = (tree, *key)
            self._hits = {("module" if isinstance(row, ModuleNode) else "param", row.name)
                          for row in search(tree, self._text, self._type)}
        return self._hits

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        if not self.is_active():
            return True
        src = self.sourceModel()
        it = src.item(src.index(source_row, 0, source_parent)) if isinstance(src, StructureModel) else None
        if it is None or src.tree is None:
            return True
        return (it.kind, it.node.name) in self._matches(src.tree)
