"""One layer up close: a conv layer's kernels beside its feature maps, and the network
run up to a block (the tutorial's extractions) on the current image.

:class:`LayerView` is driven from outside: :meth:`~LayerView.set_layer` (the module
selected in the tree), :meth:`~LayerView.set_predictor` (the frozen snapshot of the
weights the canvas reads) and :meth:`~LayerView.set_image` (the canvas's 28x28 input).

*Kernels and maps* (first tab). A first layer's kernels are images themselves (the
tutorial CNN's 16 of 3x3 over one grey channel) and are shown directly; a deeper layer
has one kernel per (filter, input map) pair, shown one input map at a time (the spin
box), or summarised as the L2 norm of each kernel in a filters x input maps matrix
(which input maps each filter listens to at all). Kernels share one symmetric scale,
mid-grey = 0, black = -s, white = +s; the bar under them gives s. The layer's maps of
the current image are beside them, each scaled on its own as in the Feature maps tab.

*Run up to here* (second tab): :meth:`~LayerView.run_up_to` builds
``nn.Sequential(*list(model.children())[:k])``, with an ``nn.Flatten()`` before the first
Linear where ``forward`` flattens (see :func:`~cnn_gui.core.model.structure.extract_up_to`);
:meth:`~LayerView.run_conv_layers` the tutorial's "all conv layers". Either runs on
the current image (a blank one if there is none) and shows ``print()``'s text, the
output's shape, and its maps (4-D) or values (2-D); it follows new images and weights.

Weights, maps and extractions all come from the snapshot (a CPU copy in eval mode),
never from the model being trained; the module given to ``set_layer`` is only read
when there is no snapshot. Work (one image, a few ms) runs on the GUI thread, and only
while the view is visible.
"""

from __future__ import annotations

from html import escape

import numpy as np
import torch
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontDatabase, QLinearGradient, QPainter
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from torch import nn

from cnn_gui.core.analysis.inspection import feature_maps, grid_columns, tile_at, tile_maps
from cnn_gui.core.errors import one_line
from cnn_gui.core.analysis.kernels import kernel_grid, kernel_norms, kernel_stack
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.model.structure import (
    extract_by_type,
    extract_up_to,
    run_extracted,
    up_to_expression,
)

from cnn_gui.gui.widgets.grid_image import GridImage
from cnn_gui.gui.widgets.live_refresh import LiveRefresh

CANVAS_INPUT = (1, 28, 28)
CANVAS_TEXT = "the drawing on the canvas"
BLANK_TEXT = "a blank image (draw a digit on the canvas to see yours)"
PAD = 1
VALUES_SHOWN = 16  # a 2-D output's values listed; the rest are counted
HINT = "Select a module in the Network tree: a Conv2d shows its kernels beside its feature maps."
NO_WEIGHTS = "No weights to look into yet."
NO_DRAWING = "Draw a digit on the canvas: this layer's maps of it appear here."
NO_TEST_IMAGE = ("This model reads {shape} images, not the canvas: click a test image in the "
                 "Test set tab to see this layer's maps of it.")
NO_RUN = ("Right-click a block of the Network tree (layer1, layer2 …) and choose "
          "“Run the network up to here”, or “Run all conv layers on the image”.")
CONVS_NOTE = ("# The conv layers alone, chained: without the BatchNorm, ReLU and pooling between them,\n"
              "# so its output is not what the last conv layer computes inside the network.\n")
FLATTEN_NOTE = ("# forward() flattens the maps before the first Linear; children() does not list that,\n"
                "# so an nn.Flatten() goes there (the bare Sequential fails, as the tutorial warns).\n")


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


class ScaleBar(QWidget):
    """A grey ramp with numbers: what black, mid-grey and white stand for in the image above."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: tuple[str, str, str] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 16)

    def sizeHint(self) -> QSize:
        return QSize(200, self.fontMetrics().height() + 16)

    def minimumSizeHint(self) -> QSize:
        return QSize(100, self.fontMetrics().height() + 16)

    def set_labels(self, labels: tuple[str, str, str] | None) -> None:
        """(black, mid-grey, white) texts; None hides the bar's contents."""
        self._labels = labels
        self.update()

    @property
    def labels(self) -> tuple[str, str, str] | None:
        return self._labels

    def paintEvent(self, event) -> None:  # noqa: ARG002
        if self._labels is None:
            return
        painter = QPainter(self)
        fm = self.fontMetrics()
        margin = max(fm.horizontalAdvance(self._labels[0]), fm.horizontalAdvance(self._labels[2])) // 2 + 4
        ramp = QRectF(margin, 2, max(self.width() - 2 * margin, 10), 10)
        gradient = QLinearGradient(ramp.topLeft(), ramp.topRight())
        gradient.setColorAt(0.0, QColor(0, 0, 0))
        gradient.setColorAt(1.0, QColor(255, 255, 255))
        painter.fillRect(ramp, gradient)
        painter.setPen(QColor("#888888"))
        painter.drawRect(ramp)
        painter.setPen(self.palette().windowText().color())
        y = int(ramp.bottom()) + 2 + fm.ascent()
        for frac, text in zip((0.0, 0.5, 1.0), self._labels):
            x = ramp.left() + frac * ramp.width() - fm.horizontalAdvance(text) / 2
            painter.drawText(int(x), y, text)
        painter.end()


class _CodeEdit(QPlainTextEdit):
    """print()'s text: asks for room for its lines beside the output's maps."""

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("x") * 58, 300)


class LayerView(QWidget):
    """A module's kernels and feature maps; the network run up to a block."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # refresh is looked up when it runs: a replaced one (a test's counter) is the one called
        self._live = LiveRefresh(self, lambda: self.refresh())
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)

        # -- kernels ------------------------------------------------------------------------
        self.kernels_radio = QRadioButton("Kernels of map")
        self.kernels_radio.setToolTip("Each filter's kernel for one input map, on one scale: mid-grey = 0")
        self.norms_radio = QRadioButton("Norms")
        self.norms_radio.setToolTip("L2 norms: the norm of every kernel: a row per filter (out), a column per "
                                    "input map (in). Bright: the filter listens to that map")
        self.kernels_radio.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.kernels_radio)
        self._mode_group.addButton(self.norms_radio)
        self._mode_group.buttonToggled.connect(self._on_mode)
        self.channel_spin = QSpinBox()
        self.channel_spin.setToolTip("Which input map's kernels to show (one per filter)")
        self.channel_spin.setRange(0, 0)
        self.channel_spin.valueChanged.connect(self._live.invalidate)
        self.kernel_image = GridImage()
        self.kernel_image.tooltip_for = self._kernel_tooltip
        self.scale_bar = ScaleBar()
        self.kernel_caption = QLabel()
        self.kernel_caption.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.kernels_radio)
        controls.addWidget(self.channel_spin)
        controls.addWidget(self.norms_radio)
        controls.addStretch(1)
        self.kernels_box = QGroupBox("Kernels")
        kbox = QVBoxLayout(self.kernels_box)
        kbox.addLayout(controls)
        kbox.addWidget(self.kernel_image, 1)
        kbox.addWidget(self.scale_bar)
        kbox.addWidget(self.kernel_caption)

        # -- maps ---------------------------------------------------------------------------
        self.maps_image = GridImage()
        self.maps_image.tooltip_for = self._maps_tooltip
        self.maps_caption = QLabel()
        self.maps_caption.setWordWrap(True)
        self.maps_box = QGroupBox("Feature maps")
        mbox = QVBoxLayout(self.maps_box)
        mbox.addWidget(self.maps_image, 1)
        mbox.addWidget(self.maps_caption)

        self.layer_page = QSplitter(Qt.Orientation.Horizontal)
        self.layer_page.setChildrenCollapsible(False)
        self.layer_page.addWidget(self.kernels_box)
        self.layer_page.addWidget(self.maps_box)
        self.layer_page.setSizes([1, 1])

        # -- run up to here -------------------------------------------------------------------
        self.code_edit = _CodeEdit()
        self.code_edit.setReadOnly(True)
        self.code_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.code_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.code_edit.setPlaceholderText(NO_RUN)
        self.shape_label = QLabel()
        self.shape_label.setWordWrap(True)
        self.shape_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.output_image = GridImage()
        self.output_image.tooltip_for = self._output_tooltip
        self.values_label = QLabel()
        self.values_label.setWordWrap(True)
        self.values_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        out_side = QWidget()
        out_box = QVBoxLayout(out_side)
        out_box.setContentsMargins(0, 0, 0, 0)
        out_box.addWidget(self.shape_label)
        out_box.addWidget(self.output_image, 1)
        out_box.addWidget(self.values_label)
        self.run_page = QSplitter(Qt.Orientation.Horizontal)
        self.run_page.setChildrenCollapsible(False)
        self.run_page.addWidget(self.code_edit)
        self.run_page.addWidget(out_side)

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
        self._kernels: np.ndarray | None = None  # what the kernel image shows: a stack or the norms
        self._kernel_scale = 0.0
        self._kernel_tile: tuple[int, int] | None = None
        self._maps: np.ndarray | None = None
        self._output: np.ndarray | None = None
        self._show_layer()

    # ================================================================== inputs
    def set_layer(self, name: str, module: nn.Module | None = None) -> None:
        """Show module ``name`` ("" or None: nothing); ``module`` is the live one, read only
        when there is no snapshot (its kernels come from the snapshot otherwise)."""
        name = name or ""
        if name != self._name:
            self.channel_spin.blockSignals(True)
            self.channel_spin.setValue(0)
            self.channel_spin.blockSignals(False)
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
        return self._kernels

    @property
    def kernel_scale(self) -> float:
        """The largest |weight| (kernels) or the largest norm: the scale bar's end."""
        return self._kernel_scale

    @property
    def maps(self) -> np.ndarray | None:
        return self._maps

    @property
    def output(self) -> np.ndarray | None:
        """The last extraction's output for the image, batch dimension included."""
        return self._output

    @property
    def mode(self) -> str:
        return "norms" if self.norms_radio.isChecked() else "kernels"

    def set_mode(self, mode: str) -> None:
        """"kernels" (one input map at a time) or "norms" (the out x in matrix)."""
        (self.norms_radio if mode == "norms" else self.kernels_radio).setChecked(True)

    # ================================================================== refreshing
    def _on_mode(self, _button, checked: bool) -> None:
        if checked:
            self._live.invalidate()

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

    # -- the first tab ------------------------------------------------------------------------
    def _show_layer(self) -> None:
        module = self._snapshot_module()
        if module is None:
            self.title.setText(HINT if not self._name else f"<b>{escape(self._name)}</b>: not in these weights.")
            self._clear_kernels("")
            self._clear_maps("")
            return
        kind = type(module).__name__
        extra = one_line(module.extra_repr(), 120)
        self.title.setText(f"<b>{escape(self._name)}</b> · {escape(kind)}"
                           + (f"({escape(extra)})" if extra else ""))
        self._show_kernels(module)
        self._show_maps(kind)

    def _show_kernels(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Conv2d):
            self._clear_kernels(f"A {type(module).__name__} has no kernels: select a Conv2d "
                                "(Filter: Conv2d in the tree lists them).")
            return
        weight = module.weight.detach().float().cpu().numpy().copy()
        out_ch, in_ch, kh, kw = weight.shape
        self.channel_spin.blockSignals(True)
        self.channel_spin.setRange(0, in_ch - 1)
        self.channel_spin.blockSignals(False)
        self.channel_spin.setEnabled(in_ch > 1 and self.mode == "kernels")
        if self.mode == "norms":
            norms = kernel_norms(weight)
            top = float(norms.max()) if norms.size else 0.0
            self._kernels, self._kernel_scale, self._kernel_tile = norms, top, None
            self.kernel_image.set_grid(norms / top if top > 0 else np.zeros_like(norms))
            self.scale_bar.set_labels(("0", f"{top / 2:.3g}", f"{top:.3g}"))
            self.kernel_caption.setText(
                f"L2 norm of each of the {out_ch * in_ch:,} kernels: a row per filter ({out_ch}), "
                f"a column per input map ({in_ch}). Bright: the filter listens to that map. Hover for the number.")
            return
        channel = self.channel_spin.value() if in_ch > 1 else None
        stack = kernel_stack(weight, channel)
        grid, scale = kernel_grid(stack, columns=grid_columns(stack.shape[0]), pad=PAD)
        self._kernels, self._kernel_scale, self._kernel_tile = stack, scale, (kh, kw)
        self.kernel_image.set_grid(grid)
        self.scale_bar.set_labels((f"−{scale:.3g}", "0", f"+{scale:.3g}"))
        which = ("the input image" if in_ch == 1 else f"input map {channel} of {in_ch}")
        self.kernel_caption.setText(
            f"{out_ch} kernels of {kh}x{kw}, one per filter, reading {which}. One scale for all: "
            "mid-grey = 0, darker = negative, lighter = positive weights.")

    def _clear_kernels(self, message: str) -> None:
        self._kernels, self._kernel_scale, self._kernel_tile = None, 0.0, None
        self.kernel_image.set_grid(None)
        self.kernel_image.set_message(message)
        self.scale_bar.set_labels(None)
        self.kernel_caption.setText("")
        self.channel_spin.setEnabled(False)

    def _show_maps(self, kind: str) -> None:
        if self._predictor is None:
            self._clear_maps(NO_WEIGHTS)
            return
        if self._image is None:
            self._clear_maps(NO_DRAWING if self._input_shape == CANVAS_INPUT
                             else NO_TEST_IMAGE.format(shape="x".join(map(str, self._input_shape))))
            return
        try:
            maps = feature_maps(self._predictor.model, self._predictor.input_tensor(self._image), [self._name])
        except Exception as exc:  # a user's model, an image it cannot read: one line, never a crash
            self._clear_maps(one_line(f"No maps: {exc}"))
            return
        if self._name not in maps:
            self._clear_maps(f"A {kind}'s output is not a stack of 2-D maps.")
            return
        m = maps[self._name]
        self._maps = m
        self.maps_image.set_grid(tile_maps(m, pad=PAD))
        c, h, w = m.shape
        self.maps_caption.setText(
            f"{c} maps of {h}x{w} for {escape(self._source)}, each scaled on its own: "
            "black = its weakest response, white = its strongest.")

    def _clear_maps(self, message: str) -> None:
        self._maps = None
        self.maps_image.set_grid(None)
        self.maps_image.set_message(message)
        self.maps_caption.setText("")

    # -- the second tab -----------------------------------------------------------------------
    def _show_run(self) -> None:
        self._output = None
        self.output_image.set_grid(None)
        self.values_label.setText("")
        if self._run is None:
            self.code_edit.setPlainText("")
            self.shape_label.setText("")
            self.output_image.set_message("")
            return
        if self._predictor is None:
            self.code_edit.setPlainText("")
            self.shape_label.setText(NO_WEIGHTS)
            return
        kind, name = self._run
        model = self._predictor.model
        try:
            if kind == "up_to":
                part = extract_up_to(model, name)
                expr = up_to_expression(model, name)
                code = f"# {expr}\n" + (FLATTEN_NOTE if "Flatten" in expr else "")
            else:
                part = extract_by_type(model, nn.Conv2d)
                code = ("# All Conv2d modules from named_modules(), keyed by full name\n" + CONVS_NOTE)
            self.code_edit.setPlainText(code + str(part))
            x, source = self._input()
            out = run_extracted(part, x)
        except Exception as exc:  # noqa: BLE001 - shown in one line; the view stays
            self.shape_label.setText(escape(one_line(f"Cannot run it: {exc}")))
            return
        self._output = out.float().cpu().numpy().copy()
        what = f"up to <b>{escape(name)}</b>" if kind == "up_to" else "<b>all conv layers</b>"
        self.shape_label.setText(f"The network {what} on {escape(source)}: output shape "
                                 f"<b>{_shape(tuple(out.shape))}</b>")
        if self._output.ndim == 4:
            self.output_image.set_grid(tile_maps(self._output[0], pad=PAD))
            c, h, w = self._output.shape[1:]
            self.values_label.setText(f"{c} maps of {h}x{w}, each scaled on its own (black = weakest, white = strongest)")
        elif self._output.ndim == 2:
            values = self._output[0]
            shown = ", ".join(f"{i}: {v:.3g}" for i, v in enumerate(values[:VALUES_SHOWN]))
            more = f", … ({values.size - VALUES_SHOWN} more)" if values.size > VALUES_SHOWN else ""
            self.output_image.set_message(f"{values.size} values, one per output unit")
            self.values_label.setText(f"{shown}{more}\nlargest: {int(values.argmax())} ({float(values.max()):.3g})")
        else:
            self.output_image.set_message(f"An output of {self._output.ndim} dimensions: its shape says it all.")

    # ================================================================== tooltips
    def _kernel_tooltip(self, row: int, col: int) -> str | None:
        k = self._kernels
        if k is None:
            return None
        if self._kernel_tile is None:  # the norms matrix: a pixel per kernel
            if row < k.shape[0] and col < k.shape[1]:
                return f"filter {row} ← input map {col}: L2 norm {float(k[row, col]):.3g}"
            return None
        index = tile_at(row, col, self._kernel_tile, self.kernel_image.grid.shape[1], PAD)
        if index is None or index >= k.shape[0]:
            return None
        kh, kw = self._kernel_tile
        r, c = row % (kh + PAD), col % (kw + PAD)
        return (f"filter {index}: weight {float(k[index, r, c]):+.3g} at ({r}, {c}); "
                f"from {float(k[index].min()):+.3g} to {float(k[index].max()):+.3g}")

    @staticmethod
    def _map_tooltip(maps: np.ndarray | None, grid: np.ndarray | None, row: int, col: int) -> str | None:
        if maps is None or grid is None:
            return None
        c, h, w = maps.shape
        index = tile_at(row, col, (h, w), grid.shape[1], PAD)
        if index is None or index >= c:
            return None
        m = maps[index]
        return f"map {index} of {c}: from {float(m.min()):.3g} to {float(m.max()):.3g}"

    def _maps_tooltip(self, row: int, col: int) -> str | None:
        return self._map_tooltip(self._maps, self.maps_image.grid, row, col)

    def _output_tooltip(self, row: int, col: int) -> str | None:
        out = self._output[0] if self._output is not None and self._output.ndim == 4 else None
        return self._map_tooltip(out, self.output_image.grid, row, col)
