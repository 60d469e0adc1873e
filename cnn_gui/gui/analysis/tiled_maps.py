"""The tooltip over a grid of tiled feature maps: which map is under the mouse, and its range.

Shared by the Feature maps tab and both pages of the Layer tab, which tile maps the same way.
"""

from __future__ import annotations

import numpy as np

from cnn_gui.core.analysis.inspection import tile_at

PAD = 1  # pixels between tiles


def map_tooltip(maps: np.ndarray | None, grid: np.ndarray | None, row: int, col: int) -> str | None:
    """"map 3 of 16: from 0 to 2.41" for grid cell (``row``, ``col``) of ``maps`` (C, H, W)
    tiled with :data:`PAD`; None off the maps or when nothing is shown."""
    if maps is None or grid is None:
        return None
    c, h, w = maps.shape
    index = tile_at(row, col, (h, w), grid.shape[1], PAD)
    if index is None or index >= c:
        return None
    m = maps[index]
    return f"map {index} of {c}: from {float(m.min()):.3g} to {float(m.max()):.3g}"
