"""Reading image files for a folder dataset: each one decoded safely, once, into the input shape.

- only PNG, JPEG, BMP, GIF and WebP decoders are used (a ``.png`` that is really an EPS
  file is not handed to Ghostscript); the header's size is checked before decoding, so a
  decompression bomb is refused, not decoded;
- the EXIF orientation is applied (phone photos are stored sideways), transparency is
  composited onto white, 16-bit greys are scaled to 8 bits;
- grey (``L``) for one input channel, RGB for three;
- **fit, not stretch**: the image is scaled, keeping its aspect, to fit inside HxW and
  centred on a background of its own border colour (the median of its edge pixels). A
  circle stays a circle, and the padding looks like the picture's own background rather
  than black bars whose shape would tell the network each photo's aspect ratio.

Each file is opened through :func:`~cnn_gui.core.files.safe_io.open_regular`: a regular
file of at most :data:`MAX_FILE_BYTES`, checked on the open descriptor, opened without
blocking, so a FIFO, a device or a socket named ``x.png`` is an unreadable file, never a
wait. Many files are read on a few threads (:func:`decode_images`), each checking for a
stop between files; one that cannot be read is reported with a short reason, not raised.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import warnings
from pathlib import Path

import numpy as np

from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.errors import one_line
from cnn_gui.core.files.safe_io import FileTooLargeError, open_regular
from cnn_gui.core.inputs.images import MAX_PIXELS, MAX_SIDE

# The decoders a folder's extensions call for; Pillow is never asked to guess beyond them.
FORMATS = ("PNG", "JPEG", "MPO", "BMP", "DIB", "GIF", "WEBP")
_POLL_S = 0.05
_CHUNK = 64  # images per task, each checking for a stop between files
# The largest image file read: 50 megapixels as an uncompressed 32-bit BMP, and then some.
MAX_FILE_BYTES = 256 << 20


def checked_shape(input_shape) -> tuple[int, int, int]:
    """``input_shape`` as (C, H, W), when an image folder can give it; DatasetError when not."""
    try:
        c, h, w = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        shown = one_line(input_shape, 60)
        raise DatasetError(f"an image folder's input shape must be (C, H, W), not {shown}") from None
    if c not in (1, 3):
        raise DatasetError(f"image folders give 1 (grey) or 3 (colour) channels; the model wants {c}")
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise DatasetError(f"an image folder's input shape must have sides from 1 to {MAX_SIDE:,}, not {h}x{w}")
    return c, h, w


def decode_images(paths: list[str], shape, stop_requested, workers: int | None,
                folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(uint8 [N, C, H, W], a mask of the images read, why each other one was not)."""
    from PIL import Image

    _open_formats()  # every plugin registered before the threads open files
    n = len(paths)
    out = np.zeros((n, *shape), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    why = [""] * n
    abort = threading.Event()  # set on a stop, an error or Ctrl+C: each thread ends after its current file

    def run(start: int) -> None:
        for i in range(start, min(start + _CHUNK, n)):
            if abort.is_set():
                return
            try:
                out[i] = _read(paths[i], shape)
                ok[i] = True
            except _Unreadable as exc:
                why[i] = str(exc)

    starts = range(0, n, _CHUNK)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    # Pillow's warnings (odd EXIF, palette transparency) say nothing a user can act on;
    # filters are process-wide, so they are set here, around the pool, not in each thread.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        _run_on_daemons(run, list(starts), max(1, workers), stop_requested, abort, folder)
    return out, ok, why


def _run_on_daemons(run, starts: list[int], workers: int, stop_requested, abort: threading.Event,
                    folder: Path) -> None:
    """``run(start)`` for each start on ``workers`` daemon threads, checking for a stop every
    :data:`_POLL_S` seconds. Daemon threads, not a pool: Python waits for a pool's threads at
    exit, so one read that never returns (a stalled network drive) would hold Ctrl+C and
    closing the window; a daemon ends with the process and, on a stop, after its current file."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for start in starts:
        todo.put(start)
    errors: list[BaseException] = []

    def work() -> None:
        while not abort.is_set():
            try:
                start = todo.get_nowait()
            except queue.Empty:
                return
            try:
                run(start)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                errors.append(exc)
                abort.set()
                return

    threads = [threading.Thread(target=work, name="cnn-gui-images", daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                if stop_requested():
                    raise DownloadCancelled(f"loading the images in {one_line(folder, 150)} was cancelled")
                thread.join(_POLL_S)
        # A few small files can all be read before the first look above: a stop asked
        # meanwhile still stops the load.
        if stop_requested():
            raise DownloadCancelled(f"loading the images in {one_line(folder, 150)} was cancelled")
    except BaseException:
        abort.set()  # each thread ends after its current file; nothing it reads is used
        raise
    if errors:
        raise errors[0]


class _Unreadable(Exception):
    """One image that is skipped; its text is the short reason."""


def read_image(path: str | os.PathLike, input_shape: tuple[int, int, int]) -> np.ndarray:
    """One image file as uint8 [C, H, W], prepared as a folder dataset prepares it.

    Raises :class:`DatasetError` naming the file when it cannot be read.
    """
    shape = checked_shape(input_shape)
    try:
        return _read(os.fspath(path), shape)
    except _Unreadable as exc:
        raise DatasetError(f"cannot read {one_line(path, 150)}: {exc}") from None


def read_or_why(path: str, shape: tuple[int, int, int]) -> tuple[np.ndarray | None, str]:
    """(uint8 [C, H, W], "") for a readable file, (None, the short reason) for another: a
    streamed folder's reader (core/data/streaming.py), which skips what it cannot read."""
    try:
        return _read(path, shape), ""
    except _Unreadable as exc:
        return None, str(exc)


def _read(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    c, h, w = shape
    try:
        f = open_regular(path, MAX_FILE_BYTES)  # a FIFO or a device is refused, never waited on
    except FileNotFoundError:
        raise _Unreadable("the file disappeared") from None
    except FileTooLargeError as exc:
        raise _Unreadable(f"the file is {exc.size:,} bytes, more than the {MAX_FILE_BYTES:,} read") from None
    except OSError as exc:  # NotRegularFileError: 'it is a named pipe (FIFO), not a regular file'
        raise _Unreadable(one_line(exc.strerror or exc, 100)) from None
    try:
        with f, Image.open(f, formats=_open_formats()) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise _Unreadable("the image has no pixels")
            if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
                raise _Unreadable(f"{width}x{height} pixels is too large")
            if im.format in ("JPEG", "MPO") and im.mode in ("L", "RGB", "YCbCr"):
                im.draft("L" if c == 1 else "RGB", (w, h))  # decode at 1/2..1/8 scale when that is enough
            im.load()
            if _orientation(im) not in (1, None):
                im = ImageOps.exif_transpose(im)
            im = _to_mode(im, "L" if c == 1 else "RGB")
            im = fit_image(im, w, h)
            array = np.asarray(im, dtype=np.uint8)
    except _Unreadable:
        raise
    except UnidentifiedImageError:
        raise _Unreadable("not a PNG, JPEG, BMP, GIF or WebP image") from None
    except Image.DecompressionBombError:
        raise _Unreadable("too large to decode safely (a possible decompression bomb)") from None
    except MemoryError:
        raise _Unreadable("not enough memory to decode it") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file makes Pillow raise almost anything
        raise _Unreadable(one_line(str(exc) or type(exc).__name__, 100)) from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


@functools.lru_cache(maxsize=1)
def _open_formats() -> tuple[str, ...]:
    """FORMATS that this Pillow can open (it raises KeyError for a name it lacks, e.g. MPO,
    which newer releases open as JPEG)."""
    from PIL import Image

    Image.init()
    return tuple(f for f in FORMATS if f in Image.OPEN)


def _orientation(im) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not make a readable image unreadable
        return None


def _to_mode(im, mode: str):
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info) \
            or (im.mode in ("L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert(mode)
    if im.mode.startswith("I") or im.mode == "F":
        im = _wide_to_grey(im)
    return im if im.mode == mode else im.convert(mode)


def _wide_to_grey(im):
    """16-bit and 32-bit greys as 8 bits: Pillow's own conversion clips them instead."""
    from PIL import Image

    a = np.asarray(im, dtype=np.float64)
    if not np.isfinite(a).all():
        raise _Unreadable("its pixels hold NaN or infinite values")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if im.mode == "F" and lo >= 0 and hi <= 1:
        scale, offset = 255.0, 0.0
    elif im.mode.startswith("I;16") or (lo >= 0 and 255 < hi <= 65535):
        scale, offset = 255.0 / 65535.0, 0.0
    elif lo >= 0 and hi <= 255:
        scale, offset = 1.0, 0.0
    else:  # a range of its own: stretched to 0..255
        scale, offset = 255.0 / max(hi - lo, 1e-12), lo
    return Image.fromarray(np.clip((a - offset) * scale + 0.5, 0, 255).astype(np.uint8), "L")


def fit_image(im, w: int, h: int):
    """``im`` scaled to fit inside w x h, keeping its aspect, centred on its border colour."""
    from PIL import Image

    iw, ih = im.size
    if (iw, ih) == (w, h):
        return im
    scale = min(w / iw, h / ih)
    nw, nh = min(w, max(1, round(iw * scale))), min(h, max(1, round(ih * scale)))
    resized = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0 if scale < 1 / 3 else None)
    if (nw, nh) == (w, h):
        return resized
    a = np.asarray(resized)
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]], axis=0)
    median = np.median(edge, axis=0)
    fill = int(round(float(median))) if resized.mode == "L" else tuple(int(round(float(v))) for v in median)
    canvas = Image.new(resized.mode, (w, h), fill)
    canvas.paste(resized, ((w - nw) // 2, (h - nh) // 2))
    return canvas
