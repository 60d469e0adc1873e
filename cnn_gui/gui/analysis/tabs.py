"""The analysis tabs and their links: feature maps, test set, explain, robustness, embedding.

:class:`AnalysisTabs` builds the views, adds them to the window's tab widget and links
them: a confusion cell's image, a dot of the embedding or the drawing on the canvas
goes to Feature maps, Explain and Robustness; new weights reach every view at once, with
the words that say which weights they are (:meth:`set_weights`).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QTabWidget

from cnn_gui.core.analysis.predictor import Predictor

from cnn_gui.gui.analysis.confusion_view import ConfusionView
from cnn_gui.gui.analysis.embedding_view import EmbeddingView
from cnn_gui.gui.analysis.explain_view import ExplainView
from cnn_gui.gui.analysis.feature_maps_view import FeatureMapsView
from cnn_gui.gui.analysis.layer_view import LayerView
from cnn_gui.gui.analysis.probes_view import ProbesView

CANVAS_TEXT = "the drawing on the canvas"


class AnalysisTabs(QObject):
    def __init__(self, tabs: QTabWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tabs = tabs
        self.feature_maps = FeatureMapsView()
        self.confusion = ConfusionView()
        self.explain = ExplainView()
        self.probes = ProbesView()
        self.embedding = EmbeddingView()
        self.layer = LayerView()
        for widget, title, tip in (
                (self.feature_maps, "Maps", "Feature maps: what each filter of a layer makes of the digit on the canvas"),
                (self.confusion, "Test set", "Confusion matrix and misclassified test images of the current weights"),
                (self.explain, "Explain", "Why did it say that? Which pixels pushed the answer up or down"),
                (self.probes, "Robustness", "Does the answer survive a shift, a turn, thicker strokes, noise?"),
                (self.embedding, "Embedding", "The test set as the network sees it, and your drawing among it"),
                (self.layer, "Layer", "The layer selected in the tree: its kernels and maps; the network run up to a block")):
            tabs.setTabToolTip(tabs.addTab(widget, title), tip)
        self.confusion.sampleChosen.connect(self.show_image)
        self.embedding.imageChosen.connect(self.show_image)

    @property
    def views(self):
        return (self.feature_maps, self.explain, self.probes, self.embedding, self.layer)

    def set_weights(self, snapshot: Predictor | None, input_shape, dataset: str, data, label: str) -> None:
        """New weights (or None): every view gets them and says which they are."""
        shape = tuple(input_shape)
        for view in self.views:
            view.set_predictor(snapshot, shape)
        self.confusion.set_source(snapshot, dataset, data, input_shape=shape)
        self.embedding.set_dataset(dataset, data)
        self.set_weights_label(label)

    def set_weights_label(self, text: str) -> None:
        text = text.removeprefix("Weights: ")  # the views say "Weights: " themselves
        for view in (self.explain, self.probes, self.embedding):
            view.set_weights_label(text)

    @Slot(object)
    def set_canvas_image(self, image, text: str | None = None) -> None:
        """The canvas's input, prepared as the weights read images (a drawing or an image file
        opened on the canvas panel; None: cleared): live in every view that reads it.
        ``text`` names it ("photo.png, opened on the canvas"); None: the drawing."""
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
        structure.layerSelected.connect(lambda name: self.layer.set_layer(name, structure.module_for(name)))
        structure.runUpToRequested.connect(lambda name: (self.layer.run_up_to(name), self.tabs.setCurrentWidget(self.layer)))
        structure.convLayersRequested.connect(lambda: (self.layer.run_conv_layers(), self.tabs.setCurrentWidget(self.layer)))

    def set_blocked(self, blocked: bool) -> None:
        self.confusion.set_blocked(blocked)
        self.embedding.set_blocked(blocked)

    def shutdown(self, timeout: float) -> bool:
        ok = True
        for view in (self.confusion, self.explain, self.probes, self.embedding):
            ok = view.shutdown(timeout) and ok
        return ok
