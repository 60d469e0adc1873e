"""The model's structure as a tree: the left panel of the main window.

* :class:`StructureModel` is a ``QAbstractItemModel`` over a core
  :class:`~cnn_gui.core.model.structure.ModuleNode` tree; the only thing it lets a user change
  is the *Train* tick of a module row (:attr:`StructureModel.trainToggled`). The model itself is the one top-level
  row (named after its class, full name ``""``), so the rows mirror ``named_modules()``;
  under each module come first its own parameter rows (full names as
  ``named_parameters()`` gives them), then its child modules. A depth-first walk therefore
  meets the parameters in exactly ``named_parameters()`` order.
* :class:`StructureFilterProxy` filters by module type ("all conv layers") and by text.
* :class:`StructurePanel` is the panel: model chooser, type filter, search box, the tree,
  parameter totals, and the tutorial's operations (initialise parameters; show the first
  two layers / all conv layers as the tutorial's ``print()`` would; run the network up
  to a block, or its conv layers alone, on the current image). Selecting a module emits
  ``layerSelected(name)`` (for :class:`~cnn_gui.gui.analysis.layer_view.LayerView`); unticking a
  module's *Train* box freezes its parameters in the live model (``trainableChanged``).

The panel never builds a tree itself: the main window builds it with
``build_tree(model, input_shape)`` and passes it to :meth:`StructurePanel.show_tree`.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyledItemDelegate,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)
from torch import nn

from cnn_gui.core.formatting import shape_text as _shape_text
from cnn_gui.core.model.models import MODELS
from cnn_gui.core.model.structure import (
    HPARAM_HELP,
    INIT_SCHEMES,
    ModuleNode,
    ParamRow,
    extract_by_type,
    filter_by_type,
    first_children,
    module_types,
    refresh_trainable,
    set_trainable,
)

# Custom roles: the raw data behind a row, for the filter and for tests.
NODE_ROLE = Qt.ItemDataRole.UserRole + 1  # the ModuleNode or ParamRow
KIND_ROLE = Qt.ItemDataRole.UserRole + 2  # "module" or "param"
FULLNAME_ROLE = Qt.ItemDataRole.UserRole + 3  # named_modules() / named_parameters() name
MODULE_TYPE_ROLE = Qt.ItemDataRole.UserRole + 4  # the module's type; a parameter's owning module's type

COLUMNS = ("Name", "Type", "Output", "Params", "Details")  # short headers: the panel is narrow
COL_NAME, COL_TYPE, COL_OUTPUT, COL_PARAMS, COL_DETAILS = range(len(COLUMNS))
_HEADER_TIPS = (
    ("Module name as named_children() gives it; parameters by their full named_parameters() name.\n"
     "The box before a module is Train: untick it to freeze the module's parameters (requires_grad=False)"),
    "Module class, or 'Parameter'",
    "Output shape: of one sample (C x H x W), from a forward pass on a zero input",
    "Parameters: count of a module's own plus all its children's",
    "Constructor arguments of a module (after what of it is frozen); shape and trainable/frozen of a parameter",
)

ALL_TYPES = "All types"
TYPE_FILTER_TIP = "Show only modules of one type (the tutorial's \"all conv layers\")"
USER_MODEL_TEXT = "Your own model from a .py file…"
_USER_MODEL_DATA = "\0user-model"  # item data of the last combo entry; never a model name
SEARCH_PLACEHOLDER = "Search modules and parameters"
DETAILS_HINT = ("Select a module to see its hyper-parameters and what each one means, "
                "and its kernels and feature maps. Untick a module to freeze it.")
TRAIN_TIP = "Train: ticked = its parameters learn; unticked = frozen (requires_grad=False), BatchNorm statistics too"
BUSY_TIP = "Training: stop it to freeze or unfreeze a module"
FROZEN_RGB = "#777777"  # frozen rows' text: still readable, clearly not like the others
RUN_UP_TO_TEXT = "Run the network up to {name}"
RUN_UP_TO_IDLE = "Run the network up to the selected block"
RUN_UP_TO_TIP = ("nn.Sequential(*list(model.children())[:k]) on the current image: "
                 "its structure, output shape and maps (select one of the model's direct children)")
RUN_CONVS_TEXT = "Run all conv layers on the image"
RUN_CONVS_TIP = "The tutorial's 'extract all conv layers' as one Sequential, run on the current image"
_CLASS_RE = re.compile(r"^\s*class\s+(\w+)\s*\(.*Module", re.MULTILINE)


NAME_MIN, NAME_MAX = 112, 170  # the Name column's width (tick box and indent included): elided below its contents
DETAILS_MIN = 24  # the Details column gets what is left, at least this much


def _hparams_text(node: ModuleNode, sep: str = ", ") -> str:
    if set(node.hparams) == {"repr"}:
        return node.hparams["repr"]
    return sep.join(f"{k}={v}" for k, v in node.hparams.items())


def _frozen_text(node: ModuleNode) -> str:
    """"frozen", "1,024 of 2,080 trainable", or "" when all of it trains (or it has nothing)."""
    if node.trainable_params == node.total_params:
        return ""
    if node.trainable_params == 0:
        return "frozen"
    return f"{node.trainable_params:,} of {node.total_params:,} trainable"


def outer_frozen(tree: ModuleNode) -> list[str]:
    """The outermost modules of ``tree`` whose parameters are all frozen ("" = the whole model)."""
    out: list[str] = []

    def visit(node: ModuleNode) -> None:
        if node.total_params and not node.trainable_params:
            out.append(node.name)
            return
        for child in node.children:
            visit(child)

    visit(tree)
    return out


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

    def set_tree(self, tree: ModuleNode | None) -> None:
        self.beginResetModel()
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
        if role == MODULE_TYPE_ROLE:
            return it.owner.type_name
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
                return " · ".join(t for t in (_frozen_text(node), _hparams_text(node)) if t)
            return ""
        p: ParamRow = it.node
        if column == COL_NAME:
            return p.name
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


class StructureFilterProxy(QSortFilterProxyModel):
    """Module-type filter and text search, both at once; matching rows keep their ancestors.

    Type filter: modules of that type and their parameter rows (parameters of other
    modules are hidden). Search: rows whose name, full name or type contains the text
    (case-insensitive); a parameter row also matches when its module does.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self._type: str | None = None
        self._text = ""

    @property
    def type_filter(self) -> str | None:
        return self._type

    @property
    def search_text(self) -> str:
        return self._text

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

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self.is_active():
            return True
        src = self.sourceModel()
        it = src.item(src.index(source_row, 0, source_parent)) if isinstance(src, StructureModel) else None
        if it is None:
            return True
        if self._type is not None and it.owner.type_name != self._type:
            return False
        if self._text:
            t = self._text
            owner = it.owner
            owner_hit = (t in owner.name.lower() or t in owner.local_name.lower() or t in owner.type_name.lower())
            if it.kind == "module":
                return owner_hit
            return owner_hit or t in it.node.name.lower() or t in "parameter"
        return True


class _ElideRightDelegate(QStyledItemDelegate):
    """Constructor arguments read from the left: "kernel_size=(5, 5), stride=…"."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt's name)
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class CodeDialog(QDialog):
    """Read-only text in a monospace font: what the tutorial's print() shows."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text_edit = QPlainTextEdit(text)
        self.text_edit.setReadOnly(True)
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_edit)
        layout.addWidget(buttons)
        self.resize(640, 480)


class StructurePanel(QWidget):
    """Model chooser, filters, the module/parameter tree, totals and the tutorial's tools."""

    modelRequested = Signal(str)  # a registry name, or "path/to/file.py:ClassName"
    initRequested = Signal(str)  # one of INIT_SCHEMES
    layerSelected = Signal(str)  # the selected module's full name; "" for none, a parameter or the model
    trainableChanged = Signal()  # a module was frozen or unfrozen in the live model
    runUpToRequested = Signal(str)  # run the network up to this direct child of the model
    convLayersRequested = Signal()  # run the tutorial's "all conv layers" Sequential

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tree: ModuleNode | None = None
        self._live_model: nn.Module | None = None  # the 'Show as code' texts, freezing, module_for()
        self._busy = False
        self._layer = ""  # the last layerSelected name

        # Model chooser
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for name, spec in MODELS.items():
            self.model_combo.addItem(spec.title, name)
            self.model_combo.setItemData(self.model_combo.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.addItem(USER_MODEL_TEXT, _USER_MODEL_DATA)
        self.model_combo.setItemData(self.model_combo.count() - 1,
                                     "Load an nn.Module subclass from your own Python file", Qt.ItemDataRole.ToolTipRole)
        self._model_index = 0
        self.model_combo.currentIndexChanged.connect(self._on_model_index)
        self.model_combo.currentIndexChanged.connect(self._update_model_tip)
        self._fit_popup(self.model_combo)
        self._update_model_tip()

        # Filters
        self.type_combo = QComboBox()
        self.type_combo.addItem(ALL_TYPES, None)
        self.type_combo.setToolTip(TYPE_FILTER_TIP)
        # A user's module types can have long names: elided here, whole in the popup.
        self.type_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.type_combo.setMinimumContentsLength(11)
        self.type_combo.currentIndexChanged.connect(self._on_type_index)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search)

        # Tree
        self.model = StructureModel(self)
        self.proxy = StructureFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.tree_view = QTreeView()
        self.tree_view.setModel(self.proxy)
        self.tree_view.setAlternatingRowColors(True)
        self.tree_view.setUniformRowHeights(True)
        self.tree_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree_view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree_view.setIndentation(14)
        self.tree_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        # The stretched last column never gets narrower than its size when it began to
        # stretch: start it at DETAILS_MIN, or it would keep 100 px and scroll sideways.
        self.tree_view.header().resizeSection(COL_DETAILS, DETAILS_MIN)
        self.tree_view.header().setStretchLastSection(True)
        self.tree_view.setItemDelegateForColumn(COL_DETAILS, _ElideRightDelegate(self.tree_view))
        self.tree_view.viewport().installEventFilter(self)
        self._content_widths: list[int] | None = None  # what the rows shown so far need (_fit_columns)
        self._sizing_columns = False
        self._user_sized = False  # a column was resized by hand: leave them alone
        self.tree_view.header().sectionResized.connect(self._on_section_resized)
        self.tree_view.expanded.connect(self._fit_columns)

        # The selected module's hyper-parameters with what each means (the tutorial's tables).
        self.details_label = QLabel(DETAILS_HINT)
        self.details_label.setWordWrap(True)
        self.details_label.setTextFormat(Qt.TextFormat.RichText)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details_label.setStyleSheet("QLabel { background: palette(base); padding: 4px; }")
        self.details_scroll = QScrollArea()
        self.details_scroll.setWidget(self.details_label)
        self.details_scroll.setWidgetResizable(True)
        self.details_scroll.setMinimumHeight(60)
        self.tree_view.setMinimumHeight(120)
        self.tree_view.selectionModel().currentChanged.connect(self._on_current)
        self.model.trainToggled.connect(self._on_train_toggled)
        self.tree_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree_view.customContextMenuRequested.connect(self._on_context_menu)
        # The user moves the border between the tree and the details; neither collapses.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.tree_view)
        self.splitter.addWidget(self.details_scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([360, 190])

        self.totals_label = QLabel("No model loaded")
        self.totals_label.setWordWrap(True)
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Tutorial operations
        self.init_button = QPushButton("Initialise parameters…")
        self.init_button.setToolTip("Re-initialise the Conv2d/Linear weights with one of: " + ", ".join(INIT_SCHEMES))
        self.init_button.clicked.connect(self._on_init)
        self.code_button = QToolButton()
        self.code_button.setText("Extract")
        self.code_button.setToolTip("The tutorial's extractions: as code, or run on the current image")
        self.code_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.code_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.code_button)
        self.first_layers_action = menu.addAction("First two layers: nn.Sequential(*list(model.children())[:2])")
        self.first_layers_action.triggered.connect(
            lambda: self.show_code("The first two layers", self.first_layers_text()))
        self.conv_layers_action = menu.addAction("All conv layers (extract_by_type)")
        self.conv_layers_action.triggered.connect(
            lambda: self.show_code("All conv layers", self.conv_layers_text()))
        menu.addSeparator()
        self.run_up_to_action = menu.addAction(RUN_UP_TO_IDLE)
        self.run_up_to_action.setToolTip(RUN_UP_TO_TIP)
        self.run_up_to_action.triggered.connect(self._request_run_up_to)
        self.run_convs_action = menu.addAction(RUN_CONVS_TEXT)
        self.run_convs_action.setToolTip(RUN_CONVS_TIP)
        self.run_convs_action.triggered.connect(self.convLayersRequested)
        menu.setToolTipsVisible(True)
        self.code_button.setMenu(menu)

        # Layout
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_combo, 1)
        filters = QHBoxLayout()
        filters.addWidget(self.type_combo)
        filters.addWidget(self.search_edit, 1)
        tools = QHBoxLayout()
        tools.addWidget(self.init_button)
        tools.addWidget(self.code_button)
        tools.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.totals_label)
        layout.addLayout(tools)
        self.totals_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._update_enabled()

    # -- details of the selected row ---------------------------------------------------

    def _on_current(self, current, _previous=None) -> None:
        self.details_label.setText(self.details_html(self.proxy.mapToSource(current)))
        self._update_run_action()
        self._emit_layer(self.selected_module_name() or "")

    def _emit_layer(self, name: str) -> None:
        if name != self._layer:
            self._layer = name
            self.layerSelected.emit(name)

    def details_html(self, index) -> str:
        """The selected module's hyper-parameters and their meaning, or a parameter's facts."""
        row = self.model.item(index) if index.isValid() else None
        if row is None:
            return DETAILS_HINT
        item = row.node
        if isinstance(item, ParamRow):
            shape = " × ".join(map(str, item.shape)) or "scalar"
            state = "trainable" if item.trainable else "frozen (requires_grad=False)"
            return (f"<b>{escape(item.name)}</b><br>shape {shape} · {item.count:,} values · {state}")
        name = escape(item.name or item.local_name)
        out = "x".join(map(str, item.output_shape)) if item.output_shape else "–"
        frozen = _frozen_text(item)
        state = (f" · <b>{escape(frozen)}</b>" if frozen
                 else " · all trainable" if item.total_params else "")
        rows = "".join(
            f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td>"
            f"<td style='color:#555'>{escape(HPARAM_HELP.get(k, ''))}</td></tr>"
            for k, v in item.hparams.items())
        table = (f"<table cellspacing='0' cellpadding='2'>"
                 f"<tr><th align='left'>parameter</th><th align='left'>value</th>"
                 f"<th align='left'>meaning</th></tr>{rows}</table>") if rows else ""
        return (f"<b>{name}</b> · {escape(item.type_name)} · output {out} · "
                f"{item.total_params:,} parameters{state}{table}")

    # -- public API --------------------------------------------------------------------

    @property
    def tree(self) -> ModuleNode | None:
        return self._tree

    def show_tree(self, tree: ModuleNode | None, model: nn.Module | None = None) -> None:
        """Show a tree built by the caller; ``model`` is kept only for the 'Show as code' texts.

        The type filter and search text stay as they were where they still apply. The
        same tree shown again (new weights) keeps its selected row; another tree clears
        the selection and the details pane, which would otherwise describe a module of
        the previous model.
        """
        same = tree is not None and tree is self._tree
        keep = self._selected_row() if same else None
        if not same:
            self._user_sized = False  # a new model's columns are sized afresh
            self._content_widths = None
        if tree is not None and model is not None:
            refresh_trainable(tree, model)  # the tree shows what the model it goes with trains
        self._tree = tree
        self._live_model = model
        previous_type = self.proxy.type_filter
        self.type_combo.blockSignals(True)
        try:
            self.type_combo.clear()
            self.type_combo.addItem(ALL_TYPES, None)
            for t in module_types(tree) if tree is not None else []:
                self.type_combo.addItem(t, t)
            pos = self.type_combo.findData(previous_type) if previous_type else 0
            self.type_combo.setCurrentIndex(max(pos, 0))
        finally:
            self.type_combo.blockSignals(False)
        self._fit_popup(self.type_combo)
        self.type_combo.setToolTip(self.type_combo.currentText() + "\n" + TYPE_FILTER_TIP)
        self.proxy.set_type_filter(self.type_combo.currentData())
        self.model.set_tree(tree)
        self._apply_expansion()
        self._update_totals()
        self._update_enabled()
        self.model.set_editable(model is not None and not self._busy)
        self.details_label.setText(DETAILS_HINT)
        self._update_run_action()
        if keep is not None:
            self.select(*keep)
        if self.selected_module_name() is None:
            self._emit_layer("")

    def select(self, full_name: str, kind: str = "module") -> bool:
        """Select a module (or parameter) by its full name, as a click would; False if not shown."""
        index = self.proxy.mapFromSource(self.model.index_for_name(full_name, kind))
        if not index.isValid():
            return False
        self.tree_view.setCurrentIndex(index)
        self.tree_view.scrollTo(index)
        return True

    def selected_module_name(self) -> str | None:
        """The selected module's full name; None for none, a parameter, or the model itself."""
        row = self._selected_row()
        return row[0] if row is not None and row[1] == "module" and row[0] else None

    def module_for(self, name: str) -> nn.Module | None:
        """The live model's module ``name`` (the one being trained), or None."""
        if self._live_model is None or not name:
            return None
        try:
            return self._live_model.get_submodule(name)
        except AttributeError:
            return None

    def top_level_names(self) -> list[str]:
        """The model's direct children: where 'run the network up to here' applies."""
        return [c.name for c in self._tree.children] if self._tree is not None else []

    def set_busy(self, busy: bool) -> None:
        """While training runs the model belongs to the trainer: the Train boxes are read-only,
        and the model chooser and *Initialise parameters…* are off."""
        self._busy = busy
        self.model.set_editable(self._live_model is not None and not busy)
        self.model_combo.setEnabled(not busy)
        self._update_enabled()

    def set_trainable(self, name: str, trainable: bool) -> bool:
        """Freeze or unfreeze module ``name`` of the live model, as its Train box does;
        False (and nothing changed) without a live model or while training."""
        if self._live_model is None or self._tree is None or self._busy:
            return False
        set_trainable(self._live_model, name, trainable)
        refresh_trainable(self._tree, self._live_model)
        self.model.refresh()
        self._update_totals()
        self._fit_columns()
        self.details_label.setText(self.details_html(self.proxy.mapToSource(self.tree_view.currentIndex())))
        self.trainableChanged.emit()
        return True

    def _selected_row(self) -> tuple[str, str] | None:
        item = self.model.item(self.proxy.mapToSource(self.tree_view.currentIndex()))
        return None if item is None else (item.node.name, item.kind)

    def set_current_model(self, name: str, title: str) -> None:
        """Select (adding it if new) the entry for ``name`` without emitting modelRequested."""
        pos = self.model_combo.findData(name)
        self.model_combo.blockSignals(True)
        try:
            if pos < 0:
                pos = self.model_combo.count() - 1  # before "Your own model…"
                self.model_combo.insertItem(pos, title, name)
                self.model_combo.setItemData(pos, name, Qt.ItemDataRole.ToolTipRole)
            else:
                self.model_combo.setItemText(pos, title)
            self.model_combo.setCurrentIndex(pos)
            self._model_index = pos
        finally:
            self.model_combo.blockSignals(False)
        self._fit_popup(self.model_combo)
        self._update_model_tip()

    def current_model_name(self) -> str | None:
        data = self.model_combo.currentData()
        return None if data == _USER_MODEL_DATA else data

    def set_type_filter(self, type_name: str | None) -> None:
        """Show only modules of ``type_name`` ("Conv2d"); None, "" or "All types" for all.

        A type the current tree does not have falls back to all types.
        """
        pos = self.type_combo.findData(type_name) if type_name and type_name != ALL_TYPES else 0
        self.type_combo.setCurrentIndex(max(pos, 0))

    def set_search(self, text: str) -> None:
        self.search_edit.setText(text)

    # -- overridable prompts (tests replace these) ----------------------------------------

    def ask_user_model(self) -> str | None:
        """Ask for a .py file and a class name; "path/to/file.py:ClassName" or None."""
        path, _ = QFileDialog.getOpenFileName(self, "Your own model", "", "Python files (*.py);;All files (*)")
        if not path:
            return None
        try:
            classes = _CLASS_RE.findall(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            classes = []
        label = f"Class in {Path(path).name} (an nn.Module subclass):"
        if classes:
            name, ok = QInputDialog.getItem(self, "Your own model", label, classes, 0, True)
        else:
            name, ok = QInputDialog.getText(self, "Your own model", label)
        name = name.strip()
        return f"{path}:{name}" if ok and name else None

    def ask_init_scheme(self) -> str | None:
        scheme, ok = QInputDialog.getItem(
            self, "Initialise parameters",
            "Re-initialise Conv2d and Linear weights (biases to zero; 'default' is PyTorch's own):",
            list(INIT_SCHEMES), 0, False)
        return scheme if ok and scheme else None

    def show_code(self, title: str, text: str) -> None:
        CodeDialog(title, text, self).exec()

    # -- the tutorial's extractions, as text ---------------------------------------------

    def first_layers_text(self, n: int = 2) -> str:
        if self._live_model is None:
            return "No model loaded."
        return (f"# nn.Sequential(*list(model.children())[:{n}])\n"
                + repr(first_children(self._live_model, n)))

    def conv_layers_text(self) -> str:
        if self._live_model is None:
            return "No model loaded."
        convs = extract_by_type(self._live_model, nn.Conv2d)
        return (f"# All {len(convs)} Conv2d modules from named_modules(), keyed by full name\n"
                "# (the tutorial keys them by name.split('.')[1], which keeps only one)\n"
                + repr(convs))

    # -- internals -----------------------------------------------------------------------

    def _on_model_index(self, pos: int) -> None:
        data = self.model_combo.itemData(pos)
        if data == _USER_MODEL_DATA:
            # Go back to the current entry at once: the main window selects the new one
            # with set_current_model() once it has loaded.
            self.model_combo.blockSignals(True)
            self.model_combo.setCurrentIndex(self._model_index)
            self.model_combo.blockSignals(False)
            ref = self.ask_user_model()
            if ref:
                self.modelRequested.emit(ref)
            return
        if data is None:
            return
        self._model_index = pos
        self.modelRequested.emit(data)

    def _on_type_index(self, _pos: int) -> None:
        self.type_combo.setToolTip(self.type_combo.currentText() + "\n" + TYPE_FILTER_TIP)
        self.proxy.set_type_filter(self.type_combo.currentData())
        self._apply_expansion()
        self._update_totals()

    def _on_search(self, text: str) -> None:
        self.proxy.set_search_text(text)
        self._apply_expansion()

    def _on_train_toggled(self, name: str, trainable: bool) -> None:
        self.set_trainable(name, trainable)

    def _update_run_action(self) -> None:
        name = self.selected_module_name()
        ok = name in self.top_level_names()
        self.run_up_to_action.setEnabled(ok)
        self.run_up_to_action.setText(RUN_UP_TO_TEXT.format(name=name) if ok else RUN_UP_TO_IDLE)
        self.run_convs_action.setEnabled(self._tree is not None)

    def _request_run_up_to(self) -> None:
        name = self.selected_module_name()
        if name in self.top_level_names():
            self.runUpToRequested.emit(name)

    def context_menu_for(self, index) -> QMenu:
        """The tree's right-click menu for the row at ``index`` (a proxy index)."""
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        item = self.model.item(self.proxy.mapToSource(index)) if index.isValid() else None
        name = item.node.name if item is not None and item.kind == "module" else None
        if name in self.top_level_names():
            action = menu.addAction(RUN_UP_TO_TEXT.format(name=name))
            action.setToolTip(RUN_UP_TO_TIP)
            action.triggered.connect(lambda: self.runUpToRequested.emit(name))
        action = menu.addAction(RUN_CONVS_TEXT)
        action.setToolTip(RUN_CONVS_TIP)
        action.setEnabled(self._tree is not None)
        action.triggered.connect(self.convLayersRequested)
        if name is not None and item.node.total_params:
            menu.addSeparator()
            frozen = item.node.trainable_params == 0
            label = f"{'Unfreeze' if frozen else 'Freeze'} {name or 'the whole model'}"
            action = menu.addAction(label)
            action.setEnabled(self.model.editable)
            action.setToolTip(TRAIN_TIP if self.model.editable else BUSY_TIP)
            action.triggered.connect(lambda: self.set_trainable(name, frozen))
        return menu

    def _on_context_menu(self, pos) -> None:
        index = self.tree_view.indexAt(pos)
        if index.isValid():
            self.tree_view.setCurrentIndex(index)
        self.context_menu_for(index).exec(self.tree_view.viewport().mapToGlobal(pos))

    def _on_init(self) -> None:
        scheme = self.ask_init_scheme()
        if scheme:
            self.initRequested.emit(scheme)

    def _fit_columns(self) -> None:
        """Measure what the shown rows need in each column, then share the panel's width out
        (:meth:`_layout_columns`). Widths only grow while a tree is shown, so expanding and
        collapsing rows does not make the columns jump back and forth."""
        view = self.tree_view
        header = view.header()
        measured = [max(view.sizeHintForColumn(col), header.sectionSizeHint(col)) for col in range(len(COLUMNS))]
        if self._content_widths is not None:
            measured = [max(a, b) for a, b in zip(measured, self._content_widths)]
        self._content_widths = measured
        self._layout_columns()

    def _layout_columns(self) -> None:
        """Type, Output and Params whole; Name up to its contents (at most NAME_MAX, elided
        in the middle, "layer4…weight", when the panel is narrow); Details gets the rest.
        Only a panel narrower than Type + Output + Params + NAME_MIN scrolls sideways."""
        widths = self._content_widths
        if widths is None or self._user_sized:
            return
        header = self.tree_view.header()
        fixed = widths[COL_TYPE] + widths[COL_OUTPUT] + widths[COL_PARAMS]
        name = min(widths[COL_NAME], NAME_MAX)
        room = self.tree_view.viewport().width() - fixed - DETAILS_MIN
        name = max(min(name, room), min(NAME_MIN, widths[COL_NAME]))
        self._sizing_columns = True
        try:
            header.resizeSection(COL_NAME, name)
            for col in (COL_TYPE, COL_OUTPUT, COL_PARAMS):
                header.resizeSection(col, widths[col])
        finally:
            self._sizing_columns = False

    def _on_section_resized(self, section: int, _old: int, _new: int) -> None:
        if not self._sizing_columns and section != COL_DETAILS and self._content_widths is not None:
            self._user_sized = True

    def column_widths(self) -> list[int]:
        """The columns' widths as shown (for tests and the layout checks)."""
        header = self.tree_view.header()
        return [header.sectionSize(col) for col in range(len(COLUMNS))]

    def content_widths(self) -> list[int] | None:
        """What each column needs to show the rows shown so far whole, or None before a tree."""
        return None if self._content_widths is None else list(self._content_widths)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize and obj is self.tree_view.viewport():
            self._layout_columns()
        return super().eventFilter(obj, event)

    @staticmethod
    def _fit_popup(combo: QComboBox) -> None:
        """The popup lists every entry whole, however narrow the box."""
        fm = combo.fontMetrics()
        widest = max((fm.horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
        combo.view().setMinimumWidth(widest + 4 * fm.averageCharWidth())

    def _update_model_tip(self, *_args) -> None:
        tip = self.model_combo.currentData(Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setToolTip(f"{self.model_combo.currentText()}\n{tip}" if tip else "")

    def _apply_expansion(self) -> None:
        view = self.tree_view
        view.blockSignals(True)  # one measurement below, not one per expanded row
        try:
            if self.proxy.is_active():
                view.expandAll()
            else:
                view.collapseAll()
                root = self.proxy.index(0, 0)
                if root.isValid():
                    view.expand(root)
                    for r in range(self.proxy.rowCount(root)):
                        child = self.proxy.index(r, 0, root)
                        if self.proxy.hasChildren(child) and child.data(KIND_ROLE) == "module":
                            view.expand(child)
        finally:
            view.blockSignals(False)
        self._fit_columns()

    def _update_totals(self) -> None:
        tree = self._tree
        if tree is None:
            self.totals_label.setText("No model loaded")
            return
        text = f"Parameters: {tree.total_params:,} total · {tree.trainable_params:,} trainable"
        frozen = outer_frozen(tree)
        if frozen:
            text += " · frozen: " + (", ".join(frozen) if frozen != [""] else "everything")
        type_name = self.proxy.type_filter
        if type_name:
            matches = filter_by_type(tree, type_name)
            names = [m.name for m in matches]
            # Count nested matches once (a Sequential inside a Sequential).
            outer = [m for m in matches if not any(m.name.startswith(o + ".") for o in names)]
            count = sum(m.total_params for m in outer)
            plural = "" if len(matches) == 1 else "s"
            text += f" · {len(matches)} {type_name} module{plural}, {count:,} parameters"
        self.totals_label.setText(text)

    def _update_enabled(self) -> None:
        self.init_button.setEnabled(self._tree is not None and not self._busy)
        self.code_button.setEnabled(self._live_model is not None)
