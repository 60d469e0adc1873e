"""Plot axes: an axis with ticks on whole numbers only (epochs)."""

from __future__ import annotations

import math

import pyqtgraph as pg


class IntegerAxis(pg.AxisItem):
    """A pyqtgraph axis with ticks on whole numbers only (epochs), labelled without decimals."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            ints = [v for v in values if float(v).is_integer()]
            if spacing >= 1 and ints:
                levels.append((spacing, ints))
        if not levels and math.isfinite(minVal) and math.isfinite(maxVal):  # a range of a few epochs
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [str(int(round(v * scale))) for v in values]
