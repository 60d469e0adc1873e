"""The analysis tabs and their links: feature maps, test set, explain, robustness, embedding.

:class:`AnalysisTabs` builds the views, adds them to the window's tab widget and links
them: a confusion cell's image, a dot of the embedding or the drawing on the canvas
goes to Feature maps, Explain and Robustness; new weights reach every view at once, with
the words that say which weights they are (:meth:`set_weights`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QTabWidget, QWidget

from cnn_gui.core.analysis.predictor import Predictor

if TYPE_CHECKING:
    from cnn_gui.gui.analysis.confusion_view import ConfusionView
    from cnn_gui.gui.analysis.embedding_view import EmbeddingView
    from cnn_gui.gui.analysis.explain_view import ExplainView
    from cnn_gui.gui.analysis.feature_maps_view import FeatureMapsView
    from cnn_gui.gui.analysis.layer_view import LayerView
    from cnn_gui.gui.analysis.probes_view import ProbesView

CANVAS_TEXT = "the drawing on the canvas"

# (attribute, tab title, tooltip), in the tabs' order.
TABS = (
    ("feature_maps", "Maps", "Feature maps: what each filter of a layer makes of the digit on the canvas"),
    ("confusion", "Test set", "Confusion matrix and misclassified test images of the current weights"),
    ("explain", "Explain", "Why did it say that? Which pixels pushed the answer up or down"),
    ("probes", "Robustness", "Does the answer survive a shift, a turn, thicker strokes, noise?"),
    ("embedding", "Embedding", "The test set as the network sees it, and your drawing among it"),
    ("layer", "Layer", "The layer selected in the tree: its kernels and maps; the network run up to a block"),
)


def replace_page(tabs: QTabWidget, placeholder: QWidget, page: QWidget) -> None:
    """``page`` where ``placeholder`` was (same title and tooltip; still in front if it was)."""
    index = tabs.indexOf(placeholder)
    current = tabs.currentIndex() == index
    tabs.insertTab(index, page, tabs.tabText(index))  # first, so no other tab comes to the front meanwhile
    tabs.setTabToolTip(index, tabs.tabToolTip(index + 1))
    if current:
        tabs.setCurrentIndex(index)
    tabs.removeTab(index + 1)
    placeholder.deleteLater()


class AnalysisTabs(QObject):
    """The six analysis views, in six tabs. ``later=True``: the tabs are there at once (empty
    pages with their names) and the views are built by :meth:`build`, which ``cnn-gui`` calls
    once the window is on screen (~0.1 s of imports and widgets off its start-up,
    ``benchmarks/startup.py``); what the window said meanwhile (weights, the canvas's input,
    a run training, the tree's links) is kept and handed to them then. Reading a view
    (``analysis.explain``) builds them first, so nothing can see them missing.

    Signals: ``testImageChosen(image, text, true class)``: a test image clicked in the
    Test set or the Embedding (the watch list pins it).
    """

    testImageChosen = Signal(object, str, str)

    def __init__(self, tabs: QTabWidget, parent: QObject | None = None, *, later: bool = False) -> None:
        super().__init__(parent)
        self.tabs = tabs
        self._views: dict[str, QWidget] | None = None
        self._placeholders: dict[str, QWidget] = {}
        self._weights: tuple | None = None  # set_weights' arguments, until built
        self._label: str | None = None
        self._canvas: tuple | None = None  # set_canvas_image's arguments
        self._blocked = False
        self._structure = None
        for name, title, tip in TABS:
            self._placeholders[name] = page = QWidget()
            tabs.setTabToolTip(tabs.addTab(page, title), tip)
        if not later:
            self.build()

    @property
    def built(self) -> bool:
        return self._views is not None

    def build(self) -> None:
        """The views, in place of the empty pages, given what they missed (once)."""
        if self._views is not None:
            return
        # Imported here: with later=True they load after the window is shown.
        from cnn_gui.gui.analysis.confusion_view import ConfusionView
        from cnn_gui.gui.analysis.embedding_view import EmbeddingView
        from cnn_gui.gui.analysis.explain_view import ExplainView
        from cnn_gui.gui.analysis.feature_maps_view import FeatureMapsView
        from cnn_gui.gui.analysis.layer_view import LayerView
        from cnn_gui.gui.analysis.probes_view import ProbesView

        self._views = views = {"feature_maps": FeatureMapsView(), "confusion": ConfusionView(),
                               "explain": ExplainView(), "probes": ProbesView(), "embedding": EmbeddingView(),
                               "layer": LayerView()}
        for name, placeholder in self._placeholders.items():
            replace_page(self.tabs, placeholder, views[name])
        self._placeholders = {}
        self.confusion.sampleChosen.connect(self.show_image)
        self.embedding.imageChosen.connect(self.show_image)
        self.confusion.testImageChosen.connect(self.testImageChosen)
        self.embedding.testImageChosen.connect(self.testImageChosen)
        if self._structure is not None:
            self._connect_tree(self._structure)
            chosen = self._structure.selected_module_name()
            if chosen:  # a row selected before the build: the tree will not say it again
                self.layer.set_layer(chosen, self._structure.module_for(chosen))
        if self._weights is not None:
            self.set_weights(*self._weights)
        if self._label is not None:
            self.set_weights_label(self._label)
        if self._canvas is not None:
            self.set_canvas_image(*self._canvas)
        if self._blocked:
            self.set_blocked(True)
        self._weights = self._canvas = self._label = None

    def _view(self, name: str):
        self.build()
        return self._views[name]

    feature_maps: "FeatureMapsView" = property(lambda self: self._view("feature_maps"))
    confusion: "ConfusionView" = property(lambda self: self._view("confusion"))
    explain: "ExplainView" = property(lambda self: self._view("explain"))
    probes: "ProbesView" = property(lambda self: self._view("probes"))
    embedding: "EmbeddingView" = property(lambda self: self._view("embedding"))
    layer: "LayerView" = property(lambda self: self._view("layer"))

    @property
    def views(self):
        return (self.feature_maps, self.explain, self.probes, self.embedding, self.layer)

    def set_weights(self, snapshot: Predictor | None, input_shape, dataset: str, data, label: str) -> None:
        """New weights (or None): every view gets them and says which they are."""
        if not self.built:
            self._weights, self._label = (snapshot, input_shape, dataset, data, label), None
            return
        shape = tuple(input_shape)
        for view in self.views:
            view.set_predictor(snapshot, shape)
        self.confusion.set_source(snapshot, dataset, data, input_shape=shape)
        self.embedding.set_dataset(dataset, data)
        self.set_weights_label(label)

    def set_weights_label(self, text: str) -> None:
        if not self.built:
            self._label = text
            return
        text = text.removeprefix("Weights: ")  # the views say "Weights: " themselves
        for view in (self.explain, self.probes, self.embedding):
            view.set_weights_label(text)

    @Slot(object)
    def set_canvas_image(self, image, text: str | None = None) -> None:
        """The canvas's input, prepared as the weights read images (a drawing or an image file
        opened on the canvas panel; None: cleared): live in every view that reads it.
        ``text`` names it ("photo.png, opened on the canvas"); None: the drawing."""
        if not self.built:
            self._canvas = (image, text)
            return
        text = text or CANVAS_TEXT
        self.feature_maps.set_input(image, text)
        self.layer.set_image(image, text)
        self.explain.set_image(image, text)
        self.probes.set_image(image, text)
        if text == CANVAS_TEXT:
            self.embedding.set_live_image(image)
        else:
            self.embedding.set_image(image, text)

    @Slot(object, str)
    def show_image(self, image, text: str) -> None:
        """A test image chosen in the Test set or the Embedding: its maps, explanation, probes and
        its place in the embedding."""
        self.feature_maps.show_image(image, text)
        self.layer.set_image(image, text)
        self.explain.set_image(image, text)
        self.probes.set_image(image, text)
        self.embedding.set_image(image, text)  # the star marks it among its neighbours, until you draw again
        self.tabs.setCurrentWidget(self.explain)

    def connect_tree(self, structure) -> None:
        """The Network tree as the entry point to a layer: selecting, running up to a block."""
        self._structure = structure
        if self.built:
            self._connect_tree(structure)

    def _connect_tree(self, structure) -> None:
        structure.layerSelected.connect(lambda name: self.layer.set_layer(name, structure.module_for(name)))
        structure.runUpToRequested.connect(lambda name: (self.layer.run_up_to(name), self.tabs.setCurrentWidget(self.layer)))
        structure.convLayersRequested.connect(lambda: (self.layer.run_conv_layers(), self.tabs.setCurrentWidget(self.layer)))

    def set_blocked(self, blocked: bool) -> None:
        self._blocked = blocked
        if not self.built:
            return
        self.confusion.set_blocked(blocked)
        self.embedding.set_blocked(blocked)

    def shutdown(self, timeout: float) -> bool:
        if not self.built:
            return True
        ok = True
        for view in (self.confusion, self.explain, self.probes, self.embedding):
            ok = view.shutdown(timeout) and ok
        return ok
