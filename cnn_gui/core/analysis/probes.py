"""How robust is the answer? The image the network reads, shifted, turned, scaled, thinned,
thickened and made noisy, all in one batch.

Each :class:`Transform` is a family of variants of the input along one range (shift -4..4
px, rotation -30..30 degrees, scale 0.6..1.4, stroke width -2..+4 px, noise 0..0.5); every range
holds its identity, which returns the input bit for bit. :func:`run_probes` builds the
~60 variants, runs them through the frozen model in one batch, and returns for each
transform the predicted class and its probability along the range, with the probability
of the original image's top class, so a plot can show where the answer flips.

Everything acts on the image in [0, 1] (0 = no ink) as the network reads it (28x28 for
the canvas), before normalisation, so an uncovered border is empty canvas; torch on the
CPU: whole-pixel shifts by slicing (exact), rotation and scale with ``affine_grid`` /
``grid_sample`` (bilinear, about the image centre), thickening as grey-level dilation
(``max_pool2d`` over a square one pixel wider than the change: a 3x3 square widens a
stroke by 2 px), thinning as erosion (the dilation of the negative), noise from a
fixed seed (the same pattern at every strength, clipped to [0, 1]).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from cnn_gui.core.analysis.predictor import Predictor

NOISE_SEED = 1234


def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``x`` (N, C, H, W) moved right by ``dx`` and down by ``dy`` whole pixels; the uncovered
    border is empty (0). Exact: pixels are copied, never resampled."""
    dx, dy = int(dx), int(dy)
    if dx == 0 and dy == 0:
        return x.clone()
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_y = slice(max(0, -dy), h - max(0, dy))
    dst_y = slice(max(0, dy), h - max(0, -dy))
    src_x = slice(max(0, -dx), w - max(0, dx))
    dst_x = slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def affine(x: torch.Tensor, degrees: Sequence[float], scales: Sequence[float]) -> torch.Tensor:
    """One copy of ``x`` (1, C, H, W) per (angle, scale) pair: turned counter-clockwise by
    ``degrees`` and enlarged by ``scales`` about the image centre, bilinear, empty outside.
    The identity pair (0, 1) returns ``x`` itself, bit for bit."""
    angles = torch.tensor([math.radians(d) for d in degrees], dtype=torch.float32)
    s = torch.tensor(list(scales), dtype=torch.float32)
    n = angles.shape[0]
    cos, sin = torch.cos(angles) / s, torch.sin(angles) / s
    # affine_grid maps output to input coordinates, hence the inverse: rotate back, shrink.
    # A counter-clockwise turn on screen (y down) samples the input at R(-angle).
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    batch = x.expand(n, *x.shape[1:])
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    identity = [(d == 0 and sc == 1) for d, sc in zip(degrees, scales)]
    for i, same in enumerate(identity):
        if same:
            out[i] = x[0]
    return out


def grey_dilate(x: torch.Tensor, size: int) -> torch.Tensor:
    """Grey-level dilation of ``x`` (N, C, H, W) by a ``size`` x ``size`` square (max over
    it); an even size reaches one pixel further right and down than left and up."""
    if size <= 1:
        return x.clone()
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    padded = F.pad(x, (before, after, before, after), value=float("-inf"))
    return F.max_pool2d(padded, size, stride=1)


def stroke(x: torch.Tensor, change: int) -> torch.Tensor:
    """Strokes ``change`` px wider (> 0: grey-level dilation by a (change+1)-square) or
    narrower (< 0: erosion, the dilation of the negative); 0 returns a copy."""
    change = int(change)
    if change >= 0:
        return grey_dilate(x, change + 1)
    return -grey_dilate(-x, 1 - change)


def noise(x: torch.Tensor, sigmas: Sequence[float], seed: int = NOISE_SEED) -> torch.Tensor:
    """One copy of ``x`` (1, C, H, W) per sigma with the same Gaussian pattern times sigma
    added, clipped to [0, 1]; sigma 0 returns ``x`` itself."""
    pattern = torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(seed))
    out = torch.stack([x[0] if s == 0 else (x[0] + float(s) * pattern).clamp_(0.0, 1.0) for s in sigmas])
    return out


@dataclass(frozen=True)
class Transform:
    key: str
    title: str  # for a plot: "Rotation"
    unit: str  # for the axis: "degrees"
    values: tuple[float, ...]  # the range, identity included
    identity: float

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The variants of ``x`` (1, C, H, W), one per value, as (len(values), C, H, W)."""
        return _APPLY[self.key](x, self.values)


_APPLY: dict[str, Callable[[torch.Tensor, tuple[float, ...]], torch.Tensor]] = {
    "shift_x": lambda x, v: torch.cat([shift(x, int(d), 0) for d in v]),
    "shift_y": lambda x, v: torch.cat([shift(x, 0, int(d)) for d in v]),
    "rotation": lambda x, v: affine(x, v, [1.0] * len(v)),
    "scale": lambda x, v: affine(x, [0.0] * len(v), v),
    "stroke": lambda x, v: torch.cat([stroke(x, int(s)) for s in v]),
    "noise": lambda x, v: noise(x, v),
}


def _range(lo: float, hi: float, step: float) -> tuple[float, ...]:
    n = round((hi - lo) / step)
    return tuple(round(lo + i * step, 6) for i in range(n + 1))


TRANSFORMS: tuple[Transform, ...] = (
    Transform("shift_x", "Shift right", "px", _range(-4, 4, 1), 0),
    Transform("shift_y", "Shift down", "px", _range(-4, 4, 1), 0),
    Transform("rotation", "Rotation", "degrees, + = counter-clockwise", _range(-30, 30, 5), 0),
    Transform("scale", "Scale", "times", _range(0.6, 1.4, 0.1), 1.0),
    Transform("stroke", "Stroke width", "px wider", _range(-2, 4, 1), 0),
    Transform("noise", "Noise", "sigma", _range(0.0, 0.5, 0.05), 0.0),
)


def transforms_for(reads_drawings: bool) -> tuple[Transform, ...]:
    """The transforms that mean something for weights that read drawings (all of them) or
    photos: a photo has no strokes, so "Stroke width" (a grey-level dilation) is left out."""
    return TRANSFORMS if reads_drawings else tuple(t for t in TRANSFORMS if t.key != "stroke")


@dataclass(frozen=True)
class Curve:
    """One transform's answers along its range."""

    transform: Transform
    images: np.ndarray  # float32 (n, H, W) or (n, C, H, W): the variants, in [0, 1]
    predicted: np.ndarray  # int64 (n,): the top class of each variant
    confidence: np.ndarray  # float32 (n,): the probability of that top class
    original_probability: np.ndarray  # float32 (n,): the probability of the original's top class

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.transform.values, dtype=np.float64)

    def flips(self, original: int) -> np.ndarray:
        """Indices where the answer is not the original top class."""
        return np.flatnonzero(self.predicted != original)

    def stable_range(self, original: int) -> tuple[float, float]:
        """The values around the identity over which the answer stays ``original``
        (contiguous: the first flip on each side ends it)."""
        v = self.transform.values
        i0 = v.index(self.transform.identity)
        lo = hi = i0
        while lo > 0 and self.predicted[lo - 1] == original:
            lo -= 1
        while hi < len(v) - 1 and self.predicted[hi + 1] == original:
            hi += 1
        return v[lo], v[hi]


@dataclass(frozen=True)
class ProbeResult:
    original: int  # the top class of the untouched image
    original_probability: float
    classes: tuple[str, ...]
    curves: tuple[Curve, ...]
    seconds: float

    def curve(self, key: str) -> Curve:
        for c in self.curves:
            if c.transform.key == key:
                return c
        raise KeyError(key)

    @property
    def variants(self) -> int:
        return sum(len(c.transform.values) for c in self.curves)


def variants(image: np.ndarray, transforms: Sequence[Transform] = TRANSFORMS, dark_ink: bool = False) -> torch.Tensor:
    """Every transform's variants of ``image`` ((H, W) or (C, H, W) in [0, 1]) in one
    float32 batch (N, C, H, W), in the order of ``transforms`` and their values.

    ``dark_ink``: dark strokes on light paper (a folder of scans): the transforms act on the
    negative, so that thickening thickens the strokes and a shift brings in paper, not ink.
    """
    a = np.asarray(image, dtype=np.float32)
    x = torch.from_numpy(np.ascontiguousarray(a if a.ndim == 3 else a[None]))[None]
    if dark_ink:
        return 1.0 - torch.cat([t.apply(1.0 - x) for t in transforms])
    return torch.cat([t.apply(x) for t in transforms])


def run_probes(predictor: "Predictor", image: np.ndarray,
               transforms: Sequence[Transform] = TRANSFORMS) -> ProbeResult:
    """All ``transforms`` of ``image`` through ``predictor``'s frozen model in one batch."""
    start = time.perf_counter()
    a = np.asarray(image, dtype=np.float32)
    batch = variants(a, transforms, dark_ink=predictor.preparation.ink == "dark")
    x = torch.cat([torch.from_numpy(np.ascontiguousarray(a if a.ndim == 3 else a[None]))[None], batch])
    mean = torch.tensor(predictor.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(predictor.std, dtype=torch.float32).view(1, -1, 1, 1)
    with torch.inference_mode():
        logits = predictor.model((x - mean) / std)
        probs = torch.softmax(logits.float().reshape(x.shape[0], -1), 1).numpy()
    original = int(probs[0].argmax())
    original_probability = float(probs[0, original])
    probs = probs[1:]
    top = probs.argmax(1)
    images = batch.numpy()
    if a.ndim == 2:
        images = images[:, 0]
    curves = []
    at = 0
    for t in transforms:
        n = len(t.values)
        sl = slice(at, at + n)
        curves.append(Curve(t, images[sl].copy(), top[sl].astype(np.int64),
                            probs[sl][np.arange(n), top[sl]].astype(np.float32),
                            probs[sl, original].astype(np.float32)))
        at += n
    classes = predictor.classes
    if not classes or len(classes) != probs.shape[1]:
        classes = tuple(str(i) for i in range(probs.shape[1]))
    return ProbeResult(original, original_probability, tuple(classes), tuple(curves), time.perf_counter() - start)
