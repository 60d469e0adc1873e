"""The user's own images as a dataset: ``folder:PATH`` in torchvision's ImageFolder layout.

``PATH/<class name>/*.png|jpg|jpeg|bmp|gif|webp`` (any depth below the class folder).
If ``PATH/train/`` and ``PATH/test/`` both exist with the same class folders, they are
the two splits; otherwise 20 % of each class is held out for testing, chosen from a
seed, so the same folder always gives the same split. The folder tree is read by
:mod:`cnn_gui.core.data.folder_scan`, every image by :mod:`cnn_gui.core.data.image_reading`
(safely and once, fitted into the model's input shape).

A file that cannot be read (damaged, not an image, too large, a FIFO or a device named
like an image) or a link that is not followed is skipped and counted:
``ImageDataset.skipped``, ``skipped_examples`` and ``note`` say so. A folder that cannot
make a dataset is a one-line :class:`~cnn_gui.core.data.errors.DatasetError`.

Loaded folders are cached in-process by path, the modification times of the folder and
its class folders, and the input shape.
"""

from __future__ import annotations

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
from cnn_gui.core.data.folder_scan import EXTENSIONS, FolderLayout, change_times, image_files, scan_layout
from cnn_gui.core.data.image_dataset import DatasetInfo, ImageDataset
from cnn_gui.core.data.image_reading import checked_shape, decode_images
from cnn_gui.core.data.registry import FOLDER_PREFIX
from cnn_gui.core.errors import one_line

TEST_SHARE = 0.2
SPLIT_SEED = 0
# All images of a folder held as uint8 at the input shape: beyond this it is not a
# dataset for a teaching tool on one machine (and the cache and a copy double it).
MAX_DATASET_BYTES = 2 << 30
MAX_NAME = 300  # TrainConfig.dataset and a checkpoint's dataset field hold "folder:PATH"
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
    key = (str(folder), change_times(folder, layout), shape, int(seed))
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


def _load(folder: Path, name: str, layout: FolderLayout, shape: tuple[int, int, int], seed: int,
          stop_requested, workers: int | None) -> _Loaded:
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
    per_image = math.prod(shape)
    if total * per_image > MAX_DATASET_BYTES:
        c, h, w = shape
        raise DatasetError(
            f"{one_line(folder, 150)} holds {total:,} images; at {c}x{h}x{w} they need "
            f"{total * per_image / 2**30:.1f} GiB of memory, more than cnn-gui holds "
            f"({MAX_DATASET_BYTES / 2**30:.0f} GiB): use fewer images or a smaller input")

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
