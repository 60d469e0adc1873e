"""Colour maps as numpy arrays, shared by the window and the CLI (``cnn-gui explain``).

An attribution map is signed, so it is drawn with a diverging map on a symmetric scale:
blue below zero, white at zero, red above (ColorBrewer's RdBu, reversed).
"""

from __future__ import annotations

import numpy as np

# A blue - white - red diverging map (ColorBrewer RdBu, reversed): blue < 0 < red.
STOPS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
STOP_RGB = np.array([(33, 102, 172), (103, 169, 207), (247, 247, 247), (239, 138, 98), (178, 24, 43)], dtype=np.float64)
INK_SHADE = 0.3  # how much darker a fully inked pixel is drawn over the map


def diverging_rgb(values: np.ndarray, scale: float) -> np.ndarray:
    """uint8 (H, W, 3): ``values`` / ``scale`` in [-1, 1] as blue (-) - white (0) - red (+)."""
    v = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values, dtype=np.float64)
    rgb = np.stack([np.interp(v, STOPS, STOP_RGB[:, c]) for c in range(3)], axis=-1)
    return (rgb + 0.5).astype(np.uint8)


def image_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) of an image in [0, 1], (H, W) grey (white ink on black, as MNIST) or (C, H, W)."""
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if a.ndim == 3 and a.shape[0] == 3:
        a = np.moveaxis(a, 0, -1)
    else:
        if a.ndim == 3:
            a = a.mean(0)
        a = np.repeat(a[..., None], 3, axis=-1)
    return (a * 255.0 + 0.5).astype(np.uint8)


def overlay_rgb(amap: np.ndarray, scale: float, image: np.ndarray, ink_kind: str = "light") -> np.ndarray:
    """The attribution map coloured, with the image's ink drawn darker on top.

    ``ink_kind`` is the weights' :class:`~cnn_gui.core.inputs.preparation.Preparation` ink:
    for ``dark`` strokes on light paper the dark pixels are the ink, not the paper.
    """
    rgb = diverging_rgb(amap.astype(np.float64), scale).astype(np.float64)
    a = np.asarray(image, dtype=np.float64)
    ink = np.clip(a.mean(0) if a.ndim == 3 else a, 0.0, 1.0)
    if ink_kind == "dark":
        ink = 1.0 - ink
    return (rgb * (1.0 - INK_SHADE * ink)[..., None] + 0.5).astype(np.uint8)


def explain_picture(image: np.ndarray, amap: np.ndarray, scale: float, zoom: int = 10,
                    ink_kind: str = "light") -> np.ndarray:
    """uint8 (H*zoom, 2*W*zoom + gap, 3): the input beside its coloured map, pixels kept square."""
    left = np.kron(image_rgb(image), np.ones((zoom, zoom, 1), np.uint8))
    right = np.kron(overlay_rgb(amap, scale, image, ink_kind), np.ones((zoom, zoom, 1), np.uint8))
    gap = np.full((left.shape[0], zoom, 3), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=1)
