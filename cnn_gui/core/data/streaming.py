"""An image folder too large for memory, read from disk batch by batch while the network trains.

:func:`cnn_gui.core.data.image_folder.load_image_folder` gives a :class:`StreamingDataset`
instead of an in-memory :class:`~cnn_gui.core.data.image_dataset.ImageDataset` when the
folder's images, as uint8 at the input shape, would need more than the in-memory limit
(``image_folder.max_dataset_bytes``: 2 GiB, or ``$CNN_GUI_MAX_DATASET_BYTES``). Its
``note`` says so ("streaming from disk: ...").

It has ImageDataset's interface: ``info``, the classes, mean and std, the sizes, the labels
as tensors, and ``train_images``/``test_images`` that behave like the uint8 [N, C, H, W]
tensors where the engine, the test pass and the views touch them: ``index_select(0, idx)``,
``[i]`` and ``[rows]`` read those files now; ``[a:b]`` is a view that ``.to()``, ``.cpu()``
or ``.numpy()`` reads. Each file is read exactly as the in-memory path reads it
(:func:`~cnn_gui.core.data.image_reading.read_or_why`: the same decoders, checks and fit).

**Decoding overlaps training.** The engine tells the data the epoch's order of training
samples (:meth:`StreamingDataset.schedule`, a no-op in memory); a ``torch`` DataLoader with
worker *processes* decodes the next batches of that order while the current one trains
(``PREFETCH_BATCHES`` per worker). Processes, not threads: measured on a 2-core machine,
two threads decode small PNGs at 1.1x one thread (the GIL), two processes at 1.8x
(``benchmarks/streaming.py``). The workers are started with ``spawn`` (no fork of a process
that runs Qt and torch threads) and kept for the dataset's life. The test pass reads
slices in order: each slice read schedules the following ones (read-ahead). A read
nobody scheduled is decoded on the spot, on a few threads. The split that is tested
every epoch is kept decoded in a bounded cache (``CACHE_BYTES``, least recently used).

**Unreadable files** cannot all be known without decoding everything, so one found at
first touch is counted (``skipped``, ``note``) and replaced by the next readable image of
its class in the same split (the same one every time), never a crash. A class with
``REPLACE_TRIES`` unreadable files in a row ends the run with a one-line DatasetError.

The split and the order are the in-memory path's (computed from the file list, so they
are identical when every file is readable); mean and std are measured on a sample of
training images (``MEAN_SAMPLE``, drawn from the seed), and the fingerprint is a digest of
the file list (names, sizes, modification times) rather than of the decoded pixels.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np
import torch

from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.data.image_dataset import DatasetInfo, ImageDataset
from cnn_gui.core.data.image_reading import decode_images, read_or_why
from cnn_gui.core.errors import describe_line, one_line

MEAN_SAMPLE = 2000  # training images the mean, std and ink are measured on
CACHE_BYTES = 256 << 20  # decoded test images (and other unscheduled reads) kept
PREFETCH_BATCHES = 2  # batches decoded ahead, per worker
REPLACE_TRIES = 16
MAX_READ_BYTES = 1 << 30  # one read of a view: a batch, never the whole set
LOADER_TIMEOUT_S = 300  # a worker that returns nothing this long (a stalled drive) ends the run
_EXAMPLES = 5


def default_workers() -> int:
    """Decoding processes per dataset: ``$CNN_GUI_STREAM_WORKERS``, else the cores up to 4."""
    text = os.environ.get("CNN_GUI_STREAM_WORKERS", "").strip()
    if text.isdigit():
        return min(int(text), 32)
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class StreamIndex:
    """What is known of a streamed folder without decoding it all (image_folder builds it)."""

    info: DatasetInfo
    folder: str
    paths: tuple[str, ...]  # the training rows (in the in-memory path's order), then the test rows
    labels: np.ndarray  # int64, one per row
    train_size: int
    reason: str  # "N images (X GiB at CxHxW) over the Y in-memory limit"
    sample: int  # training images the mean and std were measured on
    skipped: int  # links not followed and unreadable images met while sampling
    examples: tuple[str, ...]
    bad: frozenset  # rows found unreadable while sampling


class _Files(torch.utils.data.Dataset):
    """What a worker process decodes: row -> (row, image or zeros, why not)."""

    def __init__(self, paths: tuple[str, ...], shape: tuple[int, int, int]) -> None:
        self.paths, self.shape = paths, shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, row: int):
        image, why = read_or_why(self.paths[row], self.shape)
        return np.zeros(self.shape, np.uint8) if image is None else image, why


def _collate(items) -> tuple[np.ndarray, list[str]]:
    return np.stack([image for image, _ in items]), [why for _, why in items]


def _quiet_worker(_worker_id: int) -> None:
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")


class _Order:
    """The loader's batch sampler: the batches last scheduled, read when an iteration starts."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _Source:
    """The files of one streamed folder: decoding (scheduled or on the spot), replacements, cache."""

    def __init__(self, index: StreamIndex, workers: int | None, cache_bytes: int) -> None:
        self.index, self.shape = index, index.info.input_shape
        self.workers = default_workers() if workers is None else max(0, int(workers))
        self.skipped, self.examples = index.skipped, list(index.examples)
        self.failure = ""  # why the worker processes were given up, when they were
        self._bad, self._swapped = set(index.bad), {}
        self._lock = threading.RLock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_max = cache_bytes
        self._order, self._pending, self._loader, self._it = _Order(), deque(), None, None
        split = np.arange(len(index.paths)) >= index.train_size
        self._peers = {}
        for key in set(zip(split.tolist(), index.labels.tolist())):
            self._peers[key] = np.flatnonzero((split == key[0]) & (index.labels == key[1]))

    # --- reading ---------------------------------------------------------------------
    def take(self, rows: np.ndarray, ahead: tuple[np.ndarray, int] | None = None) -> torch.Tensor:
        """uint8 [len(rows), C, H, W] of these rows; ``ahead`` (rows, start): the reads to come."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        with self._lock:
            if rows.size and all(int(r) in self._cache for r in rows):
                for r in rows.tolist():
                    self._cache.move_to_end(r)
                return torch.from_numpy(np.stack([self._cache[r] for r in rows.tolist()]))
            if ahead is not None and not self._next_is(rows):
                self.schedule(ahead[0][ahead[1]:], len(rows))
            got = self._from_loader() if self._next_is(rows) else None
            images, why = got if got is not None else self._decode(rows)
            self._mend(rows, images, why)
            self._keep(rows, images, scheduled=got is not None)
        return torch.from_numpy(images)

    def schedule(self, rows, sizes: int | list[int] = 0) -> None:
        """Decode ``rows`` ahead in this order, in batches of ``sizes`` (one size, or each
        batch's); replaces the last schedule."""
        with self._lock:
            self._pending.clear()
            if self.workers == 0 or len(rows) == 0:
                return
            rows = np.asarray(rows, dtype=np.int64)
            if isinstance(sizes, int):
                sizes = [min(sizes, len(rows) - i) for i in range(0, len(rows), sizes)]
            ends = np.cumsum(sizes)
            self._order.batches = [rows[end - n:end].tolist() for n, end in zip(sizes, ends.tolist())]
            try:
                self._it = iter(self._ensure_loader())
            except Exception as exc:  # noqa: BLE001 - no processes: decode on the spot instead
                self._give_up(exc)
                return
            self._pending.extend(np.asarray(b, dtype=np.int64) for b in self._order.batches)

    def _ensure_loader(self):
        if self._loader is None:
            self._loader = torch.utils.data.DataLoader(
                _Files(self.index.paths, self.shape), batch_sampler=self._order, num_workers=self.workers,
                collate_fn=_collate, prefetch_factor=PREFETCH_BATCHES, persistent_workers=True,
                multiprocessing_context="spawn", worker_init_fn=_quiet_worker, timeout=LOADER_TIMEOUT_S)
        return self._loader

    def _next_is(self, rows: np.ndarray) -> bool:
        return bool(self._pending) and len(self._pending[0]) == len(rows) and np.array_equal(self._pending[0], rows)

    def _from_loader(self):
        self._pending.popleft()
        try:
            images, why = next(self._it)
        except Exception as exc:  # noqa: BLE001 - a worker killed or stalled: decode on the spot from now on
            if "timed out" in str(exc):
                raise DatasetError(f"reading {one_line(self.index.folder, 120)} stalled for "
                                   f"{LOADER_TIMEOUT_S} s (a network drive?)") from None
            self._give_up(exc)
            return None
        return images, why

    def _give_up(self, exc: BaseException) -> None:
        self.failure = f"decoding processes failed ({describe_line(exc)}); reading on threads instead"
        self.close()
        self.workers = 0

    def _decode(self, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        paths = [self.index.paths[r] for r in rows.tolist()]
        if len(paths) == 1:
            image, why = read_or_why(paths[0], self.shape)
            return (np.zeros((1, *self.shape), np.uint8) if image is None else image[None].copy()), [why]
        images, _, why = decode_images(paths, self.shape, lambda: False, min(4, os.cpu_count() or 1),
                                       self.index.folder)
        return images, why

    def _mend(self, rows: np.ndarray, images: np.ndarray, why: list[str]) -> None:
        """Each unreadable row counted once and replaced by the next readable image of its class."""
        for i, reason in enumerate(why):
            row = int(rows[i])
            if reason:
                self._count(row, reason)
                images[i] = self._replacement(row)

    def _count(self, row: int, reason: str) -> None:
        if row in self._bad or not reason:
            return
        self._bad.add(row)
        self.skipped += 1
        if len(self.examples) < _EXAMPLES:
            name = os.path.relpath(self.index.paths[row], self.index.folder)
            self.examples.append(one_line(f"{name}: {reason}"))

    def _replacement(self, row: int) -> np.ndarray:
        known = self._swapped.get(row)
        if known is not None:
            image, _ = read_or_why(self.index.paths[known], self.shape)
            if image is not None:
                return image
        peers = self._peers[(row >= self.index.train_size, int(self.index.labels[row]))]
        at = int(np.searchsorted(peers, row))
        for k in range(1, min(REPLACE_TRIES, len(peers) - 1) + 1):
            other = int(peers[(at + k) % len(peers)])
            if other in self._bad:
                continue
            image, why = read_or_why(self.index.paths[other], self.shape)
            if image is not None:
                self._swapped[row] = other
                return image
            self._count(other, why)
        cls = self.index.info.classes[int(self.index.labels[row])]
        example = f" (e.g. {self.examples[0]})" if self.examples else ""
        raise DatasetError(f"class {cls!r} of {one_line(self.index.folder, 120)}: no readable image found "
                           f"among {REPLACE_TRIES} in a row{example}")

    def _keep(self, rows: np.ndarray, images: np.ndarray, scheduled: bool) -> None:
        """Keep test rows, and rows read on the spot, up to the cache's bytes (least recent out)."""
        per = images[0].nbytes if len(images) else 0
        room = self._cache_max // max(per, 1)
        for i, row in enumerate(rows.tolist()):
            if scheduled and row < self.index.train_size:
                continue
            self._cache[row] = images[i].copy()
            self._cache.move_to_end(row)
        while len(self._cache) > room:
            self._cache.popitem(last=False)

    def close(self) -> None:
        """End the worker processes (they end with the process anyway: daemons)."""
        with self._lock:
            it, self._it, self._loader = self._it, None, None
            self._pending.clear()
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


class StreamedImages:
    """One split's images read from disk when indexed, like a uint8 [N, C, H, W] tensor."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, source: _Source, rows: np.ndarray, device: torch.device, parent=None) -> None:
        self._source, self._rows, self.device, self._parent = source, rows, torch.device(device), parent

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self._rows), *self._source.shape))

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, _, step = key.indices(len(self._rows))
            return StreamedImages(self._source, self._rows[key], self.device,
                                  parent=(self._rows, start) if step == 1 else None)
        if isinstance(key, (int, np.integer)) or (torch.is_tensor(key) and key.ndim == 0):
            return self._read(self._rows[[int(key)]])[0]
        return self._read(self._rows[_as_index(key)])

    def index_select(self, dim: int, index) -> torch.Tensor:
        if dim != 0:
            raise ValueError("streamed images are selected along dimension 0 only")
        return self._read(self._rows[_as_index(index)])

    def to(self, *args, **kwargs) -> torch.Tensor:
        return self._whole().to(*args, **kwargs)

    def cpu(self) -> torch.Tensor:
        return self._whole().cpu()

    def numpy(self) -> np.ndarray:
        return self._whole().cpu().numpy()

    def _whole(self) -> torch.Tensor:
        need = len(self._rows) * int(np.prod(self._source.shape))
        if need > MAX_READ_BYTES:
            raise DatasetError(f"{len(self._rows):,} images are streamed from disk and cannot be read at once")
        return self._read(self._rows, ahead=self._parent)

    def _read(self, rows: np.ndarray, ahead=None) -> torch.Tensor:
        return self._source.take(rows, ahead).to(self.device)


def _as_index(key) -> np.ndarray:
    if torch.is_tensor(key):
        key = key.detach().cpu().numpy()
    return np.asarray(key)


class StreamingDataset:
    """An image folder read from disk as it trains: ImageDataset's interface (module docstring)."""

    streamed = True
    normalize = ImageDataset.normalize
    _scale_shift = ImageDataset._scale_shift

    def __init__(self, index: StreamIndex, *, workers: int | None = None, cache_bytes: int = CACHE_BYTES,
                 source: _Source | None = None, rows: tuple[np.ndarray, np.ndarray] | None = None,
                 device: torch.device | str = "cpu", remark: str = "") -> None:
        self.info, self.remark, self._stats = index.info, remark, {}
        self._source = source if source is not None else _Source(index, workers, cache_bytes)
        train, test = rows if rows is not None else (np.arange(index.train_size),
                                                      np.arange(index.train_size, len(index.paths)))
        device = torch.device(device)
        self.train_images = StreamedImages(self._source, train, device)
        self.test_images = StreamedImages(self._source, test, device)
        self.train_labels = torch.from_numpy(index.labels[train]).to(device)
        self.test_labels = torch.from_numpy(index.labels[test]).to(device)

    name = property(lambda self: self.info.name)
    title = property(lambda self: self.info.title)
    classes = property(lambda self: self.info.classes)
    input_shape = property(lambda self: self.info.input_shape)
    mean = property(lambda self: self.info.mean)
    std = property(lambda self: self.info.std)
    skipped = property(lambda self: self._source.skipped)
    skipped_examples = property(lambda self: tuple(self._source.examples))
    train_size = property(lambda self: len(self.train_images))
    test_size = property(lambda self: len(self.test_images))

    @property
    def note(self) -> str:
        """"streaming from disk: ...", what was skipped (so far) and how, and the :attr:`remark`."""
        index = self._source.index
        parts = [self.remark] if self.remark else []
        parts.append(f"streaming from disk: {index.reason}; mean and std from {index.sample:,} training images")
        if self.skipped:
            s = "" if self.skipped == 1 else "s"
            example = f" (e.g. {self.skipped_examples[0]})" if self.skipped_examples else ""
            parts.append(f"skipped {self.skipped:,} unreadable image{s}, each replaced by another of its class{example}")
        if self._source.failure:
            parts.append(self._source.failure)
        return one_line("; ".join(parts))

    def _with(self, train: np.ndarray, test: np.ndarray, device, remark: str) -> "StreamingDataset":
        return StreamingDataset(self._source.index, source=self._source, rows=(train, test), device=device,
                                remark=remark)

    def with_remark(self, remark: str) -> "StreamingDataset":
        return self._with(self.train_images._rows, self.test_images._rows, self.train_images.device, remark)

    def to(self, device) -> "StreamingDataset":
        """The same files, read into tensors on ``device`` (nothing is moved now)."""
        return self._with(self.train_images._rows, self.test_images._rows, device, self.remark)

    def subset(self, train: int | None = None, test: int | None = None) -> "StreamingDataset":
        """The first ``train`` training and ``test`` test samples (None: all of them)."""
        for label, n in (("train", train), ("test", test)):
            if n is not None and n < 0:
                raise ValueError(f"{label} subset size must not be negative (got {n})")
        return self._with(self.train_images._rows[:train], self.test_images._rows[:test],
                          self.train_images.device, self.remark)

    def test_only(self) -> "StreamingDataset":
        """The test split alone (as :meth:`ImageDataset.test_only`)."""
        return self.subset(train=0)

    def schedule(self, batches) -> None:
        """The training batches to come, in order (each a tensor of indices into the training
        split; a data-parallel rank gives its own): decoded ahead while earlier ones train."""
        batches = [b.detach().reshape(-1) if torch.is_tensor(b) else torch.as_tensor(b).reshape(-1) for b in batches]
        if not batches:
            return self._source.schedule([])
        picked = torch.cat(batches).cpu().numpy().astype(np.int64)
        self._source.schedule(self.train_images._rows[picked], [len(b) for b in batches])

    def close(self) -> None:
        """End the decoding processes now (else when the dataset is collected or the process exits)."""
        self._source.close()
