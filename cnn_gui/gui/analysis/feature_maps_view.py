"""The *Feature maps* tab: what each filter of a layer makes of the digit on the canvas.

It reads a frozen snapshot of the weights (the same :class:`Predictor` copy as the
canvas, never the model being trained) and the same 28x28 input the network reads -- or
a test image clicked in the *Test set* tab, until the canvas changes again. Models that
do not read the canvas (SimpleCNN's 3x32x32) show the maps of clicked test images. Pick a layer with
2-D outputs (a ``Conv2d``, its ``BatchNorm2d``, ``ReLU``, ``MaxPool2d`` or the block
holding them); each of its maps is shown scaled on its own, black = that map's weakest
response, white = its strongest. The forward pass (one image, serial, ~1-3 ms) runs on
the GUI thread, and only while the tab is visible.
"""

from __future__ import annotations

import numpy as np
from html import escape

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnn_gui.core.analysis.inspection import SpatialLayer, feature_maps, spatial_layers, tile_maps
from cnn_gui.core.errors import describe_line, one_line
from cnn_gui.core.analysis.predictor import Predictor

from cnn_gui.gui.analysis.tiled_maps import PAD, map_tooltip
from cnn_gui.gui.widgets.grid_image import GridImage
from cnn_gui.gui.widgets.live_refresh import LiveRefresh

CANVAS_INPUT = (1, 28, 28)
NO_MODEL_TEXT = "No weights to look into yet."
NO_TEST_IMAGE_TEXT = ("This model reads {shape} images, not the canvas: click a test image in the "
                      "Test set tab (after Compute) to see its feature maps.")
NO_DRAWING_TEXT = ("Draw a digit on the canvas (or click a test image in the Test set tab): "
                   "each filter's response to it appears here.")
CANVAS_SOURCE = "the drawing on the canvas"
LAYER_TIP = "Layers whose output is a stack of 2-D maps, in forward order"
LAYER_CHARS = 24  # the box's width in characters; longer layer labels elide (whole in the popup)


NAME_CHARS = 48  # longer layer names are cut in the middle in the caption (whole in the combo's tooltip)


def _breakable(name: str) -> str:
    """A module name for rich text that never widens the caption: cut in the middle past
    NAME_CHARS, and free to wrap after each "." and "_" (a zero-width space after each)."""
    if len(name) > NAME_CHARS:
        half = (NAME_CHARS - 1) // 2
        name = name[:half] + "…" + name[-half:]
    return escape(name, quote=False).replace(".", ".\u200b").replace("_", "_\u200b")


class FeatureMapsView(QWidget):
    """A layer chooser, the layer's maps as a grid, and a caption that says how to read it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # refresh is looked up when it runs: a replaced one (a test's counter) is the one called
        self._live = LiveRefresh(self, lambda: self.refresh())
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip(LAYER_TIP)
        # A user's model can have long layer names: they elide here, not widen the window.
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(LAYER_CHARS)
        self.layer_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.image = GridImage()
        self.image.tooltip_for = self._tooltip

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.layer_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)

        self._predictor: Predictor | None = None
        self._layers: list[SpatialLayer] = []
        self._img28: np.ndarray | None = None
        self._source = CANVAS_SOURCE
        self._input_shape = CANVAS_INPUT
        self._maps: np.ndarray | None = None
        self._clear(NO_MODEL_TEXT)

    # -- inputs --------------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor | None, input_shape: tuple[int, ...] = CANVAS_INPUT) -> None:
        """New weights (or none) for ``input_shape`` images: list their layers again, and keep
        the chosen layer if it is still there. Another input shape drops the shown image."""
        if tuple(input_shape) != self._input_shape:
            self._input_shape = tuple(input_shape)
            self._img28, self._source = None, CANVAS_SOURCE
        self._predictor = predictor
        keep = self.current_layer_name()
        self._layers = []
        if predictor is not None:
            try:
                self._layers = spatial_layers(predictor.model, self._input_shape)
            except Exception:  # a model that fails on its own input shape: nothing to show
                self._layers = []
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for layer in self._layers:
            self.layer_combo.addItem(layer.label, layer.name)
        names = [layer.name for layer in self._layers]
        if keep in names:
            self.layer_combo.setCurrentIndex(names.index(keep))
        else:
            convs = [i for i, layer in enumerate(self._layers) if layer.type == "Conv2d"]
            self.layer_combo.setCurrentIndex(convs[0] if convs else (0 if names else -1))
        self.layer_combo.blockSignals(False)
        fm = self.layer_combo.fontMetrics()
        widest = max((fm.horizontalAdvance(layer.label) for layer in self._layers), default=0)
        self.layer_combo.view().setMinimumWidth(widest + 4 * fm.averageCharWidth())
        self._update_layer_tip()
        self._live.invalidate()

    @Slot(object)
    def set_input(self, img28: np.ndarray | None, source: str | None = None) -> None:
        """The canvas's image in [0, 1] as the network reads it, or None (empty canvas);
        ``source`` names it ("photo.png, opened on the canvas"), None: the drawing."""
        self.show_image(img28, source or CANVAS_SOURCE)

    @Slot(object, str)
    def show_image(self, img28: np.ndarray | None, source: str) -> None:
        """Show the maps of an image in [0, 1], (H, W) or (C, H, W) as the model reads it;
        ``source`` says what it is (a test image...). The next change on the canvas takes over."""
        self._img28 = None if img28 is None else np.array(img28, dtype=np.float32, copy=True)
        self._source = source
        self._live.invalidate()

    @property
    def predictor(self) -> Predictor | None:
        """The frozen weights the maps come from."""
        return self._predictor

    @property
    def source(self) -> str:
        """What the shown maps are of: the canvas drawing, or a test image."""
        return self._source

    def select_layer(self, name: str) -> bool:
        index = self.layer_combo.findData(name)
        if index < 0:
            return False
        self.layer_combo.setCurrentIndex(index)
        return True

    def current_layer_name(self) -> str | None:
        data = self.layer_combo.currentData()
        return str(data) if data is not None else None

    def layer_names(self) -> list[str]:
        return [layer.name for layer in self._layers]

    @property
    def maps(self) -> np.ndarray | None:
        """The shown layer's maps (channels, H, W), unscaled; None when nothing is shown."""
        return self._maps

    # -- drawing -----------------------------------------------------------------------------
    @Slot(int)
    def _on_layer_changed(self, _index: int) -> None:
        self._update_layer_tip()
        self._live.invalidate()

    def _update_layer_tip(self) -> None:
        text = self.layer_combo.currentText()
        self.layer_combo.setToolTip(f"{text}\n{LAYER_TIP}" if text else LAYER_TIP)

    def refresh(self) -> None:
        """Run the forward pass for the chosen layer now (also when hidden)."""
        self._live.refreshed()
        name = self.current_layer_name()
        if self._predictor is None or not self._layers or name is None:
            self._clear(NO_MODEL_TEXT)
            return
        if self._img28 is None:
            reads_canvas = self._input_shape == CANVAS_INPUT
            self._clear(NO_DRAWING_TEXT if reads_canvas
                        else NO_TEST_IMAGE_TEXT.format(shape="x".join(map(str, self._input_shape))))
            return
        try:
            maps = feature_maps(self._predictor.model, self._predictor.input_tensor(self._img28), [name])[name]
        except Exception as exc:  # keep the window alive whatever a user's model does
            self._clear(one_line(f"This layer cannot be shown: {describe_line(exc)}"))
            return
        self._maps = maps
        grid = tile_maps(maps, pad=PAD)
        c, h, w = maps.shape
        self.image.set_grid(grid)
        layer = self._layers[self.layer_combo.currentIndex()]
        self.caption.setText(
            f"<b>{_breakable(layer.name)}</b> ({escape(layer.type, quote=False)}): {c} maps of {h}x{w} "
            f"for {escape(self._source, quote=False)}. "
            "Each map is scaled on its own: black = its weakest response, white = its strongest. "
            "Hover a map for its number and range.")

    def _clear(self, message: str) -> None:
        self._maps = None
        self.image.set_grid(None)
        self.image.set_message(message)
        self.caption.setText("")

    def _tooltip(self, row: int, col: int) -> str | None:
        return map_tooltip(self._maps, self.image.grid, row, col)
