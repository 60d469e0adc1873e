"""The Layer tab's first page: a conv layer's kernels beside the layer's maps of the image.

A first layer's kernels are images themselves (the tutorial CNN's 16 of 3x3 over one grey
channel) and are shown directly; a deeper layer has one kernel per (filter, input map)
pair, shown one input map at a time (the spin box), or summarised as the L2 norm of each
kernel in a filters x input maps matrix (which input maps each filter listens to at all).
Kernels share one symmetric scale, mid-grey = 0, black = -s, white = +s; the bar under
them gives s. The maps beside them are each scaled on their own, as in the Feature maps tab.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QGroupBox, QHBoxLayout, QLabel, QRadioButton, QSpinBox, QSplitter, \
    QVBoxLayout, QWidget
from torch import nn

from cnn_gui.core.analysis.inspection import grid_columns, tile_at, tile_maps
from cnn_gui.core.analysis.kernels import kernel_grid, kernel_norms, kernel_stack
from cnn_gui.gui.analysis.tiled_maps import PAD, map_tooltip
from cnn_gui.gui.widgets.grid_image import GridImage
from cnn_gui.gui.widgets.scale_bar import ScaleBar


class KernelsAndMapsPage(QSplitter):
    """The kernels (or their norms) with their scale bar, beside the maps; tooltips name a cell.

    Signals: ``changed()``, when the mode or the input map changes (the view shows again).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._kernels: np.ndarray | None = None  # what the kernel image shows: a stack or the norms
        self._kernel_scale = 0.0
        self._kernel_tile: tuple[int, int] | None = None
        self._maps: np.ndarray | None = None
        self.setChildrenCollapsible(False)
        self.addWidget(self._build_kernels_box())
        self.addWidget(self._build_maps_box())
        self.setSizes([1, 1])

    def _build_kernels_box(self) -> QGroupBox:
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
        self.channel_spin.valueChanged.connect(lambda _value: self.changed.emit())
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
        return self.kernels_box

    def _build_maps_box(self) -> QGroupBox:
        self.maps_image = GridImage()
        self.maps_image.tooltip_for = lambda row, col: map_tooltip(self._maps, self.maps_image.grid, row, col)
        self.maps_caption = QLabel()
        self.maps_caption.setWordWrap(True)
        self.maps_box = QGroupBox("Feature maps")
        mbox = QVBoxLayout(self.maps_box)
        mbox.addWidget(self.maps_image, 1)
        mbox.addWidget(self.maps_caption)
        return self.maps_box

    # -- what is shown ---------------------------------------------------------------------
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
    def mode(self) -> str:
        return "norms" if self.norms_radio.isChecked() else "kernels"

    def set_mode(self, mode: str) -> None:
        """"kernels" (one input map at a time) or "norms" (the out x in matrix)."""
        (self.norms_radio if mode == "norms" else self.kernels_radio).setChecked(True)

    def _on_mode(self, _button, checked: bool) -> None:
        if checked:
            self.changed.emit()

    def reset_channel(self) -> None:
        """Back to input map 0 (another layer), quietly: the view shows it anyway."""
        self.channel_spin.blockSignals(True)
        self.channel_spin.setValue(0)
        self.channel_spin.blockSignals(False)

    # -- kernels -----------------------------------------------------------------------------
    def show_kernels(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Conv2d):
            self.clear_kernels(f"A {type(module).__name__} has no kernels: select a Conv2d "
                               "(Filter: Conv2d in the tree lists them).")
            return
        weight = module.weight.detach().float().cpu().numpy().copy()
        out_ch, in_ch, kh, kw = weight.shape
        self.channel_spin.blockSignals(True)
        self.channel_spin.setRange(0, in_ch - 1)
        self.channel_spin.blockSignals(False)
        self.channel_spin.setEnabled(in_ch > 1 and self.mode == "kernels")
        if self.mode == "norms":
            self._show_norms(weight)
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

    def _show_norms(self, weight: np.ndarray) -> None:
        out_ch, in_ch = weight.shape[:2]
        norms = kernel_norms(weight)
        top = float(norms.max()) if norms.size else 0.0
        self._kernels, self._kernel_scale, self._kernel_tile = norms, top, None
        self.kernel_image.set_grid(norms / top if top > 0 else np.zeros_like(norms))
        self.scale_bar.set_labels(("0", f"{top / 2:.3g}", f"{top:.3g}"))
        self.kernel_caption.setText(
            f"L2 norm of each of the {out_ch * in_ch:,} kernels: a row per filter ({out_ch}), "
            f"a column per input map ({in_ch}). Bright: the filter listens to that map. Hover for the number.")

    def clear_kernels(self, message: str) -> None:
        self._kernels, self._kernel_scale, self._kernel_tile = None, 0.0, None
        self.kernel_image.set_grid(None)
        self.kernel_image.set_message(message)
        self.scale_bar.set_labels(None)
        self.kernel_caption.setText("")
        self.channel_spin.setEnabled(False)

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

    # -- maps ----------------------------------------------------------------------------------
    def show_maps(self, maps: np.ndarray, source: str) -> None:
        """The layer's (C, H, W) maps of ``source`` (what the image is), each scaled on its own."""
        self._maps = maps
        self.maps_image.set_grid(tile_maps(maps, pad=PAD))
        c, h, w = maps.shape
        self.maps_caption.setText(
            f"{c} maps of {h}x{w} for {escape(source)}, each scaled on its own: "
            "black = its weakest response, white = its strongest.")

    def clear_maps(self, message: str) -> None:
        self._maps = None
        self.maps_image.set_grid(None)
        self.maps_image.set_message(message)
        self.maps_caption.setText("")
