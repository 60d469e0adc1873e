"""Turn a drawing into a 28x28 image made the way MNIST's digits were made.

A network trained on MNIST has only ever seen digits prepared in one particular way
(LeCun et al.): the writer's digit was cropped to its ink, scaled with anti-aliasing so
that it fits a **20x20 box** keeping its aspect ratio, and put into a **28x28 field** so
that its **centre of mass** lies at the centre of the field.  A digit drawn on a big
canvas, off-centre, with thick strokes, looks nothing like that, and the network guesses
badly.  :func:`to_mnist` repeats MNIST's preparation, so the network reads a drawing as
it would read a test image; :func:`normalize` then applies the same normalisation as in
training.

numpy only (no PIL/cv2, no torch): one call on a 280x280 drawing takes well under 2 ms.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from cnn_gui.core.errors import CnnGuiError

MNIST_SIZE = 28  # the field
MNIST_BOX = 20  # the digit's longer side inside the field
MNIST_CENTRE = 14.0  # where the centre of mass goes (row/column index, as in MNIST tools)
# A drawing smaller than this share of the canvas is not read (see too_little_ink).
MIN_INK_EXTENT = 0.15
TOO_LITTLE_INK_TEXT = "Too little ink to read: draw a bigger digit"


@lru_cache(maxsize=256)
def _resample_matrix(src: int, dst: int) -> np.ndarray:
    """A (dst, src) matrix that resamples a 1-D signal of ``src`` pixels to ``dst`` pixels.

    Down-scaling (dst < src) is area averaging, a box filter: each output pixel is the
    mean of the source pixels it covers, counting partly covered ones by their overlap.
    This is the anti-aliasing that keeps thin strokes grey instead of letting them vanish
    or alias.  Up-scaling (a tiny drawing) is linear interpolation between pixel centres,
    which stays smooth where area averaging would give blocky copies of pixels.
    Each row sums to 1, so a constant image stays constant.
    """
    m = np.zeros((dst, src), dtype=np.float64)
    if dst == src:
        np.fill_diagonal(m, 1.0)
    elif dst < src:
        scale = src / dst  # source pixels per output pixel
        edges = np.arange(dst + 1) * scale
        for i in range(dst):
            lo, hi = edges[i], edges[i + 1]
            j0, j1 = int(np.floor(lo)), min(int(np.ceil(hi)), src)
            j = np.arange(j0, j1)
            overlap = np.minimum(j + 1, hi) - np.maximum(j, lo)
            m[i, j0:j1] = overlap / scale
    else:
        # centre of output pixel i, in source pixel coordinates
        x = (np.arange(dst) + 0.5) * (src / dst) - 0.5
        x = np.clip(x, 0.0, src - 1)
        j0 = np.floor(x).astype(int)
        j1 = np.minimum(j0 + 1, src - 1)
        t = x - j0
        rows = np.arange(dst)
        np.add.at(m, (rows, j0), 1.0 - t)
        np.add.at(m, (rows, j1), t)
    m.setflags(write=False)
    return m


class InputError(CnnGuiError):
    """An image array that cannot be read: wrong shape or type, empty, too big, NaN."""


# The canvas is 280x280 and read_digit_image gives at most 1024 a side: anything much
# bigger is a mistake, and would cost seconds and gigabytes before anyone noticed.
MAX_SIDE = 4096


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "a scalar"


def as_unit_float(image: object, what: str = "the image") -> np.ndarray:
    """``image``'s pixels as float32 in [0, 1], whatever their type; any shape.

    Floats and bools are taken as they are (clipped to [0, 1]); integers are scaled by
    their type's range: uint8 by 255, uint16 by 65535, signed types by their maximum,
    with negative values clipped to 0.  A 16-bit scan clipped to [0, 1] instead made
    every pixel that was not pure black full ink.  Raises :class:`InputError` for NaN or
    infinite pixels, for 64-bit integers (no image is stored so: they are Python ints
    whose range nobody knows) and for anything that is not an array of numbers.
    """
    try:
        a = np.asarray(image)
    except (ValueError, TypeError, RuntimeError) as exc:  # a ragged list, a tensor needing grad
        raise InputError(f"{what} is not an array of pixels: {exc}") from None
    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.float32)
    if kind in "ui":
        if a.dtype.itemsize >= 8:
            raise InputError(f"{what} has 64-bit integer pixels, whose range is unknown: "
                             "give uint8 (0-255), uint16 (0-65535) or float (0-1) pixels")
        top = np.float32(np.iinfo(a.dtype).max)
        return np.clip(a.astype(np.float32) / top, 0.0, 1.0)
    if kind != "f":
        raise InputError(f"{what} must hold numbers, not {a.dtype} values")
    bad = ~np.isfinite(a)  # before float32, where 1e300 would become inf
    if bad.any():
        raise InputError(f"{what} has {int(bad.sum()):,} NaN or infinite pixel(s) of {a.size:,}")
    return np.clip(a, 0.0, 1.0).astype(np.float32, copy=False)


def _as_float_image(image: np.ndarray) -> np.ndarray:
    try:
        a = np.asarray(image)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise InputError(f"the image is not an array of pixels: {exc}") from None
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    elif a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise InputError(f"expected a 2-D grey image (height x width), got an array of shape {shape_text(a.shape)}")
    if a.size == 0:
        raise InputError(f"the image is empty ({shape_text(a.shape)} pixels)")
    if max(a.shape) > MAX_SIDE:
        raise InputError(f"the image is {shape_text(a.shape)} pixels: too large, at most {MAX_SIDE} a side; "
                         "scale it down first")
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    return as_unit_float(a, "the image")


def ink_extent(image: np.ndarray, threshold: float = 0.05) -> tuple[int, int]:
    """(height, width) in pixels of the bounding box of the ink (pixels above
    ``threshold``) in a drawing as :func:`to_mnist` takes it; (0, 0) when there is none."""
    mask = _as_float_image(image) > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0, 0
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def too_little_ink(image: np.ndarray, min_extent: float = MIN_INK_EXTENT, threshold: float = 0.05) -> bool:
    """True when a drawing is too small to be read as a digit: its ink's bounding box is
    shorter, on its longer side, than ``min_extent`` of the drawing's longer side.

    :func:`to_mnist` scales any ink to 20 px, so a dot becomes a big round blob, which a
    network reads as a confident "0".  15 % of a 280 px canvas is 42 px, a little more
    than a dot of the widest pen (40 px); a digit is drawn several times bigger.
    """
    img = _as_float_image(image)
    h, w = ink_extent(img, threshold)
    return max(h, w) < min_extent * max(img.shape)


def to_mnist(image: np.ndarray, threshold: float = 0.05) -> np.ndarray | None:
    """Prepare a drawing the way MNIST's digits were prepared; None when nothing is drawn.

    ``image`` is a 2-D array (at most :data:`MAX_SIDE` a side) with white ink on black:
    floats in [0, 1] (ink = 1.0), bools, or integers scaled by their type's range (uint8
    by 255, see :func:`as_unit_float`).  Raises :class:`InputError` for anything else
    (NaN, 3-D, empty ...).  Steps, as in MNIST:

    1. crop to the bounding box of the pixels brighter than ``threshold``;
    2. scale it so that its longer side is 20 px, keeping the aspect ratio, with
       anti-aliasing (area averaging when shrinking);
    3. place it in a 28x28 field so that the ink's centre of mass is at (14, 14), the
       shift rounded to whole pixels and clipped so that no ink is cut off.

    Returns a C-contiguous float32 (28, 28) array in [0, 1].
    """
    img = _as_float_image(image)
    mask = img > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    crop = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape

    # Longer side -> 20 px, the other side in proportion (at least 1 px).
    if h >= w:
        nh, nw = MNIST_BOX, max(1, int(round(w * MNIST_BOX / h)))
    else:
        nh, nw = max(1, int(round(h * MNIST_BOX / w))), MNIST_BOX
    small = _resample_matrix(h, nh) @ crop.astype(np.float64) @ _resample_matrix(w, nw).T
    np.clip(small, 0.0, 1.0, out=small)

    # Centre of mass of the scaled digit, in its own coordinates.
    total = small.sum()
    if total <= 0:
        return None
    cy = float(small.sum(axis=1) @ np.arange(nh)) / total
    cx = float(small.sum(axis=0) @ np.arange(nw)) / total
    top = int(np.clip(round(MNIST_CENTRE - cy), 0, MNIST_SIZE - nh))
    left = int(np.clip(round(MNIST_CENTRE - cx), 0, MNIST_SIZE - nw))

    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    out[top : top + nh, left : left + nw] = small
    return out


def normalize(
    img28: np.ndarray,
    mean: float | Sequence[float] = 0.5,
    std: float | Sequence[float] = 0.5,
) -> np.ndarray:
    """``(x - mean) / std`` as in training, shaped (C, H, W): one sample, without a batch axis.

    The tutorial trains on ``transforms.Normalize([0.5], [0.5])`` of images in [0, 1], so
    a drawing must be normalised the same way or the network sees other numbers than it
    learned on.  A 2-D (H, W) image becomes (1, H, W); a (C, H, W) image keeps its shape
    and takes one mean/std per channel.  Add the batch axis (``[None]``) to feed a model.
    Returns a new C-contiguous float32 array.
    """
    x = np.asarray(img28, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"expected an (H, W) or (C, H, W) image, got shape {shape_text(x.shape)}")
    m = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    if m.shape[0] not in (1, x.shape[0]) or s.shape[0] not in (1, x.shape[0]):
        raise InputError(f"mean/std have {m.shape[0]}/{s.shape[0]} values for {x.shape[0]} channel(s)")
    return np.ascontiguousarray((x - m) / s, dtype=np.float32)
