"""The user's own images as a dataset: ``folder:PATH`` in torchvision's ImageFolder layout.

``PATH/<class name>/*.png|jpg|jpeg|bmp|gif|webp`` (any depth below the class folder).
If ``PATH/train/`` and ``PATH/test/`` both exist with the same class folders, they are
the two splits; otherwise 20 % of each class is held out for testing, chosen from a
seed, so the same folder always gives the same split. The folder tree is read by
:mod:`cnn_gui.core.data.folder_scan`, every image by :mod:`cnn_gui.core.data.image_reading`
(safely and once, fitted into the model's input shape).

A folder whose images would need more memory than :func:`max_dataset_bytes` (2 GiB, or
``$CNN_GUI_MAX_DATASET_BYTES``) is not refused: it is streamed from disk while it trains
(:class:`~cnn_gui.core.data.streaming.StreamingDataset`, whose ``note`` says so), with
the same split and order; smaller folders are read into memory as before.

A file that cannot be read (damaged, not an image, too large, a FIFO or a device named
like an image) or a link that is not followed is skipped and counted:
``ImageDataset.skipped``, ``skipped_examples`` and ``note`` say so. A folder that cannot
make a dataset is a one-line :class:`~cnn_gui.core.data.errors.DatasetError`.

Loaded folders are cached in-process by path, the modification times of the folder and
its class folders, and the input shape, with their :func:`fingerprint` (computed once).

The dataset's name is ``folder:<absolute path>`` in memory and in run.json; a checkpoint
or an export records ``folder:<the folder's name>``, the image count and the fingerprint
instead (:mod:`cnn_gui.core.data.folder_names`), and a folder is found again by
:mod:`cnn_gui.core.data.folder_record`.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnn_gui.core.data.download import Cancel, cancel_check
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.folder_names import located_name
from cnn_gui.core.data.folder_record import remember_folder
from cnn_gui.core.data.folder_scan import EXTENSIONS, FolderLayout, change_times, image_files, scan_layout
from cnn_gui.core.data.image_dataset import DARK, LIGHT, DatasetInfo, ImageDataset
from cnn_gui.core.data.image_reading import checked_shape, decode_images
from cnn_gui.core.data.registry import FOLDER_PREFIX
from cnn_gui.core.data.streaming import MEAN_SAMPLE, StreamIndex, StreamingDataset
from cnn_gui.core.errors import one_line

# A folder's images are drawings when nearly every image's border is one flat tone: at
# least DRAWING_SHARE of the images have BORDER_FLAT of their border pixels within
# BORDER_SPREAD grey levels of their border's median, and the medians agree on dark or light.
DRAWING_SHARE = 0.9
BORDER_FLAT = 0.9
BORDER_SPREAD = 40
DARK_GROUND = 80
LIGHT_GROUND = 175
TEST_SHARE = 0.2
SPLIT_SEED = 0
# All images of a folder held as uint8 at the input shape: beyond this (the cache and a
# copy double it) the folder is streamed from disk instead (core/data/streaming.py).
MAX_DATASET_BYTES = 2 << 30
MEMORY_LIMIT_ENV = "CNN_GUI_MAX_DATASET_BYTES"
MAX_NAME = 300  # TrainConfig.dataset and run.json hold "folder:<absolute path>" (a checkpoint, its name)
_EXAMPLES = 5
_CACHE_SIZE = 2
_CACHE_MAX_BYTES = 512 << 20
_LOCK_POLL_S = 0.05

_cache: "OrderedDict[tuple, _Loaded]" = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class _Loaded:
    info: DatasetInfo
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    skipped: int
    skipped_examples: tuple[str, ...]


def max_dataset_bytes(limit: int | None = None) -> int:
    """The in-memory limit: ``limit``, else ``$CNN_GUI_MAX_DATASET_BYTES`` (bytes), else
    :data:`MAX_DATASET_BYTES`. A folder over it is streamed from disk."""
    if limit is None:
        text = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
        limit = int(text) if text.isdigit() else MAX_DATASET_BYTES
    return max(0, int(limit))


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def folder_dataset_name(root: str | os.PathLike) -> str:
    """The dataset name a folder is loaded under in memory and in run.json: ``folder:`` and
    its absolute path (a checkpoint records only the folder's name: ``folder_names.recorded_name``)."""
    return located_name(root)


def fingerprint(tensors) -> str:
    """A hex digest (blake2b, 128 bits) of a prepared dataset: the shapes, then the bytes of
    its train images, train labels, test images and test labels, in their order. The same
    folder read at the same input shape gives the same digest; any changed, added or
    removed image changes it."""
    digest = hashlib.blake2b(digest_size=16)
    for t in tensors:
        array = t.contiguous().numpy()
        digest.update(repr((str(array.dtype), array.shape)).encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def load_image_folder(
    root: str | os.PathLike,
    input_shape: tuple[int, int, int] = (1, 28, 28),
    *,
    seed: int = SPLIT_SEED,
    cancel: Cancel = None,
    workers: int | None = None,
    memory_limit: int | None = None,
) -> ImageDataset | StreamingDataset:
    """The images under ``root`` as an :class:`ImageDataset` of ``input_shape`` (C, H, W).

    C is 1 (grey) or 3 (colour). The dataset's name is ``folder:<absolute path>``, its
    ``info.images`` and ``info.fingerprint`` what a checkpoint records of it, its classes the class folders' names (sorted, as torchvision orders them), its mean and
    std per channel those of the training split. ``cancel`` (an Event or a callable) is
    polled between small batches of images: :class:`DownloadCancelled` then.

    Over :func:`max_dataset_bytes` (``memory_limit``) the result is a :class:`StreamingDataset`
    of the same split. ``workers``: the threads that decode (in memory), or the processes
    (streaming; None: :func:`~cnn_gui.core.data.streaming.default_workers`, 0: none).
    """
    shape = checked_shape(input_shape)
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
    layout = scan_layout(folder)
    limit = max_dataset_bytes(memory_limit)
    key = (str(folder), change_times(folder, layout), shape, int(seed), limit)
    while not _lock.acquire(timeout=_LOCK_POLL_S):
        if stop_requested():
            raise DownloadCancelled(f"loading {one_line(folder, 150)} was cancelled while another load was running")
    try:
        loaded = _cache.get(key)
        if loaded is None:
            loaded = _load(folder, name, layout, shape, int(seed), stop_requested, workers, limit)
            if isinstance(loaded, StreamIndex) or \
                    sum(t.numel() * t.element_size() for t in loaded.tensors) <= _CACHE_MAX_BYTES:
                _cache[key] = loaded
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
    finally:
        _lock.release()
    remember_folder(str(folder), loaded.info.fingerprint)
    if isinstance(loaded, StreamIndex):
        return StreamingDataset(loaded, workers=workers)
    return ImageDataset(loaded.info, *(t.clone() for t in loaded.tensors), skipped=loaded.skipped,
                        skipped_examples=loaded.skipped_examples)


def _load(folder: Path, name: str, layout: FolderLayout, shape: tuple[int, int, int], seed: int,
          stop_requested, workers: int | None, limit: int) -> "_Loaded | StreamIndex":
    splits = [("train", layout.train_dir)] + ([("test", layout.test_dir)] if layout.test_dir is not None else [])
    seen: set = set()  # each file counts once, in one split
    listed, ignored = {}, []
    for split, split_dir in splits:
        listed[split], links = image_files(split_dir, layout.classes, seen)
        ignored += links
    total = sum(len(v) for v in listed.values())
    kinds = ", ".join(EXTENSIONS)
    if total == 0:
        raise DatasetError(f"{one_line(folder, 150)} has class folders but no images in them ({kinds})")
    if total * math.prod(shape) > limit:
        return _stream_index(folder, name, layout, listed, ignored, shape, seed, stop_requested, workers, limit)

    skipped = len(ignored)
    examples = [one_line(f"{_relative(path, folder)}: {why}") for path, why in ignored[:_EXAMPLES]]
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, split_dir in splits:
        items = listed[split]
        images, ok, why = decode_images([p for p, _ in items], shape, stop_requested, workers, folder)
        labels = np.fromiter((c for _, c in items), dtype=np.int64, count=len(items))
        bad = np.flatnonzero(~ok)
        skipped += len(bad)
        for i in bad[: _EXAMPLES - len(examples)]:
            examples.append(one_line(f"{_relative(items[i][0], folder)}: {why[i]}"))
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
        title=f"image folder “{folder.name or folder}”",  # quoted: a folder named "folder" read as "image folder folder"
        input_shape=shape,
        classes=layout.classes,
        mean=mean,
        std=std,
        bundled=False,
        ink=ink_of(train_x),
        images=len(train_y) + len(test_y),
        fingerprint=fingerprint(tensors),
    )
    return _Loaded(info, tensors, skipped, tuple(examples))


def _stream_index(folder: Path, name: str, layout: FolderLayout, listed: dict, ignored: list,
                  shape: tuple[int, int, int], seed: int, stop_requested, workers: int | None,
                  limit: int) -> StreamIndex:
    """A folder over the in-memory limit, split and ordered from its file list as :func:`_load`
    splits and orders decoded images (the same when every file is readable); mean, std and
    ink measured on up to MEAN_SAMPLE training images."""
    paths = {split: np.array([p for p, _ in items], dtype=object) for split, items in listed.items()}
    labels = {split: np.fromiter((c for _, c in items), np.int64, len(items)) for split, items in listed.items()}
    train_p, train_y = paths["train"], labels["train"]
    counts = np.bincount(train_y, minlength=len(layout.classes))
    where = "train/" if layout.test_dir is not None else ""
    for c in np.flatnonzero(counts < (1 if layout.test_dir is not None else 2)):
        cls = layout.classes[c]
        raise DatasetError(f"class {cls!r} ({where}{cls}/ in {one_line(folder, 120)}) has {int(counts[c])} "
                           "images; each class needs at least " + ("1" if where else "2 (one to train on, one to test with)"))
    if layout.test_dir is None:
        test_mask = _held_out(train_y, len(layout.classes), seed)
        test_p, test_y = train_p[test_mask], train_y[test_mask]
        train_p, train_y = train_p[~test_mask], train_y[~test_mask]
    else:
        test_p, test_y = paths["test"], labels["test"]
        if len(test_y) == 0:
            raise DatasetError(f"{one_line(layout.test_dir, 150)} has no images to test with")
    rng = np.random.default_rng(seed)
    order_train, order_test = rng.permutation(len(train_y)), rng.permutation(len(test_y))
    rows = tuple(train_p[order_train].tolist()) + tuple(test_p[order_test].tolist())
    row_labels = np.concatenate([train_y[order_train], test_y[order_test]])
    sample = np.sort(np.random.default_rng([seed, 1]).permutation(len(train_y))[:MEAN_SAMPLE])
    images, ok, why = decode_images([rows[i] for i in sample], shape, stop_requested, workers or None, folder)
    if not ok.any():
        raise DatasetError(f"none of the {len(sample):,} images sampled from {one_line(folder, 120)} could be read")
    examples = [one_line(f"{_relative(path, folder)}: {reason}") for path, reason in ignored[:_EXAMPLES]]
    examples += [one_line(f"{_relative(rows[i], folder)}: {why[k]}") for k, i in enumerate(sample) if not ok[k]]
    mean, std = _mean_std(torch.from_numpy(images[ok]))
    c, h, w = shape
    need = len(rows) * math.prod(shape)
    info = DatasetInfo(name=name, title=f"image folder “{folder.name or folder}”", input_shape=shape,
                       classes=layout.classes, mean=mean, std=std, bundled=False, ink=ink_of(images[ok]),
                       images=len(rows), fingerprint=_listing_fingerprint(rows, row_labels, shape, folder))
    return StreamIndex(info=info, folder=str(folder), paths=rows, labels=row_labels, train_size=len(train_y),
                       reason=f"{len(rows):,} images ({_bytes_text(need)} at {c}x{h}x{w}) over the "
                              f"{_bytes_text(limit)} in-memory limit",
                       sample=int(ok.sum()), skipped=len(ignored) + int((~ok).sum()),
                       examples=tuple(examples[:_EXAMPLES]), bad=frozenset(int(i) for i in sample[~ok]))


def _listing_fingerprint(rows: tuple[str, ...], labels: np.ndarray, shape, folder: Path) -> str:
    """A streamed folder's identity without decoding it: each file's place, size and
    modification time, its label, and the input shape (blake2b, 128 bits)."""
    digest = hashlib.blake2b(repr(("files", tuple(shape))).encode(), digest_size=16)
    for path, label in zip(rows, labels.tolist()):
        try:
            st = os.stat(path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = (-1, -1)
        digest.update(repr((_relative(path, folder), label, stamp)).encode())
    return digest.hexdigest()


def _bytes_text(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:,} byte{'' if n == 1 else 's'}"


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


def ink_of(images: np.ndarray) -> str:
    """``light``/``dark`` when uint8 (N, 1, H, W) ``images`` are drawings on a flat ground, else ""."""
    if images.ndim != 4 or images.shape[1] != 1 or images.shape[0] == 0:
        return ""
    sample = images[:: max(1, images.shape[0] // 2000), 0]
    border = np.concatenate([sample[:, 0, :], sample[:, -1, :], sample[:, :, 0], sample[:, :, -1]], axis=1)
    border = border.astype(np.int16)
    median = np.median(border, axis=1, keepdims=True)
    flat = (np.abs(border - median) <= BORDER_SPREAD).mean(axis=1) >= BORDER_FLAT
    if flat.mean() < DRAWING_SHARE:
        return ""
    median = median[:, 0]
    if (median <= DARK_GROUND).mean() >= DRAWING_SHARE:
        return LIGHT
    if (median >= LIGHT_GROUND).mean() >= DRAWING_SHARE:
        return DARK
    return ""
