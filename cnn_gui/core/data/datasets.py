"""Loading a dataset by name into memory: :func:`load_dataset`, its cache, the bundled MNIST.

MNIST ships with the app (``resources/mnist``, gzipped IDX files) and is read here with
numpy alone. ``folder:PATH`` is the user's own images, one subfolder per class
(:mod:`cnn_gui.core.data.image_folder`). Fashion-MNIST and CIFAR-10 are fetched on demand
and read by torchvision (:mod:`cnn_gui.core.data.torchvision_sets`).

Every failure is a :class:`~cnn_gui.core.data.errors.DatasetError`: one line saying what
failed and a hint saying what to do.

A named dataset's decoded tensors are shared by every dataset loaded from them and kept
only while one of those is alive (:class:`_SharedTensors`): a second load during a run (the
Test set tab's) costs nothing, and once the run and the views have let go, nothing stays
behind. Held strongly, MNIST stayed in the window for good (53 MB, plus a 53 MB copy per
load while every load cloned it); reading it again costs 0.17 s. So the tensors of a
loaded dataset are shared: move them, slice them, never modify them in place.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cnn_gui.core.data import image_folder
from cnn_gui.core.data.download import Cancel, cancel_check
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.idx import read_idx
from cnn_gui.core.data.image_dataset import DatasetInfo, ImageDataset, label_range_problem
from cnn_gui.core.data.registry import DATASETS, FOLDER_PREFIX, canonical_name, is_folder_dataset
from cnn_gui.core.data.torchvision_sets import default_data_dir, torchvision_tensors
from cnn_gui.core.resources import resource_path



class _SharedTensors:
    """Each dataset's decoded tensors, by key, for as long as someone holds all of them."""

    def __init__(self) -> None:
        self._refs: dict[tuple[str, str], tuple[weakref.ref, ...]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[torch.Tensor, ...] | None:
        with self._lock:
            tensors = tuple(ref() for ref in self._refs.get(key, ()))
        return tensors if tensors and all(t is not None for t in tensors) else None

    def put(self, key: tuple[str, str], tensors: tuple[torch.Tensor, ...]) -> None:
        with self._lock:
            self._refs = {k: refs for k, refs in self._refs.items() if all(r() is not None for r in refs)}
            self._refs[key] = tuple(weakref.ref(t) for t in tensors)

    def clear(self) -> None:
        with self._lock:
            self._refs.clear()


_cache = _SharedTensors()
# One load at a time: two threads (training and the Test set tab) asking for the same
# set must not download or unpack into the same folder at once.
_load_lock = threading.Lock()
_LOCK_POLL_S = 0.05


def clear_cache() -> None:
    """Forget every dataset loaded so far, the user's image folders included."""
    with _load_lock:
        _cache.clear()
    image_folder.clear_cache()


def _check_pair(images: np.ndarray, labels: np.ndarray, info: DatasetInfo, what: str) -> None:
    shape = info.input_shape
    if images.ndim not in (3, 4) or tuple(images.shape[-2:]) != shape[1:] or labels.ndim != 1:
        raise DatasetError(
            f"{what}: unexpected shapes images {images.shape}, labels {labels.shape} (expected [N, {shape[1]}, {shape[2]}] and [N])"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    if images.dtype != np.uint8 or labels.dtype.kind not in "ui":
        raise DatasetError(f"{what}: images are {images.dtype} and labels {labels.dtype}, expected uint8 and integers")
    if labels.size:
        problem = label_range_problem(int(labels.min()), int(labels.max()), len(info.classes))
        if problem:
            raise DatasetError(f"{what}: {problem}")


def _mnist_tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    folder = resource_path("mnist")
    out = []
    for split in ("train", "t10k"):
        images = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
        _check_pair(images, labels, DATASETS["mnist"], f"bundled MNIST ({folder}, {split})")
        out.append(torch.from_numpy(images).unsqueeze(1).contiguous())
        out.append(torch.from_numpy(labels.astype(np.int64)))
    return tuple(out)  # type: ignore[return-value]


def _load_mnist() -> ImageDataset:
    try:
        tensors = _cache.get(("mnist", ""))
        if tensors is None:
            tensors = _mnist_tensors()
            _cache.put(("mnist", ""), tensors)
    except FileNotFoundError as exc:  # resources folder missing entirely
        raise DatasetError(f"bundled MNIST not found: {exc}", hint="Reinstall cnn-gui.") from exc
    except DatasetError as exc:
        raise DatasetError(f"bundled MNIST is damaged: {exc.message}", hint="Reinstall cnn-gui.") from exc
    return ImageDataset(DATASETS["mnist"], *tensors)  # shared (module docstring)


@contextlib.contextmanager
def _one_load_at_a_time(stop_requested: Callable[[], bool], title: str):
    while not _load_lock.acquire(timeout=_LOCK_POLL_S):
        if stop_requested():
            raise DownloadCancelled(f"loading {title} was cancelled while another load was running")
    try:
        yield
    finally:
        _load_lock.release()


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    cancel: Cancel = None,
    timeout: float | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    input_shape: tuple[int, int, int] | None = None,
) -> ImageDataset:
    """Load a dataset by name into memory.

    ``folder:PATH`` reads the user's images from PATH, one subfolder per class, resized
    to ``input_shape`` (C, H, W; default 1x28x28); see
    :func:`cnn_gui.core.data.image_folder.load_image_folder`. For the named datasets
    ``input_shape`` is not used: their images have the shape they have.

    ``mnist`` comes from the files bundled with the app (``data_dir``, ``download`` and
    the download options are not used). The others are read from, or downloaded into,
    ``data_dir`` (default: :func:`default_data_dir`). A named dataset's tensors are
    shared with the other datasets loaded from them while any is alive: move or slice them,
    never modify them in place (the module's docstring says why).

    ``cancel``: a ``threading.Event`` or a callable returning True to stop; it is polled
    every ~50 ms while downloading or unpacking, and :class:`DownloadCancelled` is raised
    with no partial file left behind. ``timeout``: seconds without an answer from the
    server before giving up (default ``$CNN_GUI_DOWNLOAD_TIMEOUT``, else 30).
    ``progress(file_name, bytes_done, bytes_total_or_None)`` is called per chunk received.

    Every failure raises :class:`DatasetError`.
    """
    if is_folder_dataset(name):
        return image_folder.load_image_folder(
            name[len(FOLDER_PREFIX):], input_shape if input_shape is not None else (1, 28, 28), cancel=cancel
        )
    key = canonical_name(name)
    if key == "mnist":
        return _load_mnist()
    root = (Path(data_dir).expanduser() if data_dir is not None else default_data_dir()).resolve()
    stop_requested = cancel_check(cancel)
    with _one_load_at_a_time(stop_requested, DATASETS[key].title):
        tensors = _cache.get((key, str(root)))
        if tensors is None:
            tensors = torchvision_tensors(key, root, bool(download), stop_requested, timeout, progress)
            _cache.put((key, str(root)), tensors)
    return ImageDataset(DATASETS[key], *tensors)  # shared (module docstring)


def dataset_classes(name: str) -> tuple[str, ...]:
    """The class names of dataset ``name`` without loading its images: a folder's class folders
    are listed, a named dataset's are known. DatasetError when there is no such dataset."""
    if is_folder_dataset(name):
        from cnn_gui.core.data.folder_scan import scan_layout

        text = name[len(FOLDER_PREFIX):].strip()
        folder = Path(text).expanduser()
        if not text or not folder.is_dir():
            raise DatasetError(f"image folder not found: {text or '(no path)'}")
        return tuple(scan_layout(folder).classes)
    return tuple(DATASETS[canonical_name(name)].classes)
