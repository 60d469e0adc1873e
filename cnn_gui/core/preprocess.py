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

MNIST_SIZE = 28  # the field
MNIST_BOX = 20  # the digit's longer side inside the field
MNIST_CENTRE = 14.0  # where the centre of mass goes (row/column index, as in MNIST tools)


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


def _as_float_image(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    elif a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got an array of shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    return np.clip(a.astype(np.float32, copy=False), 0.0, 1.0)


def to_mnist(image: np.ndarray, threshold: float = 0.05) -> np.ndarray | None:
    """Prepare a drawing the way MNIST's digits were prepared; None when nothing is drawn.

    ``image`` is a 2-D array of any size with white ink on black: floats in [0, 1]
    (ink = 1.0) or uint8 in 0..255.  Steps, as in MNIST:

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
        raise ValueError(f"expected an (H, W) or (C, H, W) image, got shape {x.shape}")
    m = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    if m.shape[0] not in (1, x.shape[0]) or s.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"mean/std have {m.shape[0]}/{s.shape[0]} values for {x.shape[0]} channel(s)")
    return np.ascontiguousarray((x - m) / s, dtype=np.float32)
