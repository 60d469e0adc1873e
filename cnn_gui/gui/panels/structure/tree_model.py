"""The model's structure as a Qt item model: one row per module and per parameter.

:class:`StructureModel` is a ``QAbstractItemModel`` over a core
:class:`~cnn_gui.core.model.structure.ModuleNode` tree; the only thing it lets a user change
is the *Train* tick of a module row (:attr:`StructureModel.trainToggled`). The model itself is the one top-level
row (named after its class, full name ``""``), so the rows mirror ``named_modules()``;
under each module come first its own parameter rows (full names as
``named_parameters()`` gives them), then its child modules. A depth-first walk therefore
meets the parameters in exactly ``named_parameters()`` order.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont

from cnn_gui.core.formatting import shape_text as _shape_text
from cnn_gui.core.model.structure import ModuleNode, ParamRow

# Custom roles: the raw data behind a row, for the filter and for tests.
NODE_ROLE = Qt.ItemDataRole.UserRole + 1  # the ModuleNode or ParamRow
KIND_ROLE = Qt.ItemDataRole.UserRole + 2  # "module" or "param"
FULLNAME_ROLE = Qt.ItemDataRole.UserRole + 3  # named_modules() / named_parameters() name

COLUMNS = ("Name", "Type", "Output", "Params", "Details")  # short headers: the panel is narrow
COL_NAME, COL_TYPE, COL_OUTPUT, COL_PARAMS, COL_DETAILS = range(len(COLUMNS))
_HEADER_TIPS = (
    ("Module name as named_children() gives it, a parameter's as named_parameters() ends it\n"
     "(hover a row for its full name: layer1.0.weight).\n"
     "The box before a module is Train: untick it to freeze the module's parameters (requires_grad=False)"),
    "Module class, or 'Parameter'",
    "Output shape: of one sample (C x H x W), from a forward pass on a zero input",
    "Parameters: count of a module's own plus all its children's",
    "Constructor arguments of a module (after what of it is frozen); shape and trainable/frozen of a parameter",
)
TRAIN_TIP = "Train: ticked = its parameters learn; unticked = frozen (requires_grad=False), BatchNorm statistics too"
BUSY_TIP = "Training: stop it to freeze or unfreeze a module"
FROZEN_RGB = "#777777"  # frozen rows' text: still readable, clearly not like the others


def _hparams_text(node: ModuleNode, sep: str = ", ") -> str:
    if set(node.hparams) == {"repr"}:
        return node.hparams["repr"]
    return sep.join(f"{k}={v}" for k, v in node.hparams.items())


def frozen_text(node: ModuleNode) -> str:
    """"frozen", "1,024 of 2,080 trainable", or "" when all of it trains (or it has nothing)."""
    if node.trainable_params == node.total_params:
        return ""
    if node.trainable_params == 0:
        return "frozen"
    return f"{node.trainable_params:,} of {node.total_params:,} trainable"


class _Item:
    """One row: a module or a parameter, with its place in the tree."""

    __slots__ = ("kind", "node", "owner", "parent", "row", "children", "id")

    def __init__(self, kind: str, node, owner: ModuleNode, parent: "_Item | None", row: int, id_: int) -> None:
        self.kind = kind  # "module" | "param"
        self.node = node  # ModuleNode | ParamRow
        self.owner = owner  # the module itself, or the module that owns the parameter
        self.parent = parent
        self.row = row
        self.children: list[_Item] = []
        self.id = id_


class StructureModel(QAbstractItemModel):
    """Adapter over a ModuleNode tree (see the module docstring for the row order).

    Module rows that hold parameters carry a check box, *Train*: checked when all their
    parameters train, unchecked when all are frozen, partly checked in between. When
    :meth:`set_editable` allows it, a click emits ``trainToggled(name, trainable)``; the
    owner freezes the live model and calls :meth:`refresh` -- the tree is only a picture.
    """

    trainToggled = Signal(str, bool)  # module full name, the state asked for

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._editable = False
        self._tree: ModuleNode | None = None
        self._items: list[_Item] = []  # index.internalId() is the position in this list
        self._top: list[_Item] = []

    # -- content -----------------------------------------------------------------------

    @property
    def tree(self) -> ModuleNode | None:
        return self._tree

    def set_tree(self, tree: ModuleNode | None, editable: bool | None = None) -> None:
        """Another tree (a model reset); ``editable``: :meth:`set_editable` with it, at no
        cost (a refresh after the reset would ask every cell again: ~20 ms at start-up)."""
        self.beginResetModel()
        if editable is not None:
            self._editable = editable
        self._tree = tree
        self._items = []
        self._top = [self._add_module(tree, None, 0)] if tree is not None else []
        self.endResetModel()

    def _add_module(self, node: ModuleNode, parent: _Item | None, row: int) -> _Item:
        item = _Item("module", node, node, parent, row, len(self._items))
        self._items.append(item)
        for p in node.params:
            child = _Item("param", p, node, item, len(item.children), len(self._items))
            self._items.append(child)
            item.children.append(child)
        for c in node.children:
            item.children.append(self._add_module(c, item, len(item.children)))
        return item

    def set_editable(self, editable: bool) -> None:
        """Whether the Train boxes can be clicked (a live model, and no training running)."""
        if editable != self._editable:
            self._editable = editable
            self.refresh()

    @property
    def editable(self) -> bool:
        return self._editable

    def refresh(self) -> None:
        """Every row's data again (after the tree's trainable flags changed in place)."""
        last = len(COLUMNS) - 1
        for it in self._items:
            if it.kind == "param":  # ParamRows are frozen dataclasses: refresh_trainable replaced them
                it.node = it.owner.params[it.row]
            self.dataChanged.emit(self.createIndex(it.row, 0, it.id), self.createIndex(it.row, last, it.id))

    def item(self, index: QModelIndex) -> _Item | None:
        if not index.isValid():
            return None
        return self._items[index.internalId()]

    def index_for_name(self, full_name: str, kind: str = "module") -> QModelIndex:
        """The index (column 0) of a module or parameter by its full name; invalid if none."""
        for it in self._items:
            if it.kind == kind and it.node.name == full_name:
                return self.createIndex(it.row, 0, it.id)
        return QModelIndex()

    # -- QAbstractItemModel ------------------------------------------------------------

    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if column < 0 or column >= len(COLUMNS):
            return QModelIndex()
        siblings = self._children_of(parent)
        if not 0 <= row < len(siblings):
            return QModelIndex()
        return self.createIndex(row, column, siblings[row].id)

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        it = self.item(index)
        if it is None or it.parent is None:
            return QModelIndex()
        return self.createIndex(it.parent.row, 0, it.parent.id)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._children_of(parent))

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        return self.rowCount(parent) > 0

    def _children_of(self, parent: QModelIndex) -> list[_Item]:
        if not parent.isValid():
            return self._top
        return self._items[parent.internalId()].children

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if self._editable and index.column() == COL_NAME and self._checkable(self.item(index)):
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    @staticmethod
    def _checkable(it: _Item | None) -> bool:
        return it is not None and it.kind == "module" and it.node.total_params > 0

    @staticmethod
    def check_state(node: ModuleNode) -> Qt.CheckState:
        if node.trainable_params == node.total_params:
            return Qt.CheckState.Checked
        return Qt.CheckState.Unchecked if node.trainable_params == 0 else Qt.CheckState.PartiallyChecked

    def setData(self, index: QModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        it = self.item(index)
        if role != Qt.ItemDataRole.CheckStateRole or not self._editable or not self._checkable(it):
            return False
        state = value if isinstance(value, Qt.CheckState) else Qt.CheckState(int(value))
        self.trainToggled.emit(it.node.name, state != Qt.CheckState.Unchecked)
        return True

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section == COL_PARAMS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        it = self.item(index)
        if it is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(it, index.column())
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == COL_NAME and self._checkable(it):
            return self.check_state(it.node)
        if role == Qt.ItemDataRole.ForegroundRole and self._frozen(it):
            return QColor(FROZEN_RGB)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = self._tooltip(it)
            if index.column() == COL_NAME and self._checkable(it):
                tip += "\n\n" + (TRAIN_TIP if self._editable else f"{TRAIN_TIP}\n{BUSY_TIP}")
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == COL_PARAMS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and it.kind == "param" and index.column() == COL_NAME:
            font = QFont()
            font.setItalic(True)
            return font
        if role == NODE_ROLE:
            return it.node
        if role == KIND_ROLE:
            return it.kind
        if role == FULLNAME_ROLE:
            return it.node.name
        return None

    @staticmethod
    def _frozen(it: _Item) -> bool:
        if it.kind == "param":
            return not it.node.trainable
        return it.node.total_params > 0 and it.node.trainable_params == 0

    @staticmethod
    def _display(it: _Item, column: int) -> str:
        if it.kind == "module":
            node: ModuleNode = it.node
            if column == COL_NAME:
                return node.local_name
            if column == COL_TYPE:
                return node.type_name
            if column == COL_OUTPUT:
                return _shape_text(node.output_shape)
            if column == COL_PARAMS:
                return f"{node.total_params:,}"
            if column == COL_DETAILS:
                return " · ".join(t for t in (frozen_text(node), _hparams_text(node)) if t)
            return ""
        p: ParamRow = it.node
        if column == COL_NAME:  # the rows above say whose it is; the full name is in the tooltip
            return p.local_name
        if column == COL_TYPE:
            return "Parameter"
        if column == COL_PARAMS:
            return f"{p.count:,}"
        if column == COL_DETAILS:
            return f"{list(p.shape)}, {'trainable' if p.trainable else 'frozen'}"
        return ""

    @staticmethod
    def _tooltip(it: _Item) -> str:
        if it.kind == "module":
            node: ModuleNode = it.node
            title = f"{node.name or node.local_name}: {node.type_name}"
            lines = [title]
            if node.hparams:
                lines.append(_hparams_text(node, sep="\n"))
            if node.output_shape:
                lines.append(f"output shape: {_shape_text(node.output_shape)}")
            lines.append(f"parameters: {node.total_params:,} ({node.trainable_params:,} trainable)")
            return "\n".join(lines)
        p: ParamRow = it.node
        return (f"{p.name}\nshape {list(p.shape)}, {p.count:,} values\n"
                f"{'trainable (requires_grad=True)' if p.trainable else 'frozen (requires_grad=False)'}")
