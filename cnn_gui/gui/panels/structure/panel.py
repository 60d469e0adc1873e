"""The *Network* panel, the left of the main window: a model's modules and parameters as a tree.

:class:`StructurePanel` holds the model chooser, type filter, search box, the tree,
parameter totals, and the tutorial's operations (initialise parameters; show the first
two layers / all conv layers as the tutorial's ``print()`` would; run the network up
to a block, or its conv layers alone, on the current image). Selecting a module emits
``layerSelected(name)`` (for :class:`~cnn_gui.gui.analysis.layer_view.LayerView`); unticking a
module's *Train* box freezes its parameters in the live model (``trainableChanged``).

The panel never builds a tree itself: the main window builds it with
``build_tree(model, input_shape)`` and passes it to :meth:`StructurePanel.show_tree`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)
from torch import nn

from cnn_gui.core.model.structure import (
    INIT_SCHEMES,
    ModuleNode,
    extract_by_type,
    first_children,
    module_types,
    refresh_trainable,
    set_trainable,
)
from cnn_gui.gui.panels.structure import dialogs
from cnn_gui.gui.panels.structure.choosers import ModelCombo, TypeCombo
from cnn_gui.gui.panels.structure.columns import ColumnFitter
from cnn_gui.gui.panels.structure.details import DETAILS_HINT, details_html, totals_text
from cnn_gui.gui.panels.structure.filter_proxy import StructureFilterProxy
from cnn_gui.gui.panels.structure.tree_model import BUSY_TIP, KIND_ROLE, TRAIN_TIP, StructureModel
from cnn_gui.gui.panels.structure.view_state import TreeViewState, same_rows

SEARCH_PLACEHOLDER = "Search modules and parameters"
RUN_UP_TO_TEXT = "Run the network up to {name}"
RUN_UP_TO_IDLE = "Run the network up to the selected block"
RUN_UP_TO_TIP = ("nn.Sequential(*list(model.children())[:k]) on the current image: "
                 "its structure, output shape and maps (select one of the model's direct children)")
RUN_CONVS_TEXT = "Run all conv layers on the image"
RUN_CONVS_TIP = "The tutorial's 'extract all conv layers' as one Sequential, run on the current image"


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
        self._loading = ""  # what set_loading() says while a model loads
        self._layer: str | None = ""  # the last layerSelected name (None: emit the next one even if the same)
        self._build_choosers()
        self._build_tree_view()
        self._build_details()
        self._build_tools()
        self._build_layout()
        self._update_enabled()

    # -- construction --------------------------------------------------------------------

    def _build_choosers(self) -> None:
        self.model_combo = ModelCombo()
        self.model_combo.modelChosen.connect(self.modelRequested)
        self.model_combo.userModelWanted.connect(self._on_user_model_wanted)
        self.type_combo = TypeCombo()
        self.type_combo.currentIndexChanged.connect(self._on_type_index)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search)

    def _build_tree_view(self) -> None:
        self.model = StructureModel(self)
        self.proxy = StructureFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        view = self.tree_view = QTreeView()
        view.setModel(self.proxy)
        view.setAlternatingRowColors(True)
        view.setUniformRowHeights(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setIndentation(10)
        view.setRootIsDecorated(False)  # the model's own row is always open: its arrow would cost every row 12 px
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        view.setMinimumHeight(120)
        self.columns = ColumnFitter(view)
        view.selectionModel().currentChanged.connect(self._on_current)
        self.model.trainToggled.connect(self.set_trainable)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._on_context_menu)

    def _build_details(self) -> None:
        # The selected module's hyper-parameters with what each means (the tutorial's tables).
        label = self.details_label = QLabel(DETAILS_HINT)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        label.setStyleSheet("QLabel { background: palette(base); padding: 4px; }")
        self.details_scroll = QScrollArea()
        self.details_scroll.setWidget(label)
        self.details_scroll.setWidgetResizable(True)
        self.details_scroll.setMinimumHeight(60)
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
        self.totals_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    def _build_tools(self) -> None:
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

    def _build_layout(self) -> None:
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
        layout.setContentsMargins(2, 6, 2, 6)  # the tree needs every pixel of a 1280-wide window
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.totals_label)
        layout.addLayout(tools)

    # -- details of the selected row ---------------------------------------------------

    def _on_current(self, current, _previous=None) -> None:
        self.details_label.setText(self._details_of(current))
        self._update_run_action()
        self._emit_layer(self.selected_module_name() or "")

    def _details_of(self, index) -> str:
        """The details pane's text for the row at ``index`` (a proxy index)."""
        item = self.model.item(self.proxy.mapToSource(index))
        return details_html(None if item is None else item.node)

    def _emit_layer(self, name: str) -> None:
        if name != self._layer:
            self._layer = name
            self.layerSelected.emit(name)

    # -- public API --------------------------------------------------------------------

    @property
    def tree(self) -> ModuleNode | None:
        return self._tree

    def show_tree(self, tree: ModuleNode | None, model: nn.Module | None = None) -> None:
        """Show a tree built by the caller; ``model`` is kept only for the 'Show as code' texts.

        The type filter and search text stay as they were where they still apply. A tree
        with the same rows (new weights: a run ended, a checkpoint of this network) keeps
        the selected row, the rows opened by hand, the scroll position and the columns'
        widths; another tree clears the selection and the details pane, which would
        otherwise describe a module of the previous model, and sizes its columns afresh.
        """
        same = same_rows(tree, self._tree)
        keep = self._selected_row() if same else None
        state = TreeViewState.of(self.tree_view) if same else None
        if not same:
            self.columns.reset()
        elif model is not self._live_model:
            self._layer = None  # the same row of other weights: layerSelected again, with the new module
        if tree is not None and model is not None:
            refresh_trainable(tree, model)  # the tree shows what the model it goes with trains
        self._tree = tree
        self._live_model = model
        self.type_combo.set_types(module_types(tree) if tree is not None else [], self.proxy.type_filter)
        self.proxy.set_type_filter(self.type_combo.currentData())
        self.model.set_tree(tree, editable=model is not None and not self._busy)
        self._apply_expansion(state)
        self._update_totals()
        self._update_enabled()
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
        self.model_combo.setEnabled(not busy and not self._loading)
        self._update_enabled()

    @property
    def loading(self) -> str:
        """What the panel says while a model loads; "" when none does."""
        return self._loading

    def set_loading(self, text: str) -> None:
        """While a model loads (a user's file, off the GUI thread): ``text`` replaces the totals,
        and the model chooser and *Initialise parameters…* are off. "" when it is over."""
        self._loading = text
        self.model_combo.setEnabled(not self._busy and not text)
        self._update_totals()
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
        self.columns.fit()
        self.details_label.setText(self._details_of(self.tree_view.currentIndex()))
        self.trainableChanged.emit()
        return True

    def _selected_row(self) -> tuple[str, str] | None:
        item = self.model.item(self.proxy.mapToSource(self.tree_view.currentIndex()))
        return None if item is None else (item.node.name, item.kind)

    def set_current_model(self, name: str, title: str) -> None:
        """Select (adding it if new) the entry for ``name`` without emitting modelRequested."""
        self.model_combo.set_current_model(name, title)

    def current_model_name(self) -> str | None:
        return self.model_combo.current_model_name()

    def set_type_filter(self, type_name: str | None) -> None:
        """Show only modules of ``type_name`` ("Conv2d"); None, "" or "All types" for all.

        A type the current tree does not have falls back to all types.
        """
        self.type_combo.select(type_name)

    def set_search(self, text: str) -> None:
        self.search_edit.setText(text)

    def column_widths(self) -> list[int]:
        """The tree's columns' widths as shown (for tests and the layout checks)."""
        return self.columns.column_widths()

    def content_widths(self) -> list[int] | None:
        """What each column needs to show the rows shown so far whole, or None before a tree."""
        return self.columns.content_widths()

    # -- overridable prompts (tests replace these) ----------------------------------------

    def ask_user_model(self) -> str | None:
        """Ask for a .py file and a class name; "path/to/file.py:ClassName" or None."""
        return dialogs.ask_user_model(self)

    def ask_init_scheme(self) -> str | None:
        return dialogs.ask_init_scheme(self)

    def show_code(self, title: str, text: str) -> None:
        dialogs.CodeDialog(title, text, self).exec()

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

    def _on_user_model_wanted(self) -> None:
        ref = self.ask_user_model()
        if ref:
            self.modelRequested.emit(ref)

    def _on_type_index(self, _pos: int) -> None:
        self.proxy.set_type_filter(self.type_combo.currentData())
        self._apply_expansion()
        self._update_totals()

    def _on_search(self, text: str) -> None:
        self.proxy.set_search_text(text)
        self._apply_expansion()

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

    def _apply_expansion(self, state: TreeViewState | None = None) -> None:
        """Open the rows ``state`` had open, or by default: all of them while filtering,
        else the model and its direct children."""
        view = self.tree_view
        view.blockSignals(True)  # one measurement below, not one per expanded row
        try:
            if state is not None:
                state.restore(view)
            elif self.proxy.is_active():
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
        self.columns.fit()

    def _update_totals(self) -> None:
        self.totals_label.setText(self._loading or totals_text(self._tree, self.proxy.type_filter))

    def _update_enabled(self) -> None:
        self.init_button.setEnabled(self._tree is not None and not self._busy and not self._loading)
        self.code_button.setEnabled(self._live_model is not None)
