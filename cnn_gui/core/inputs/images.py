"""Read a photo or scan of one handwritten digit as the ink map MNIST expects.

MNIST stores light ink on black: ink = 1.0, paper = 0.0.  A photo is nothing like
that: the paper is grey, beige or lit unevenly, the ink may be dark on light or light on
dark, the file may be 16-bit, have a transparent background, or be 50 megapixels.
Taking "1 - grey when the image is light" as ink made the paper itself ink on anything
but pure white paper (light grey paper read as a blob, i.e. "8").  So, instead:

1. **Open safely** (:func:`load_grey`).  The header's size is checked before anything
   is decoded: images over :data:`MAX_SIDE` pixels a side or :data:`MAX_PIXELS` in all
   are refused, and Pillow's decompression-bomb warning becomes an :class:`ImageError`.
   Acceptable big images are shrunk to at most :data:`WORK_SIDE` pixels a side while
   loading (JPEG decodes at 1/2, 1/4, 1/8 scale; others are box-averaged), so a 50 MP
   photo costs what a 1 MP one does after decoding.  Only common raster formats are
   opened (not EPS, which Pillow hands to Ghostscript).  Colour becomes luminance
   (Rec. 601), 16-bit greys keep their 16 bits, and a transparent background is
   composited onto a paper that contrasts with the drawing.
2. **Find the paper** (:func:`extract_ink`).  The background is a smooth field, fitted
   (a quadratic surface, robustly) to block medians: first to the image's border, where
   the paper is, then to every block that agrees with it, so a gradient of light across
   the page or a darker corner is paper, not ink.
3. **Find the ink**: whatever departs from the paper further than the noise does.  Its
   polarity is the side with more such mass (dark ink on light paper, or light on dark);
   the ink's typical contrast maps to 1.0 and anything within the paper's noise to 0.
   Specks of dust away from the digit are dropped (connected components), because
   :func:`~cnn_gui.core.inputs.preprocess.to_mnist` crops to *all* the ink.

Not handled: a photo that shows more than the paper (a table, the page's edge or its
shadow at the border), ruled or squared paper, sharp shadows across the digit: crop the
photo to the paper around the digit.  numpy and Pillow only.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np

from cnn_gui.core.errors import CnnGuiError, short_repr
from cnn_gui.core.files.safe_io import open_regular

# A 48/50 MP phone photo (8160x6120) still opens; anything bigger is refused before
# decoding. Decoding 50 MP of RGBA takes ~200 MB, once, for a moment.
MAX_SIDE = 10_000
MAX_PIXELS = 50_000_000
MAX_FILE_BYTES = 256 * 1024 * 1024  # a photo or scan of one digit is far smaller
# Plenty for a digit that ends up 20 px high, and small enough that the ink search takes
# ~100 ms.
WORK_SIDE = 1024
FORMATS = ("PNG", "JPEG", "MPO", "BMP", "DIB", "GIF", "TIFF", "WEBP", "PPM", "TGA", "QOI")

# Ink must differ from the paper by this much of the full range (25 of 255 levels), or
# the image is taken as blank: a blank page's texture is not a digit.
MIN_CONTRAST = 0.1
# What is within this many noise sigmas of the paper is paper.
NOISE_SIGMAS = 4.0
# A speck is dropped when it holds less than this share of the biggest piece of ink...
SPECK_SHARE = 0.1
# ...unless it lies close to it (a broken stroke) and is not just a few pixels.
NEAR_SHARE = 0.01
NEAR = 0.25  # "close": within this fraction of the biggest piece's size of its box


class ImageError(CnnGuiError):
    """An image file that cannot be read (missing, damaged, not an image, too large)."""


def read_digit_image(path: str | os.PathLike, *, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS,
                     work_side: int = WORK_SIDE) -> np.ndarray:
    """The ink of the digit in an image file: float32 (H, W), ink = 1.0, paper = 0.0.

    Dark ink on light paper and light ink on dark paper both come out as MNIST's light
    ink on black.  Feed the result to :func:`~cnn_gui.core.inputs.preprocess.to_mnist`.  A blank
    page gives all zeros.  Raises :class:`ImageError` (one line, naming the file) for a
    file that is missing, unreadable, not an image, damaged or too large.
    """
    return extract_ink(load_grey(path, max_side=max_side, max_pixels=max_pixels, work_side=work_side))


# ----------------------------------------------------------------------------- loading
def _name(path: object) -> str:
    return short_repr(os.fspath(path) if isinstance(path, os.PathLike) else str(path), limit=120)


def _formats(image_module) -> tuple[str, ...]:
    image_module.init()  # registers every plugin, so that the list below can be checked
    return tuple(f for f in FORMATS if f in image_module.OPEN)


def load_grey(path: str | os.PathLike, *, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS,
              work_side: int = WORK_SIDE) -> np.ndarray:
    """The image's luminance, float32 (H, W) in [0, 1], at most ``work_side`` px a side.

    A transparent background is composited onto a paper colour (see :func:`composite`).
    Raises :class:`ImageError` as :func:`read_digit_image` does.
    """
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:  # a declared dependency, but a broken environment should say so in one line
        raise ImageError("reading images needs Pillow: pip install pillow") from None

    name = _name(path)
    try:
        p = Path(path)
        if not p.exists():
            raise ImageError(f"image not found: {name}")
        # Regular files only, checked on the open descriptor: a FIFO or a device named x.png
        # must never be waited on or read forever.
        handle = open_regular(p, MAX_FILE_BYTES)
    except ImageError:
        raise
    except (OSError, ValueError, TypeError) as exc:  # not a file, too big, a name too long, a NUL byte
        raise ImageError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    with handle:
        return _decoded(handle, name, max_side, max_pixels, work_side)


def _decoded(handle, name: str, max_side: int, max_pixels: int, work_side: int) -> np.ndarray:
    """The luminance of the image in the open file ``handle`` (see :func:`load_grey`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    bomb = (Image.DecompressionBombWarning, Image.DecompressionBombError)
    with warnings.catch_warnings():
        # Pillow warns about odd but readable files (bad EXIF, palette transparency):
        # nothing a user can act on. The bomb warning alone becomes an error.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(handle, formats=_formats(Image)) as im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise ImageError(f"cannot read {name}: the image has no pixels")
                if max(w, h) > max_side or w * h > max_pixels:
                    raise ImageError(
                        f"{name} is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels): too large to read; "
                        f"cnn-gui reads images up to {max_side:,} pixels a side and "
                        f"{max_pixels / 1e6:g} megapixels, so crop or scale it down")
                if im.format in ("JPEG", "MPO") and im.mode in ("L", "RGB", "YCbCr"):
                    im.draft("L", (work_side, work_side))  # decode at 1/2..1/8 scale, grey only
                im.load()
                if _orientation(im) not in (1, None):  # no copy of an upright image
                    im = ImageOps.exif_transpose(im)  # phones store pictures sideways plus a rotation tag
                lum, alpha = _planes(im, work_side)
        except ImageError:
            raise
        except bomb as exc:
            raise ImageError(f"{name} is too large to read safely (a possible decompression bomb): {exc}") from None
        except UnidentifiedImageError:
            raise ImageError(f"cannot read {name} as an image: not a PNG, JPEG, BMP, GIF, TIFF, WebP, "
                             "PPM, TGA or QOI file") from None
        except MemoryError:
            raise ImageError(f"cannot read {name}: not enough memory to decode it") from None
        except Exception as exc:  # noqa: BLE001 - a damaged file makes Pillow raise almost anything
            detail = str(exc) or type(exc).__name__
            raise ImageError(f"cannot read {name} as an image: {detail}") from None
    if not np.isfinite(lum).all():
        raise ImageError(f"cannot read {name}: its pixels hold NaN or infinite values")
    return composite(lum, alpha) if alpha is not None else lum


def _orientation(im) -> int | None:
    """The EXIF orientation tag, or None: a damaged EXIF block must not make a readable
    picture unreadable."""
    try:
        return im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises whatever the bytes provoke
        return None


def _has_alpha(im) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _shrink(im, factor: int):
    """``im`` box-averaged by ``factor`` (Pillow's reduce, or a BOX resize for the modes
    reduce does not take, such as I;16)."""
    if factor <= 1:
        return im
    try:
        return im.reduce(factor)
    except ValueError:
        from PIL import Image

        size = (max(1, im.size[0] // factor), max(1, im.size[1] // factor))
        return im.resize(size, Image.Resampling.BOX)


def _planes(im, work_side: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(luminance, alpha or None) as float32 in [0, 1], box-averaged to <= ``work_side``.

    Big images are shrunk before any full-size copy is made where Pillow allows it, so a
    decoded 50 MP image is the only big thing in memory.  With alpha, the luminance is
    premultiplied by it: averaging premultiplied values is what a shrunk transparent
    image shows, where plain ones would bleed the invisible colour of transparent pixels
    into the drawing's edges.
    """
    from PIL import ImageChops

    factor = max(1, math.ceil(max(im.size) / work_side))
    if _has_alpha(im):
        if im.mode not in ("RGBA", "LA"):
            im = im.convert("RGBA")  # palette or tRNS transparency, premultiplied modes
        alpha = im.getchannel("A")
        lum = ImageChops.multiply(im.convert("L"), alpha)  # 8-bit planes: a quarter of RGBA each
        lum, alpha = _shrink(lum, factor), _shrink(alpha, factor)
        scale = np.float32(1.0 / 255.0)
        return np.asarray(lum, np.float32) * scale, np.asarray(alpha, np.float32) * scale
    if im.mode in ("1", "P"):
        im = im.convert("L")  # palette indices cannot be averaged
    im = _shrink(im, factor)
    if im.mode.startswith("I;16"):
        im, full = im.convert("I"), 65535.0
    elif im.mode in ("I", "F"):
        full = None  # its range is whatever the file holds
    else:  # "L", "RGB", "CMYK", "YCbCr", "HSV": 8 bits a channel
        im, full = im.convert("L"), 255.0
    g = np.asarray(im, dtype=np.float32)
    if full is None:
        if not np.isfinite(g).all():
            return g, None  # load_grey refuses it
        lo, hi = float(g.min()), float(g.max())
        if im.mode == "I" and lo >= 0 and hi <= 65535:
            full = 65535.0  # a 16-bit image that Pillow opened as 32-bit
        elif lo >= 0 and hi <= 1:
            full = 1.0  # float pixels already in [0, 1]
        else:
            g = g - lo
            full = max(hi - lo, 1e-12)
    return np.clip(g * np.float32(1.0 / full), 0.0, 1.0), None


def composite(lum_premultiplied: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A transparent image on paper: ``lum + (1 - alpha) * paper``, float32 in [0, 1].

    When what shows covers less than half of the image, it is the drawing: the paper is
    white under a dark drawing and black under a light one, so a black digit on a
    transparent background is black ink on white paper, and a white one white ink on
    black (whatever colour the invisible pixels have).  When it covers more, it is a page
    with transparent margins: the margins get the page's colour.
    """
    lum = np.asarray(lum_premultiplied, dtype=np.float32)
    a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    if a.size == 0 or float(a.min()) >= 0.995:
        return np.clip(lum, 0.0, 1.0)
    shown = a > 0.5
    if not shown.any():
        return np.ones_like(lum)  # nothing visible: a blank page
    median = float(np.median(lum[shown] / a[shown]))
    if shown.mean() < 0.5:
        paper = 1.0 if median < 0.5 else 0.0
    else:
        paper = median
    return np.clip(lum + (1.0 - a) * np.float32(paper), 0.0, 1.0)


# ----------------------------------------------------------------------------- ink
def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)-wide window along both axes, edges repeated."""
    if r <= 0:
        return a
    out = a
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = ((hi - lo) / (2 * r + 1)).astype(np.float32)
    return out


def _block_medians(a: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Medians of a grid of about ``blocks`` x ``blocks`` cells: (values, y, x, on_border),
    with the cells' centres in [-1, 1]."""
    h, w = a.shape
    ny, nx = max(1, min(blocks, h // 2)), max(1, min(blocks, w // 2))
    ey = np.linspace(0, h, ny + 1).round().astype(int)
    ex = np.linspace(0, w, nx + 1).round().astype(int)
    vals = np.empty((ny, nx), np.float64)
    for i in range(ny):
        for j in range(nx):
            vals[i, j] = np.median(a[ey[i]:ey[i + 1], ex[j]:ex[j + 1]])
    cy = ((ey[:-1] + ey[1:]) / 2.0) / max(h, 1) * 2.0 - 1.0
    cx = ((ex[:-1] + ex[1:]) / 2.0) / max(w, 1) * 2.0 - 1.0
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    border = np.zeros((ny, nx), bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    return vals.ravel(), yy.ravel(), xx.ravel(), border.ravel()


def _terms(y: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    return [np.ones_like(x), x, y, x * x, x * y, y * y]


def _fit_paper(vals: np.ndarray, y: np.ndarray, x: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Coefficients of the quadratic surface of the paper, fitted robustly to block medians:
    to the border's blocks first, then to all blocks that agree with that fit."""
    A = np.stack(_terms(y, x), axis=1)
    use = border.copy()
    coef = np.zeros(A.shape[1])
    coef[0] = np.median(vals[border])
    for step in range(8):
        if use.sum() >= A.shape[1]:
            coef = np.linalg.lstsq(A[use], vals[use], rcond=None)[0]
        resid = vals - A @ coef
        sigma = 1.4826 * float(np.median(np.abs(resid[use]))) if use.any() else 0.0
        # a floor: paper texture and JPEG blocks are not Gaussian noise
        near = np.abs(resid) <= max(3.0 * sigma, 0.02)
        use = (near & border) if step < 3 else near
        if not use.any():
            use = border
    return coef


def _paper_field(g: np.ndarray) -> np.ndarray:
    vals, y, x, border = _block_medians(g, 24)
    coef = _fit_paper(vals, y, x, border)
    h, w = g.shape
    ys = ((np.arange(h) + 0.5) / h * 2.0 - 1.0).astype(np.float32)[:, None]
    xs = ((np.arange(w) + 0.5) / w * 2.0 - 1.0).astype(np.float32)[None, :]
    field = np.zeros((h, w), np.float32)
    for c, t in zip(coef, _terms(ys, xs)):
        field += np.float32(c) * t
    return field


def _noise(resid: np.ndarray) -> float:
    """The paper's noise sigma: the median absolute deviation of the residual (the paper
    is most of the page), on a sample of at most ~256 x 256 pixels."""
    h, w = resid.shape
    sample = resid[:: max(1, h // 256), :: max(1, w // 256)]
    return 1.4826 * float(np.median(np.abs(sample - np.median(sample))))


def extract_ink(grey: np.ndarray) -> np.ndarray:
    """The ink in a grey image (float in [0, 1]): float32 of the same shape, ink = 1, paper = 0.

    See the module's docstring for the steps.  All zeros when nothing departs from the
    paper by :data:`MIN_CONTRAST` of the full range.
    """
    g = np.asarray(grey, dtype=np.float32)
    if g.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {g.shape}")
    if g.size == 0:
        return np.zeros(g.shape, np.float32)
    if not np.isfinite(g).all():
        raise ValueError("the image holds NaN or infinite values")
    h, w = g.shape
    smooth = _box_blur(g, max(h, w) // 300)  # noise down; strokes of a big photo are far wider
    field = _paper_field(smooth) if min(h, w) >= 4 else np.full_like(g, float(np.median(g)))
    resid = smooth - field
    floor = max(NOISE_SIGMAS * _noise(resid), 0.02)
    dark = float(np.clip(-resid - floor, 0, None).sum()) >= float(np.clip(resid - floor, 0, None).sum())
    if dark:
        # Light multiplies: where the page is lit half as much, the same ink is half as far
        # below the paper. Dark ink's share of the paper's brightness is the same everywhere.
        ink = -resid / np.maximum(field, np.float32(0.05))
        floor = max(NOISE_SIGMAS * _noise(ink), 0.02)
    else:
        ink = resid
    strong = ink[ink > floor]
    if strong.size == 0:
        return np.zeros(g.shape, np.float32)
    level = float(np.percentile(strong, 90))  # the ink's own contrast; anti-aliased edges are less
    if level < MIN_CONTRAST:
        return np.zeros(g.shape, np.float32)
    low = max(floor, 0.2 * level)
    out = np.clip((ink - low) / (level - low), 0.0, 1.0).astype(np.float32)
    return _drop_specks(out)


# ----------------------------------------------------------------------------- specks
def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean image: (labels 1..n, 0 = background; n).

    Runs of each row are joined with the overlapping runs of the row above through a
    union-find, which is fast in Python for the small masks it is given here.
    """
    h, w = mask.shape
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    runs: list[tuple[int, int, int, int]] = []  # row, start, end (exclusive), run id
    prev: list[tuple[int, int, int]] = []
    for yy in range(h):
        starts = np.flatnonzero(d[yy] == 1).tolist()
        ends = np.flatnonzero(d[yy] == -1).tolist()
        cur = []
        k = 0
        for s, e in zip(starts, ends):
            rid = len(parent)
            parent.append(rid)
            # skip runs of the row above that end before this one starts (diagonals touch)
            while k < len(prev) and prev[k][1] < s:
                k += 1
            m = k
            while m < len(prev) and prev[m][0] <= e:
                a, b = find(rid), find(prev[m][2])
                if a != b:
                    parent[max(a, b)] = min(a, b)
                m += 1
            cur.append((s, e, rid))
            runs.append((yy, s, e, rid))
        prev = cur
    labels = np.zeros((h, w), np.int32)
    roots: dict[int, int] = {}
    for yy, s, e, rid in runs:
        r = find(rid)
        labels[yy, s:e] = roots.setdefault(r, len(roots) + 1)
    return labels, len(roots)


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """``ink`` with the small pieces far from the digit set to 0."""
    h, w = ink.shape
    f = max(1, math.ceil(max(h, w) / 128))  # components on a <= 128 px grid
    ph, pw = math.ceil(h / f), math.ceil(w / f)
    padded = np.zeros((ph * f, pw * f), np.float32)
    padded[:h, :w] = ink
    cells = padded.reshape(ph, f, pw, f)
    mass = cells.sum(axis=(1, 3))
    strong = cells.max(axis=(1, 3)) > 0.5
    labels, n = _label(strong)
    if n == 0:
        return ink
    weights = np.bincount(labels.ravel(), weights=mass.ravel(), minlength=n + 1)
    weights[0] = 0.0
    # each piece's bounding box, all at once (a textured page can have thousands of pieces)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    y_lo, x_lo = np.full(n + 1, ph, np.int64), np.full(n + 1, pw, np.int64)
    y_hi, x_hi = np.full(n + 1, -1, np.int64), np.full(n + 1, -1, np.int64)
    np.minimum.at(y_lo, lab, ys)
    np.minimum.at(x_lo, lab, xs)
    np.maximum.at(y_hi, lab, ys)
    np.maximum.at(x_hi, lab, xs)
    big = int(np.argmax(weights))
    margin = NEAR * max(y_hi[big] - y_lo[big] + 1, x_hi[big] - x_lo[big] + 1)
    near = ((y_hi >= y_lo[big] - margin) & (y_lo <= y_hi[big] + margin)
            & (x_hi >= x_lo[big] - margin) & (x_lo <= x_hi[big] + margin))
    share = weights / weights[big]
    keep = (share >= SPECK_SHARE) | ((share >= NEAR_SHARE) & near)
    keep[0] = False
    kept = keep[labels]
    # Faint ink next to a kept piece (its anti-aliased edge) stays: grow by one cell.
    # Faint ink anywhere else goes, as it would stretch to_mnist's crop.
    grown = kept.copy()
    grown[1:, :] |= kept[:-1, :]
    grown[:-1, :] |= kept[1:, :]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    full = np.repeat(np.repeat(grown, f, axis=0), f, axis=1)[:h, :w]
    return np.where(full, ink, np.float32(0.0)).astype(np.float32)
