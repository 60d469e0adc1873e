"""The x axis of the Runs tab's overlay: epochs and steps on whole numbers, images seen as
short counts ("600", "12k", "1.5M"), and never pyqtgraph's scale factor glued to the label
(a folder of 72 images read "training images seen (thousands) (x0.001)" with no ticks)."""

from __future__ import annotations

import pyqtgraph as pg

from cnn_gui.gui.widgets.axes import IntegerAxis


def count_texts(values) -> list[str]:
    """Tick labels for image counts, all in one unit chosen by the largest: 0, 200, 400 or
    0, 20k, 40k or 0, 1.5M, 3M."""
    top = max((abs(float(v)) for v in values), default=0.0)
    scale, suffix = (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e4 else (1.0, "")
    return [f"{float(v) / scale:.4g}{suffix}" if v else "0" for v in values]


class RunsXAxis(IntegerAxis):
    """``mode``: "epochs" (whole numbers where ``whole``, else as pyqtgraph ticks them),
    "samples" (whole image counts written short) or "steps" (whole numbers)."""

    def __init__(self, whole: bool) -> None:
        super().__init__("bottom")
        self.whole = whole
        self.mode = "epochs"
        self.enableAutoSIPrefix(False)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.picture = None  # redraw the ticks
        self.update()

    def _whole_ticks(self) -> bool:
        return self.whole or self.mode != "epochs"

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        if self._whole_ticks():
            return super().tickValues(minVal, maxVal, size)
        return pg.AxisItem.tickValues(self, minVal, maxVal, size)

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        if self.mode == "samples":
            return count_texts(values)
        if self._whole_ticks():
            return super().tickStrings(values, scale, spacing)
        return pg.AxisItem.tickStrings(self, values, scale, spacing)
