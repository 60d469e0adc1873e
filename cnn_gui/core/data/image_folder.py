"""The user's own images as a dataset: ``folder:PATH`` in torchvision's ImageFolder layout.

``PATH/<class name>/*.png|jpg|jpeg|bmp|gif|webp`` (any depth below the class folder).
If ``PATH/train/`` and ``PATH/test/`` both exist with the same class folders, they are
the two splits; otherwise 20 % of each class is held out for testing, chosen from a
seed, so the same folder always gives the same split.

Every image is read with Pillow, safely and once, into the model's input shape:

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

A file that cannot be read (damaged, not an image, too large) is skipped and counted:
``ImageDataset.skipped``, ``skipped_examples`` and ``note`` say so. A folder that cannot
make a dataset is a one-line :class:`~cnn_gui.core.data.datasets.DatasetError`.

Class folders are listed here (hidden ones such as ``.ipynb_checkpoints`` and macOS's
``__MACOSX`` are not classes); the walk inside each class is torchvision's
``make_dataset``. Loaded folders are cached in-process by path, the modification times of
the folder and its class folders, and the input shape.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as _Waiting  # not the builtin before Python 3.11
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnn_gui.core.data.datasets import FOLDER_PREFIX, DatasetError, DatasetInfo, DownloadCancelled, ImageDataset
from cnn_gui.core.data.download import Cancel, cancel_check
from cnn_gui.core.errors import one_line
from cnn_gui.core.inputs.images import MAX_PIXELS, MAX_SIDE

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# The decoders those extensions call for; Pillow is never asked to guess beyond them.
FORMATS = ("PNG", "JPEG", "MPO", "BMP", "DIB", "GIF", "WEBP")
MAX_CLASSES = 1000
TEST_SHARE = 0.2
SPLIT_SEED = 0
TEST_FOLDERS = ("test", "val", "valid", "validation")
# All images of a folder held as uint8 at the input shape: beyond this it is not a
# dataset for a teaching tool on one machine (and the cache and a copy double it).
MAX_DATASET_BYTES = 2 << 30
MAX_NAME = 300  # TrainConfig.dataset and a checkpoint's dataset field hold "folder:PATH"
_EXAMPLES = 5
_CACHE_SIZE = 2
_CACHE_MAX_BYTES = 512 << 20
_LOCK_POLL_S = 0.05
_CHUNK = 64  # images per task: small enough to cancel promptly, big enough to keep threads busy

_cache: "OrderedDict[tuple, _Loaded]" = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class _Loaded:
    info: DatasetInfo
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    skipped: int
    skipped_examples: tuple[str, ...]


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def folder_dataset_name(root: str | os.PathLike) -> str:
    """The dataset name a folder is recorded under: ``folder:`` and its absolute path."""
    return FOLDER_PREFIX + str(Path(root).expanduser().resolve())


def load_image_folder(
    root: str | os.PathLike,
    input_shape: tuple[int, int, int] = (1, 28, 28),
    *,
    seed: int = SPLIT_SEED,
    cancel: Cancel = None,
    workers: int | None = None,
) -> ImageDataset:
    """The images under ``root`` as an :class:`ImageDataset` of ``input_shape`` (C, H, W).

    C is 1 (grey) or 3 (colour). The dataset's name is ``folder:<absolute path>``, its
    classes the class folders' names (sorted, as torchvision orders them), its mean and
    std per channel those of the training split. ``cancel`` (an Event or a callable) is
    polled between small batches of images: :class:`DownloadCancelled` then.
    """
    shape = _checked_shape(input_shape)
    stop_requested = cancel_check(cancel)
    text = str(root).strip()
    if not text:
        raise DatasetError("folder: needs a path, as in folder:path/to/images (one subfolder per class)")
    folder = Path(text).expanduser()
    try:
        folder = folder.resolve()
        exists, is_dir = folder.exists(), folder.is_dir()
    except (OSError, RuntimeError, ValueError) as exc:  # a loop of links, a NUL byte
        raise DatasetError(f"cannot read the image folder {one_line(text, 150)}: {exc}") from None
    if not exists:
        raise DatasetError(f"image folder not found: {one_line(folder, 200)}")
    if not is_dir:
        raise DatasetError(f"{one_line(folder, 200)} is a file; give the folder that holds one subfolder per class")
    name = FOLDER_PREFIX + str(folder)
    if len(name) > MAX_NAME:
        raise DatasetError(
            f"the image folder's path is {len(str(folder))} characters long; cnn-gui records at most "
            f"{MAX_NAME - len(FOLDER_PREFIX)} (move or link the folder to a shorter path)"
        )
    layout = _layout(folder)
    key = (str(folder), _mtimes(folder, layout), shape, int(seed))
    while not _lock.acquire(timeout=_LOCK_POLL_S):
        if stop_requested():
            raise DownloadCancelled(f"loading {one_line(folder, 150)} was cancelled while another load was running")
    try:
        loaded = _cache.get(key)
        if loaded is None:
            loaded = _load(folder, name, layout, shape, int(seed), stop_requested, workers)
            if sum(t.numel() * t.element_size() for t in loaded.tensors) <= _CACHE_MAX_BYTES:
                _cache[key] = loaded
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
    finally:
        _lock.release()
    return ImageDataset(loaded.info, *(t.clone() for t in loaded.tensors), skipped=loaded.skipped,
                        skipped_examples=loaded.skipped_examples)


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    classes: tuple[str, ...]
    train_dir: Path
    test_dir: Path | None  # None: hold out TEST_SHARE of train_dir


def _checked_shape(input_shape) -> tuple[int, int, int]:
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


def _class_dirs(folder: Path) -> list[str]:
    """Subfolders that are classes: not hidden, not macOS's __MACOSX (torchvision's
    find_classes would make ``.ipynb_checkpoints`` a class)."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries
                     if not e.name.startswith(".") and e.name != "__MACOSX" and _is_dir(e)]
    except OSError as exc:
        raise DatasetError(f"cannot read the folder {one_line(folder, 200)}: {exc.strerror or exc}") from None
    return sorted(names)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links, as torchvision does
    except OSError:
        return False


def _layout(folder: Path) -> _Layout:
    top = _class_dirs(folder)
    lowered = {n.lower(): n for n in top}
    test_name = next((lowered[t] for t in TEST_FOLDERS if t in lowered), None)
    # train/ and test/ holding images themselves are two classes that happen to have those names.
    split_classes = _class_dirs(folder / lowered["train"]) if "train" in lowered and test_name else []
    if split_classes:
        train_dir, test_dir = folder / lowered["train"], folder / test_name
        train_classes, test_classes = split_classes, _class_dirs(test_dir)
        if train_classes != test_classes:
            only_train = sorted(set(train_classes) - set(test_classes))
            only_test = sorted(set(test_classes) - set(train_classes))
            parts = []
            if only_train:
                parts.append(f"only train/ has {_names(only_train)}")
            if only_test:
                parts.append(f"only {test_name}/ has {_names(only_test)}")
            raise DatasetError(
                f"{one_line(folder, 150)}: train/ and {test_name}/ must hold the same class folders; "
                + "; ".join(parts))
        return _Layout(_checked_classes(train_dir, train_classes), train_dir, test_dir)
    if len(top) == 1 and top[0].lower() == "train":  # train/ alone: hold out from it
        train_dir = folder / top[0]
        return _Layout(_checked_classes(train_dir, _class_dirs(train_dir)), train_dir, None)
    return _Layout(_checked_classes(folder, top), folder, None)


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _checked_classes(folder: Path, classes: list[str]) -> tuple[str, ...]:
    where = one_line(folder, 150)
    if not classes:
        raise DatasetError(
            f"{where} has no class folders: put each class's images in a subfolder named after it "
            "(e.g. cats/1.png, dogs/1.png)"
        )
    if len(classes) == 1:
        raise DatasetError(
            f"{where} has one class folder only ({classes[0]!r}); a classifier needs at least two")
    if len(classes) > MAX_CLASSES:
        raise DatasetError(
            f"{where} has {len(classes):,} class folders; cnn-gui trains on at most {MAX_CLASSES:,} classes "
            "(is it the folder above the class folders, or one image per folder?)"
        )
    return tuple(classes)


def _mtimes(folder: Path, layout: _Layout) -> tuple[int, ...]:
    """When the folder and each class folder last changed: adding, removing or renaming an
    image changes its class folder's time (editing one in place does not)."""
    dirs = [folder, layout.train_dir] + [layout.train_dir / c for c in layout.classes]
    if layout.test_dir is not None:
        dirs += [layout.test_dir] + [layout.test_dir / c for c in layout.classes]
    out = []
    for d in dirs:
        try:
            out.append(d.stat().st_mtime_ns)
        except OSError:
            out.append(-1)
    return tuple(out)


def _files(split_dir: Path, classes: tuple[str, ...]) -> list[tuple[str, int]]:
    """(path, class index) of every image file, through torchvision's walk."""
    from torchvision.datasets.folder import make_dataset

    seen: set[tuple[int, int]] = set()

    def is_image_file(path: str) -> bool:
        base = os.path.basename(path)
        # "._name.png" are macOS resource forks, not images.
        if base.startswith(".") or not base.lower().endswith(EXTENSIONS) or "__MACOSX" in path:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return True  # listed, so it is counted as unreadable below
        # A folder linked into itself would list the same file again and again.
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            return False
        seen.add(ident)
        return True

    try:
        return make_dataset(str(split_dir), {c: i for i, c in enumerate(classes)},
                            is_valid_file=is_image_file, allow_empty=True)
    except OSError as exc:
        raise DatasetError(f"cannot list the images in {one_line(split_dir, 200)}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- loading


def _load(folder: Path, name: str, layout: _Layout, shape: tuple[int, int, int], seed: int,
          stop_requested, workers: int | None) -> _Loaded:
    splits = [("train", layout.train_dir)] + ([("test", layout.test_dir)] if layout.test_dir is not None else [])
    listed = {split: _files(d, layout.classes) for split, d in splits}
    total = sum(len(v) for v in listed.values())
    kinds = ", ".join(EXTENSIONS)
    if total == 0:
        raise DatasetError(f"{one_line(folder, 150)} has class folders but no images in them ({kinds})")
    per_image = math.prod(shape)
    if total * per_image > MAX_DATASET_BYTES:
        c, h, w = shape
        raise DatasetError(
            f"{one_line(folder, 150)} holds {total:,} images; at {c}x{h}x{w} they need "
            f"{total * per_image / 2**30:.1f} GiB of memory, more than cnn-gui holds "
            f"({MAX_DATASET_BYTES / 2**30:.0f} GiB): use fewer images or a smaller input")

    skipped = 0
    examples: list[str] = []
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, split_dir in splits:
        items = listed[split]
        images, ok, why = _decode_all([p for p, _ in items], shape, stop_requested, workers, folder)
        labels = np.fromiter((c for _, c in items), dtype=np.int64, count=len(items))
        bad = np.flatnonzero(~ok)
        skipped += len(bad)
        for i in bad[: _EXAMPLES - len(examples)]:
            examples.append(f"{_relative(items[i][0], folder)}: {why[i]}")
        decoded[split] = (images, labels) if ok.all() else (images[ok], labels[ok])

    train_x, train_y = decoded["train"]
    counts = np.bincount(train_y, minlength=len(layout.classes))
    where = "train/" if layout.test_dir is not None else ""
    for c in np.flatnonzero(counts == 0):
        cls = layout.classes[c]
        had = sum(1 for _, k in listed["train"] if k == c)
        why = f"none of its {had:,} files could be read" if had else f"it holds no {kinds} files"
        raise DatasetError(f"class {cls!r} ({where}{cls}/ in {one_line(folder, 120)}) has no readable images: {why}")
    rng = np.random.default_rng(seed)
    if layout.test_dir is None:
        few = np.flatnonzero(counts < 2)
        if len(few):
            cls = layout.classes[few[0]]
            raise DatasetError(
                f"class {cls!r} has only 1 readable image; with no train/ and test/ folders each class "
                "needs at least 2 (one to train on, one to test with)")
        test_mask = _held_out(train_y, len(layout.classes), seed)
        test_x, test_y = train_x[test_mask], train_y[test_mask]
        train_x, train_y = train_x[~test_mask], train_y[~test_mask]
    else:
        test_x, test_y = decoded["test"]
        if len(test_y) == 0:
            raise DatasetError(f"{one_line(layout.test_dir, 150)} has no readable images to test with")
    # Shuffled once, from the seed, so that subset(n) takes a mix of classes, not the first one.
    order_train = rng.permutation(len(train_y))
    order_test = rng.permutation(len(test_y))
    tensors = (
        torch.from_numpy(np.ascontiguousarray(train_x[order_train])),
        torch.from_numpy(train_y[order_train]),
        torch.from_numpy(np.ascontiguousarray(test_x[order_test])),
        torch.from_numpy(test_y[order_test]),
    )
    mean, std = _mean_std(tensors[0])
    info = DatasetInfo(
        name=name,
        title=f"image folder {folder.name or folder}",
        input_shape=shape,
        classes=layout.classes,
        mean=mean,
        std=std,
        bundled=False,
    )
    return _Loaded(info, tensors, skipped, tuple(examples))


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).name


def _held_out(labels: np.ndarray, classes: int, seed: int) -> np.ndarray:
    """A mask of TEST_SHARE of each class (at least one, never all), from ``seed``.

    Each class draws from its own generator, so one class's images never change which
    images of another class are held out.
    """
    mask = np.zeros(len(labels), dtype=bool)
    for c in range(classes):
        idx = np.flatnonzero(labels == c)
        n = len(idx)
        k = min(max(int(math.floor(n * TEST_SHARE + 0.5)), 1), n - 1)
        chosen = np.random.default_rng([seed, c]).permutation(idx)[:k]
        mask[chosen] = True
    return mask


def _mean_std(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of x/255, in exact integer sums (no float copy of the set)."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for start in range(0, images.shape[0], 4096):
        chunk = images[start:start + 4096].to(torch.int64)
        total += chunk.sum(dim=(0, 2, 3)).to(torch.float64)
        squares += (chunk * chunk).sum(dim=(0, 2, 3)).to(torch.float64)
    n = max(images.shape[0] * images.shape[2] * images.shape[3], 1)
    mean = total / n / 255.0
    var = (squares / n / 255.0**2 - mean * mean).clamp_min(0.0)
    # One grey level at least: images that are all one colour must not divide by zero.
    std = var.sqrt().clamp_min(1.0 / 255.0)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _decode_all(paths: list[str], shape, stop_requested, workers: int | None,
                folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(uint8 [N, C, H, W], a mask of the images read, why each other one was not)."""
    from PIL import Image

    _open_formats()  # every plugin registered before the threads open files
    n = len(paths)
    out = np.zeros((n, *shape), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    why = [""] * n

    def run(start: int) -> None:
        for i in range(start, min(start + _CHUNK, n)):
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
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="cnn-gui-images") as pool:
            pending = [pool.submit(run, s) for s in starts]
            try:
                for future in pending:
                    while True:
                        if stop_requested():
                            raise DownloadCancelled(f"loading the images in {one_line(folder, 150)} was cancelled")
                        try:
                            future.result(timeout=_LOCK_POLL_S)
                            break
                        except _Waiting:
                            continue
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    return out, ok, why


# ----------------------------------------------------------------------------- one image


class _Unreadable(Exception):
    """One image that is skipped; its text is the short reason."""


def read_image(path: str | os.PathLike, input_shape: tuple[int, int, int]) -> np.ndarray:
    """One image file as uint8 [C, H, W], prepared as a folder dataset prepares it.

    Raises :class:`DatasetError` naming the file when it cannot be read.
    """
    shape = _checked_shape(input_shape)
    try:
        return _read(os.fspath(path), shape)
    except _Unreadable as exc:
        raise DatasetError(f"cannot read {one_line(path, 150)}: {exc}") from None


def _read(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    c, h, w = shape
    try:
        with Image.open(path, formats=_open_formats()) as im:
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
            im = _fit(im, w, h)
            array = np.asarray(im, dtype=np.uint8)
    except _Unreadable:
        raise
    except FileNotFoundError:
        raise _Unreadable("the file disappeared") from None
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


def _fit(im, w: int, h: int):
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
