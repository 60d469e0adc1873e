"""One layer up close: a conv layer's kernels beside its feature maps, and the network
run up to a block (the tutorial's extractions) on the current image.

:class:`LayerView` is driven from outside: :meth:`~LayerView.set_layer` (the module
selected in the tree), :meth:`~LayerView.set_predictor` (the frozen snapshot of the
weights the canvas reads) and :meth:`~LayerView.set_image` (the canvas's 28x28 input).
It decides what its two pages show: *Kernels and maps*
(:class:`~cnn_gui.gui.analysis.layer_kernels.KernelsAndMapsPage`) and *Run up to here*
(:class:`~cnn_gui.gui.analysis.layer_run.RunUpToPage`, after :meth:`~LayerView.run_up_to`
or :meth:`~LayerView.run_conv_layers`), which follows new images and weights; without an
image it runs on a blank one.

Weights, maps and extractions all come from the snapshot (a CPU copy in eval mode),
never from the model being trained; the module given to ``set_layer`` is only read
when there is no snapshot. Work (one image, a few ms) runs on the GUI thread, and only
while the view is visible.
"""

from __future__ import annotations

from html import escape

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget
from torch import nn

from cnn_gui.core.analysis.inspection import feature_maps
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.errors import one_line
from cnn_gui.gui.analysis.layer_kernels import KernelsAndMapsPage
from cnn_gui.gui.analysis.layer_run import RunUpToPage
from cnn_gui.gui.widgets.live_refresh import LiveRefresh

CANVAS_INPUT = (1, 28, 28)
CANVAS_TEXT = "the drawing on the canvas"
BLANK_TEXT = "a blank image (draw a digit on the canvas to see yours)"
HINT = "Select a module in the Network tree: a Conv2d shows its kernels beside its feature maps."
NO_WEIGHTS = "No weights to look into yet."
NO_DRAWING = "Draw a digit on the canvas: this layer's maps of it appear here."
NO_TEST_IMAGE = ("This model reads {shape} images, not the canvas: click a test image in the "
                 "Test set tab to see this layer's maps of it.")


class LayerView(QWidget):
    """A module's kernels and feature maps; the network run up to a block."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # refresh is looked up when it runs: a replaced one (a test's counter) is the one called
        self._live = LiveRefresh(self, lambda: self.refresh())
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.layer_page = KernelsAndMapsPage()
        self.layer_page.changed.connect(self._live.invalidate)
        self.run_page = RunUpToPage()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.layer_page, "Kernels and maps")
        self.tabs.addTab(self.run_page, "Run up to here")
        self.tabs.setTabToolTip(1, "The network cut after a block (the tutorial's extractions), run on the image")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.tabs, 1)

        self._name = ""
        self._module: nn.Module | None = None
        self._predictor: Predictor | None = None
        self._input_shape = CANVAS_INPUT
        self._image: np.ndarray | None = None
        self._source = CANVAS_TEXT
        self._run: tuple[str, str] | None = None  # ("up_to", name) | ("convs", "")
        self._show_layer()

    # ================================================================== inputs
    def set_layer(self, name: str, module: nn.Module | None = None) -> None:
        """Show module ``name`` ("" or None: nothing); ``module`` is the live one, read only
        when there is no snapshot (its kernels come from the snapshot otherwise)."""
        name = name or ""
        if name != self._name:
            self.layer_page.reset_channel()
        self._name, self._module = name, module if name else None
        if self._name and self.tabs.currentWidget() is not self.layer_page:
            self.tabs.setCurrentWidget(self.layer_page)
        self._live.invalidate()

    def set_predictor(self, predictor: Predictor | None, input_shape: tuple[int, ...] = CANVAS_INPUT) -> None:
        """New weights (a frozen snapshot) or None, for ``input_shape`` images; another shape
        drops the image."""
        if tuple(input_shape) != self._input_shape:
            self._input_shape = tuple(input_shape)
            self._image, self._source = None, CANVAS_TEXT
        self._predictor = predictor
        self._live.invalidate()

    def set_image(self, image: np.ndarray | None, source: str = CANVAS_TEXT) -> None:
        """The image in [0, 1] as the network reads it ((H, W) or (C, H, W)); None: none."""
        self._image = None if image is None else np.array(image, dtype=np.float32, copy=True)
        self._source = source
        self._live.invalidate()

    def clear(self) -> None:
        """Forget the layer and the extraction (the weights and the image stay)."""
        self._name, self._module, self._run = "", None, None
        self.tabs.setCurrentWidget(self.layer_page)
        self._live.invalidate()

    def run_up_to(self, name: str) -> None:
        """Run the network up to its direct child ``name`` on the image, in the second tab."""
        self._run = ("up_to", name)
        self.tabs.setCurrentWidget(self.run_page)
        self._live.invalidate()

    def run_conv_layers(self) -> None:
        """Run the tutorial's "all conv layers" Sequential on the image, in the second tab."""
        self._run = ("convs", "")
        self.tabs.setCurrentWidget(self.run_page)
        self._live.invalidate()

    # ================================================================== what is shown (tests)
    @property
    def layer_name(self) -> str:
        return self._name

    @property
    def kernels(self) -> np.ndarray | None:
        """The kernel image's numbers: (count, kh, kw) kernels, or the (out, in) norms."""
        return self.layer_page.kernels

    @property
    def kernel_scale(self) -> float:
        """The largest |weight| (kernels) or the largest norm: the scale bar's end."""
        return self.layer_page.kernel_scale

    @property
    def maps(self) -> np.ndarray | None:
        return self.layer_page.maps

    @property
    def output(self) -> np.ndarray | None:
        """The last extraction's output for the image, batch dimension included."""
        return self.run_page.output

    @property
    def mode(self) -> str:
        return self.layer_page.mode

    def set_mode(self, mode: str) -> None:
        """"kernels" (one input map at a time) or "norms" (the out x in matrix)."""
        self.layer_page.set_mode(mode)

    # ================================================================== refreshing
    def refresh(self) -> None:
        """Compute what is shown now (also when hidden)."""
        self._live.refreshed()
        self._show_layer()
        self._show_run()

    def _snapshot_module(self) -> nn.Module | None:
        """The selected module in the snapshot, else the live one given to set_layer."""
        if not self._name:
            return None
        if self._predictor is not None:
            try:
                return self._predictor.model.get_submodule(self._name)
            except AttributeError:
                pass
        return self._module

    def _input(self) -> tuple[torch.Tensor, str]:
        """The snapshot's input tensor for the image (a blank one without), and what it is."""
        assert self._predictor is not None
        if self._image is None:
            return self._predictor.input_tensor(np.zeros(self._input_shape, dtype=np.float32)), BLANK_TEXT
        return self._predictor.input_tensor(self._image), self._source

    def _show_layer(self) -> None:
        module = self._snapshot_module()
        if module is None:
            self.title.setText(HINT if not self._name else f"<b>{escape(self._name)}</b>: not in these weights.")
            self.layer_page.clear_kernels("")
            self.layer_page.clear_maps("")
            return
        kind = type(module).__name__
        extra = one_line(module.extra_repr(), 120)
        self.title.setText(f"<b>{escape(self._name)}</b> · {escape(kind)}"
                           + (f"({escape(extra)})" if extra else ""))
        self.layer_page.show_kernels(module)
        self._show_maps(kind)

    def _show_maps(self, kind: str) -> None:
        page = self.layer_page
        if self._predictor is None:
            page.clear_maps(NO_WEIGHTS)
            return
        if self._image is None:
            page.clear_maps(NO_DRAWING if self._input_shape == CANVAS_INPUT
                            else NO_TEST_IMAGE.format(shape="x".join(map(str, self._input_shape))))
            return
        try:
            maps = feature_maps(self._predictor.model, self._predictor.input_tensor(self._image), [self._name])
        except Exception as exc:  # a user's model, an image it cannot read: one line, never a crash
            page.clear_maps(one_line(f"No maps: {exc}"))
            return
        if self._name not in maps:
            page.clear_maps(f"A {kind}'s output is not a stack of 2-D maps.")
            return
        page.show_maps(maps[self._name], self._source)

    def _show_run(self) -> None:
        if self._run is None:
            self.run_page.clear()
        elif self._predictor is None:
            self.run_page.show_problem(NO_WEIGHTS)
        else:
            self.run_page.run(*self._run, self._predictor.model, self._input)
