"""Careless handwriting, generated: digits as pen strokes, in many styles, drawn badly.

A held-out check for the canvas (``benchmarks/handwriting.py`` and the tests): nothing here
is trained on. Each digit has several ways of writing it (a closed and an open 4, a 7 with
a bar or a curved stem, a 1 as a bare line or with a flag and a base, a 3 and a 5 in one
stroke or two, a flat-topped 3, a looped 2 ...), each a few strokes of control points in a
unit box. :func:`careless` then draws one the way people do: at any size (a quarter of
the drawings small, a quarter of the canvas high or less, somewhere off-centre), slanted
and turned by up to 28 degrees, with tremor, overshoot at the ends, and strokes broken by
a lifted pen. Points come at a mouse's spacing, in canvas pixels.

numpy only; the same seed gives the same drawings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Control points (x, y), y down, in a unit box; one list per stroke.
STYLES: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [
        [[(0.5, 0.0), (0.1, 0.25), (0.1, 0.75), (0.5, 1.0), (0.9, 0.75), (0.9, 0.25), (0.5, 0.02)]],
        [[(0.55, 0.05), (0.2, 0.2), (0.05, 0.6), (0.35, 1.0), (0.8, 0.85), (0.95, 0.35), (0.7, 0.0), (0.45, 0.1)]],
        [[(0.5, 0.0), (0.25, 0.3), (0.25, 0.7), (0.5, 1.0), (0.75, 0.7), (0.75, 0.3), (0.5, 0.0)]],
    ],
    1: [
        [[(0.5, 0.0), (0.5, 1.0)]],  # a bare line
        [[(0.25, 0.2), (0.55, 0.0), (0.55, 1.0)], [(0.25, 1.0), (0.85, 1.0)]],  # flag and base
        [[(0.3, 0.25), (0.6, 0.0), (0.55, 1.0)]],  # flag only
        [[(0.6, 0.0), (0.4, 1.0)]],  # slanted line
    ],
    2: [
        [[(0.1, 0.25), (0.45, 0.0), (0.85, 0.2), (0.75, 0.5), (0.1, 1.0), (0.95, 1.0)]],
        [[(0.1, 0.3), (0.4, 0.0), (0.85, 0.25), (0.5, 0.7), (0.1, 1.0), (0.3, 0.8), (0.5, 0.95), (0.95, 0.95)]],  # looped
        [[(0.15, 0.2), (0.5, 0.0), (0.85, 0.3), (0.2, 1.0), (0.9, 0.95)]],
    ],
    3: [
        [[(0.1, 0.1), (0.5, 0.0), (0.85, 0.2), (0.45, 0.5), (0.9, 0.75), (0.5, 1.0), (0.1, 0.9)]],
        [[(0.1, 0.0), (0.85, 0.0), (0.4, 0.45), (0.85, 0.65), (0.6, 1.0), (0.1, 0.9)]],  # flat top
        [[(0.1, 0.1), (0.5, 0.0), (0.85, 0.2), (0.45, 0.5)], [(0.45, 0.5), (0.9, 0.75), (0.5, 1.0), (0.1, 0.9)]],  # two strokes
    ],
    4: [
        [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.7, 0.3), (0.7, 1.0)]],  # open... one stroke + stem
        [[(0.2, 0.0), (0.15, 0.6), (0.9, 0.6)], [(0.75, 0.0), (0.75, 1.0)]],  # open 4
        [[(0.65, 1.0), (0.65, 0.0), (0.1, 0.65), (0.95, 0.65)]],  # closed 4 in one stroke
    ],
    5: [
        [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45), (0.6, 0.4), (0.9, 0.7), (0.55, 1.0), (0.1, 0.9)]],
        [[(0.2, 0.0), (0.15, 0.45), (0.6, 0.4), (0.9, 0.7), (0.55, 1.0), (0.1, 0.9)], [(0.2, 0.0), (0.85, 0.0)]],  # two strokes
        [[(0.8, 0.05), (0.25, 0.05), (0.2, 0.45), (0.75, 0.5), (0.7, 0.95), (0.15, 0.95)]],
    ],
    6: [
        [[(0.75, 0.0), (0.3, 0.3), (0.12, 0.7), (0.45, 1.0), (0.85, 0.75), (0.5, 0.5), (0.15, 0.7)]],
        [[(0.6, 0.0), (0.2, 0.55), (0.3, 0.95), (0.7, 0.95), (0.75, 0.6), (0.25, 0.6)]],
    ],
    7: [
        [[(0.05, 0.0), (0.95, 0.0), (0.4, 1.0)]],
        [[(0.05, 0.05), (0.95, 0.0), (0.6, 0.4), (0.45, 1.0)]],  # curved stem
        [[(0.05, 0.0), (0.95, 0.0), (0.45, 1.0)], [(0.35, 0.5), (0.85, 0.5)]],  # crossbar
    ],
    8: [
        [[(0.85, 0.1), (0.5, 0.0), (0.15, 0.2), (0.5, 0.5), (0.9, 0.8), (0.5, 1.0), (0.1, 0.8), (0.5, 0.5), (0.85, 0.2), (0.8, 0.08)]],
        [[(0.5, 0.5), (0.15, 0.25), (0.5, 0.0), (0.85, 0.25), (0.5, 0.5), (0.1, 0.75), (0.5, 1.0), (0.9, 0.75), (0.5, 0.5)]],
    ],
    9: [
        [[(0.85, 0.2), (0.5, 0.0), (0.15, 0.25), (0.45, 0.5), (0.85, 0.3), (0.85, 0.0), (0.8, 1.0)]],
        [[(0.85, 0.3), (0.5, 0.0), (0.15, 0.3), (0.5, 0.55), (0.85, 0.3), (0.6, 1.0)]],  # curved stem
        [[(0.8, 0.15), (0.45, 0.0), (0.1, 0.25), (0.4, 0.5), (0.8, 0.25)], [(0.82, 0.05), (0.82, 1.0)]],  # two strokes
    ],
}


def _spline(ctrl: np.ndarray, per_unit: float) -> np.ndarray:
    """A Catmull-Rom curve through the control points, about ``per_unit`` points per unit length."""
    if len(ctrl) == 2:
        n = max(2, int(np.hypot(*(ctrl[1] - ctrl[0])) * per_unit))
        t = np.linspace(0, 1, n)[:, None]
        return ctrl[0] * (1 - t) + ctrl[1] * t
    p = np.vstack([ctrl[0], ctrl, ctrl[-1]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        n = max(2, int(np.hypot(*(p2 - p1)) * per_unit))
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(p[-2][None])
    return np.vstack(out)


@dataclass(frozen=True)
class Drawing:
    digit: int
    style: int
    small: bool
    strokes: list  # float arrays (N, 2) of canvas pixels


def careless(rng: np.random.Generator, digit: int, canvas: int = 280, small: bool | None = None) -> Drawing:
    """One digit written carelessly on a ``canvas`` px square (see the module docstring)."""
    style = int(rng.integers(len(STYLES[digit])))
    if small is None:
        small = bool(rng.random() < 0.25)
    height = canvas * (rng.uniform(0.13, 0.25) if small else rng.uniform(0.45, 0.85))
    width = height * rng.uniform(0.55, 0.95)
    angle = np.radians(rng.uniform(-28, 28) if rng.random() < 0.35 else rng.normal(0, 7))
    slant = rng.uniform(-0.35, 0.25)
    tremor = height * (rng.uniform(0.01, 0.04) if rng.random() < 0.4 else rng.uniform(0.0, 0.01))
    strokes = []
    for ctrl in STYLES[digit][style]:
        c = np.array(ctrl, dtype=float) + rng.normal(0, 0.035, (len(ctrl), 2))  # each hand its own shape
        pts = _spline(c, per_unit=200)
        if rng.random() < 0.3:  # overshoot: the pen runs on past the ends
            for end, prev in ((0, 1), (-1, -2)):
                d = pts[end] - pts[prev]
                d /= max(np.hypot(*d), 1e-9)
                extra = pts[end] + d * rng.uniform(0.03, 0.12) * np.linspace(0, 1, 8)[1:, None]
                pts = np.vstack([extra[::-1], pts]) if end == 0 else np.vstack([pts, extra])
        xy = np.column_stack([(pts[:, 0] - 0.5) * width, (pts[:, 1] - 0.5) * height])
        xy[:, 0] += slant * -xy[:, 1]
        # Tremor: smooth random wobble along the path, and a little jitter.
        n = len(xy)
        for freq in (3, 9):
            phase = rng.uniform(0, 2 * np.pi, 2)
            amp = tremor * rng.uniform(0.3, 1.0) / (1 if freq == 3 else 2)
            s = np.linspace(0, freq * np.pi, n)
            xy += amp * np.column_stack([np.sin(s + phase[0]), np.sin(s + phase[1])])
        xy += rng.normal(0, tremor * 0.15, xy.shape)
        strokes.append(xy)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    strokes = [s @ rot.T for s in strokes]
    if rng.random() < 0.25:  # a lifted pen breaks the longest stroke
        i = int(np.argmax([len(s) for s in strokes]))
        s = strokes[i]
        if len(s) > 20:
            at = int(rng.integers(len(s) // 5, 4 * len(s) // 5))
            gap = max(1, int(len(s) * rng.uniform(0.02, 0.06)))
            strokes[i:i + 1] = [s[:at], s[at + gap:]]
    allp = np.vstack(strokes)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    margin = 14.0
    room_lo, room_hi = margin - lo, canvas - margin - hi
    if small:
        centre = rng.uniform(np.minimum(room_lo, room_hi), np.maximum(room_lo, room_hi))
    else:  # people mostly draw a big digit about the middle
        centre = np.clip(canvas / 2 + rng.normal(0, canvas * 0.05, 2), np.minimum(room_lo, room_hi),
                         np.maximum(room_lo, room_hi))
    strokes = [s + centre for s in strokes]
    # A mouse reports a point every few pixels: resample each stroke at that spacing.
    out = []
    for s in strokes:
        seg = np.hypot(*np.diff(s, axis=0).T)
        along = np.concatenate([[0.0], np.cumsum(seg)])
        step = rng.uniform(2.0, 6.0)
        at = np.arange(0.0, along[-1] + 1e-9, step)
        if at[-1] < along[-1]:
            at = np.append(at, along[-1])
        out.append(np.column_stack([np.interp(at, along, s[:, 0]), np.interp(at, along, s[:, 1])]))
    return Drawing(digit, style, small, out)
