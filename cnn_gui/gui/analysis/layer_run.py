"""The Layer tab's second page: the network run up to a block (the tutorial's extractions).

"Up to" builds ``nn.Sequential(*list(model.children())[:k])``, with an ``nn.Flatten()``
before the first Linear where ``forward`` flattens (see
:func:`~cnn_gui.core.model.structure.extract_up_to`); "all conv layers" is the tutorial's
Sequential of every Conv2d. The page shows ``print()``'s text of it, the output's shape,
and its maps (4-D) or values (2-D).
"""

from __future__ import annotations

from html import escape
from typing import Callable

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget
from torch import nn

from cnn_gui.core.analysis.inspection import tile_maps
from cnn_gui.core.errors import one_line
from cnn_gui.core.model.structure import extract_by_type, extract_up_to, run_extracted, up_to_expression
from cnn_gui.gui.analysis.tiled_maps import PAD, map_tooltip
from cnn_gui.gui.widgets.grid_image import GridImage

VALUES_SHOWN = 16  # a 2-D output's values listed; the rest are counted
NO_RUN = ("Right-click a block of the Network tree (layer1, layer2 …) and choose "
          "“Run the network up to here”, or “Run all conv layers on the image”.")
CONVS_NOTE = ("# The conv layers alone, chained: without the BatchNorm, ReLU and pooling between them,\n"
              "# so its output is not what the last conv layer computes inside the network.\n")
FLATTEN_NOTE = ("# forward() flattens the maps before the first Linear; children() does not list that,\n"
                "# so an nn.Flatten() goes there (the bare Sequential fails, as the tutorial warns).\n")


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _extraction(model: nn.Module, kind: str, name: str) -> tuple[nn.Module, str]:
    """The extracted part of ``model`` and the comment that says what it is."""
    if kind == "up_to":
        part = extract_up_to(model, name)
        expr = up_to_expression(model, name)
        return part, f"# {expr}\n" + (FLATTEN_NOTE if "Flatten" in expr else "")
    return (extract_by_type(model, nn.Conv2d),
            "# All Conv2d modules from named_modules(), keyed by full name\n" + CONVS_NOTE)


class _CodeEdit(QPlainTextEdit):
    """print()'s text: asks for room for its lines beside the output's maps."""

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("x") * 58, 300)


class RunUpToPage(QSplitter):
    """The extraction's code on the left; its output's shape and maps or values on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._output: np.ndarray | None = None
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
        self.setChildrenCollapsible(False)
        self.addWidget(self.code_edit)
        self.addWidget(out_side)

    @property
    def output(self) -> np.ndarray | None:
        """The last extraction's output for the image, batch dimension included."""
        return self._output

    def _clear_output(self) -> None:
        self._output = None
        self.output_image.set_grid(None)
        self.values_label.setText("")

    def clear(self) -> None:
        """Nothing asked for yet: the placeholder says how to ask."""
        self._clear_output()
        self.code_edit.setPlainText("")
        self.shape_label.setText("")
        self.output_image.set_message("")

    def show_problem(self, text: str) -> None:
        """No code to show, and ``text`` says why (no weights yet)."""
        self._clear_output()
        self.code_edit.setPlainText("")
        self.shape_label.setText(text)

    def run(self, kind: str, name: str, model: nn.Module, read_input: Callable[[], tuple[torch.Tensor, str]]) -> None:
        """Extract ``kind`` ("up_to" block ``name``, or "convs") from ``model`` and run it on
        ``read_input()`` (the input tensor and what it is); a failure is one line."""
        self._clear_output()
        try:
            part, comment = _extraction(model, kind, name)
            self.code_edit.setPlainText(comment + str(part))
            x, source = read_input()
            out = run_extracted(part, x)
        except Exception as exc:  # noqa: BLE001 - shown in one line; the view stays
            self.shape_label.setText(escape(one_line(f"Cannot run it: {exc}")))
            return
        self._output = out.float().cpu().numpy().copy()
        what = f"up to <b>{escape(name)}</b>" if kind == "up_to" else "<b>all conv layers</b>"
        self.shape_label.setText(f"The network {what} on {escape(source)}: output shape "
                                 f"<b>{_shape(tuple(out.shape))}</b>")
        self._show_output()

    def _show_output(self) -> None:
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

    def _output_tooltip(self, row: int, col: int) -> str | None:
        out = self._output[0] if self._output is not None and self._output.ndim == 4 else None
        return map_tooltip(out, self.output_image.grid, row, col)
