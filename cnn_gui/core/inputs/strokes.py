"""A drawing kept as pen strokes, written into 28x28 with a pen in proportion to its size.

MNIST's writers filled a box of about the same size with a pen of about the same width,
so after MNIST's preparation (the ink scaled into a 20x20 box) a stroke is about 2 px
wide whatever the digit. A canvas pen has a fixed width in canvas pixels instead: a digit
drawn a quarter of the canvas high and then scaled up to 20 px arrives with strokes
several times wider than any MNIST stroke, its loops filled in (a small 3 read as 8, a
small 6 as 1). :func:`strokes_to_mnist` therefore does not scale the canvas's raster; it
writes the strokes again, as vectors, into the 28x28 field:

1. the box of the pen's *centre line* is scaled so that the written digit, pen included,
   has its longer side :data:`~cnn_gui.core.inputs.preprocess.MNIST_BOX` (20) px, as
   MNIST's ink box has;
2. the pen is :data:`PEN_PX` px wide there, whatever the drawing's size (a stylus's
   pressure varies it by up to +-25 %, :func:`pen_factor`, within the same proportion);
3. each pixel's ink is its distance-field coverage, ``clip(radius + 0.5 - distance)``,
   the analytic anti-aliasing of a line, so a thin stroke stays grey as in MNIST;
4. the digit is placed so that its centre of mass is at (14, 14), as MNIST's were.

``PEN_PX`` is measured, not guessed: the canvas's 22 px pen on a digit drawn two thirds of
the canvas high (the size its ink amount was tuned at, about MNIST's own ink) is
22 / 209 of its ink box, 2.1 px of 20. So a drawing of that size reads as before, and any
other size reads like it.

A stroke is a float array (N, 3): x, y in canvas pixels and the pen's pressure in [0, 1]
(a mouse reports none and is given :data:`MOUSE_PRESSURE`, the middle). numpy only; a
digit of a few hundred points takes about a millisecond.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnn_gui.core.inputs.preprocess import MNIST_BOX, MNIST_CENTRE, MNIST_SIZE, InputError

PEN_PX = 2.1  # the pen's width in the 28x28 field at middle pressure (see the module docstring)
MOUSE_PRESSURE = 0.5
# A drawing whose centre line spans less than this share of the canvas is a dot or a
# scribble smaller than the canvas pen itself (22 of 280 px): nothing to read.
MIN_STROKE_EXTENT = 0.08
# Points closer than this (in output px) to the last one kept add nothing but work.
_STEP_PX = 0.35
MAX_POINTS = 20_000  # a drawing is hundreds of points; more is a mistake, not a digit


def pen_factor(pressure: np.ndarray) -> np.ndarray:
    """The pen's width relative to :data:`PEN_PX` for a pressure in [0, 1]: 0.75 to 1.25,
    1.0 at the mouse's middle pressure, so a stylus varies it but keeps MNIST's proportion."""
    return 0.75 + 0.5 * np.clip(pressure, 0.0, 1.0)


def _checked(strokes: Sequence[np.ndarray]) -> list[np.ndarray]:
    out, total = [], 0
    for s in strokes:
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] == 0:
            raise InputError(f"a stroke is (N, 3) points (x, y, pressure), not shape {a.shape}")
        if not np.isfinite(a).all():
            raise InputError("a stroke has a point that is not a number")
        total += a.shape[0]
        if total > MAX_POINTS:
            raise InputError(f"a drawing of more than {MAX_POINTS:,} points is not a digit")
        out.append(a)
    return out


def stroke_extent(strokes: Sequence[np.ndarray]) -> float:
    """The longer side, in canvas pixels, of the box of the strokes' centre lines (0: none)."""
    kept = _checked(strokes)
    if not kept:
        return 0.0
    pts = np.concatenate(kept)[:, :2]
    return float((pts.max(axis=0) - pts.min(axis=0)).max())


def too_small(strokes: Sequence[np.ndarray], canvas_side: float, min_extent: float = MIN_STROKE_EXTENT) -> bool:
    """True when strokes span less than ``min_extent`` of the canvas: a dot is not a digit
    (it would be read as a confident "0"). Small digits are read: this is the pen's own width."""
    return stroke_extent(strokes) < min_extent * float(canvas_side)


def _segments(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments (a, b as (M, 2)) and their end radii (ra, rb as (M,)) of strokes already in
    output px, points
    closer than :data:`_STEP_PX` merged. A single point is a segment of length 0 (a dot)."""
    a_list, b_list, ra_list, rb_list = [], [], [], []
    for s in strokes:
        xy = s[:, :2]
        r = pen_factor(s[:, 2]) * (PEN_PX / 2.0)
        # Keep a point each time the path has gone another _STEP_PX (and the last one).
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        step = np.floor(along / _STEP_PX)
        keep = np.flatnonzero(np.concatenate([[True], step[1:] != step[:-1]]))
        if keep[-1] != len(xy) - 1:
            keep = np.append(keep, len(xy) - 1)
        xy, r = xy[keep], r[keep]
        if len(xy) == 1:
            xy, r = np.repeat(xy, 2, axis=0), np.repeat(r, 2)
        a_list.append(xy[:-1])
        b_list.append(xy[1:])
        ra_list.append(r[:-1])
        rb_list.append(r[1:])
    return (np.concatenate(a_list), np.concatenate(b_list), np.concatenate(ra_list), np.concatenate(rb_list))


def _coverage(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Ink of each pixel of the 28x28 field (pixel centres at index + 0.5), only the pixels
    the segments' widest reach can touch being computed."""
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    reach = float(max(ra.max(), rb.max())) + 0.5
    lo = np.floor(np.minimum(a.min(axis=0), b.min(axis=0)) - reach).astype(int).clip(0, MNIST_SIZE)
    hi = np.ceil(np.maximum(a.max(axis=0), b.max(axis=0)) + reach).astype(int).clip(0, MNIST_SIZE)
    if (hi <= lo).any():
        return out
    xs = np.arange(lo[0], hi[0], dtype=np.float32) + np.float32(0.5)
    ys = np.arange(lo[1], hi[1], dtype=np.float32) + np.float32(0.5)
    px, py = np.meshgrid(xs, ys)
    px, py = px.reshape(-1, 1), py.reshape(-1, 1)
    a, b = a.astype(np.float32), b.astype(np.float32)
    ra, rb = ra.astype(np.float32), rb.astype(np.float32)
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    length2 = dx * dx + dy * dy
    inv = np.where(length2 > 0, 1.0 / np.where(length2 > 0, length2, 1.0), 0.0).astype(np.float32)
    ax, ay = px - a[:, 0], py - a[:, 1]  # (P, M)
    t = np.clip((ax * dx + ay * dy) * inv, 0.0, 1.0)
    ex, ey = ax - t * dx, ay - t * dy
    dist = np.sqrt(ex * ex + ey * ey)
    ink = np.clip(ra + t * (rb - ra) + 0.5 - dist, 0.0, 1.0).max(axis=1)
    out[lo[1]:hi[1], lo[0]:hi[0]] = ink.reshape(len(ys), len(xs))
    return out


def strokes_to_mnist(strokes: Sequence[np.ndarray]) -> np.ndarray | None:
    """The strokes written as an MNIST digit (see the module docstring): float32 (28, 28) in
    [0, 1], C-contiguous; None when there are no strokes. Raises InputError for points that
    are not (N, 3) finite numbers."""
    kept = _checked(strokes)
    if not kept:
        return None
    pts = np.concatenate(kept)
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    side = float((hi - lo).max())
    widest = float(pen_factor(pts[:, 2]).max()) * PEN_PX
    # The centre line's longer side plus the pen makes 20 px; a dot is a pen-wide blob.
    scale = (MNIST_BOX - widest) / side if side > 0 else 1.0
    middle = np.array([MNIST_SIZE / 2.0, MNIST_SIZE / 2.0])
    centred = [np.column_stack([(s[:, :2] - (lo + hi) / 2.0) * scale + middle, s[:, 2]]) for s in kept]
    field = _coverage(*_segments(centred))
    total = float(field.sum())
    if total <= 0:
        return None
    # The centre of mass to MNIST's centre, by whole pixels and never pushing ink out of
    # the field, exactly as to_mnist places a raster.
    idx = np.arange(MNIST_SIZE)
    cy = float(field.sum(axis=1) @ idx) / total
    cx = float(field.sum(axis=0) @ idx) / total
    rows = np.flatnonzero(field.any(axis=1))
    cols = np.flatnonzero(field.any(axis=0))
    dy = int(np.clip(round(MNIST_CENTRE - cy), -rows[0], MNIST_SIZE - 1 - rows[-1]))
    dx = int(np.clip(round(MNIST_CENTRE - cx), -cols[0], MNIST_SIZE - 1 - cols[-1]))
    out = np.zeros_like(field)
    out[rows[0] + dy : rows[-1] + 1 + dy, cols[0] + dx : cols[-1] + 1 + dx] = \
        field[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return out
