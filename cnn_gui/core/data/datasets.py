"""Image datasets held in memory as uint8 tensors.

The training engine slices batches out of these tensors itself: no ``DataLoader``, no
per-sample PIL images or transforms. :meth:`ImageDataset.normalize` turns a uint8 batch
into the float32 input the networks expect.

MNIST ships with the app (``resources/mnist``, gzipped IDX files) and is read here with
numpy alone. ``folder:PATH`` is the user's own images, one subfolder per class
(:mod:`cnn_gui.core.data.image_folder`). Fashion-MNIST and CIFAR-10 are fetched on demand from the addresses and
checksums torchvision lists, by :mod:`cnn_gui.core.data.download` (torchvision's own download
has no timeout and cannot be cancelled), then read by torchvision from the local files.
torchvision is imported only inside :func:`load_dataset` so that start-up stays fast.

Every failure is a :class:`DatasetError`: one line saying what failed (the host that did
not answer, the corrupt file, the folder that cannot be written) and a hint saying what
to do.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cnn_gui.core.data.download import TIMEOUT_ENV as TIMEOUT_ENV_NAME
from cnn_gui.core.data.download import Cancel, FetchCancelled, FetchError, cancel_check, download_timeout, fetch
from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.resources import resource_path


class DatasetError(CnnGuiError, RuntimeError):
    """A dataset that cannot be loaded: one line saying what failed, a hint saying what to do.

    Still a RuntimeError, as it was before :class:`CnnGuiError` existed, for callers that
    catch that.
    """


class DownloadCancelled(DatasetError):
    """``load_dataset(cancel=...)`` was told to stop during a download; no partial file is left."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, applied to x/255
    std: tuple[float, ...]
    bundled: bool


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        input_shape=(1, 28, 28),
        classes=tuple(str(d) for d in range(10)),
        mean=(0.5,),  # as the tutorial: Normalize((0.5,), (0.5,)), so inputs lie in [-1, 1]
        std=(0.5,),
        bundled=True,
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST clothing",
        input_shape=(1, 28, 28),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=(0.2860,),
        std=(0.3530,),
        bundled=False,
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        title="CIFAR-10 small colour photos",
        input_shape=(3, 32, 32),
        classes=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        bundled=False,
    ),
}

_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
}


def dataset_names() -> list[str]:
    return list(DATASETS)


FOLDER_PREFIX = "folder:"


def is_folder_dataset(name: object) -> bool:
    """``folder:PATH``: the user's own images (see :mod:`cnn_gui.core.data.image_folder`)."""
    return isinstance(name, str) and name.startswith(FOLDER_PREFIX)


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(
            f"unknown dataset {one_line(repr(name), 120)}: choose one of {', '.join(DATASETS)}, "
            "or folder:PATH for your own images (one subfolder per class)"
        )
    return key


@dataclass
class ImageDataset:
    info: DatasetInfo
    train_images: torch.Tensor  # uint8 [N, C, H, W], contiguous
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor
    # Images of a folder dataset that could not be read (damaged, not images, too large):
    # how many, and up to a few of them as "class/file.png: why".
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()
    _stats: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here, once, so that a bad label is a message now and not an IndexError
        # deep inside a training step.
        what = self.info.title
        self.train_labels = _checked_pair(self.train_images, self.train_labels, self.info, f"{what} training set")
        self.test_labels = _checked_pair(self.test_images, self.test_labels, self.info, f"{what} test set")

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.info.input_shape

    @property
    def mean(self) -> tuple[float, ...]:
        return self.info.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.info.std

    @property
    def note(self) -> str:
        """One line for the UI about what loading left out, or "" when nothing was."""
        if not self.skipped:
            return ""
        example = f" (e.g. {self.skipped_examples[0]})" if self.skipped_examples else ""
        s = "" if self.skipped == 1 else "s"
        return one_line(f"skipped {self.skipped:,} unreadable image{s}{example}")

    def _with(self, *tensors: torch.Tensor) -> "ImageDataset":
        return ImageDataset(self.info, *tensors, skipped=self.skipped, skipped_examples=self.skipped_examples)

    @property
    def train_size(self) -> int:
        return int(self.train_labels.shape[0])

    @property
    def test_size(self) -> int:
        return int(self.test_labels.shape[0])

    def to(self, device) -> "ImageDataset":
        """A new dataset with all four tensors on ``device``."""
        device = torch.device(device)

        def move(t: torch.Tensor) -> torch.Tensor:
            # Host-to-device copies may run asynchronously; device-to-host ones must not,
            # since the CPU could read the result before the copy has finished.
            non_blocking = t.device.type == "cpu" and device.type != "cpu"
            return t.to(device, non_blocking=non_blocking)

        return self._with(
            move(self.train_images),
            move(self.train_labels),
            move(self.test_images),
            move(self.test_labels),
        )

    def subset(self, train: int | None = None, test: int | None = None) -> "ImageDataset":
        """The first ``train`` training and ``test`` test samples (None: all of them)."""
        for label, n in (("train", train), ("test", test)):
            if n is not None and n < 0:
                raise ValueError(f"{label} subset size must not be negative (got {n})")
        tr = slice(None) if train is None else slice(0, train)
        te = slice(None) if test is None else slice(0, test)
        return self._with(
            self.train_images[tr],
            self.train_labels[tr],
            self.test_images[te],
            self.test_labels[te],
        )

    def _scale_shift(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = str(device)
        stats = self._stats.get(key)
        if stats is None:
            mean = torch.tensor(self.info.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
            std = torch.tensor(self.info.std, dtype=torch.float32, device=device).view(-1, 1, 1)
            stats = self._stats[key] = (mean, std)
        return stats

    def normalize(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """float32 ``(x/255 - mean) / std`` per channel, for [N, C, H, W] or [C, H, W] input.

        The result is on the input's device and keeps its memory format (channels_last in,
        channels_last out).
        """
        mean, std = self._scale_shift(images_uint8.device)
        # .to() preserves the memory format; the in-place ops below keep it.
        x = images_uint8.to(torch.float32, copy=True)
        return x.div_(255.0).sub_(mean).div_(std)


def default_data_dir() -> Path:
    """Where downloaded datasets go: $CNN_GUI_DATA_DIR, else the user's data folder."""
    env = os.environ.get("CNN_GUI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("cnn-gui")) / "data"


# --------------------------------------------------------------------------- IDX files

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_MAX_BYTES = 1 << 33  # 8 GiB: anything larger is a corrupt header, not a dataset


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    return data if data is not None else b""


def read_idx(path) -> np.ndarray:
    """Read an IDX file (as used by MNIST), gzipped or not, into a numpy array.

    The gzip form is recognised by its magic bytes, whatever the file's name. A wrong
    magic number, an impossible shape or a short file raises :class:`DatasetError`
    naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            header = _read_exact(f, 4)
            if len(header) < 4:
                raise DatasetError(f"{path} is not an IDX file: it is empty or shorter than the 4-byte header")
            if header[0] != 0 or header[1] != 0 or header[2] not in _IDX_TYPES or not 1 <= header[3] <= 8:
                raise DatasetError(
                    f"{path} is not an IDX file (bad magic number {header.hex()}); "
                    "replace it with a fresh copy of the original file"
                )
            dtype = _IDX_TYPES[header[2]]
            ndim = header[3]
            dims_bytes = _read_exact(f, 4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise DatasetError(f"{path} is truncated: its IDX header ends early")
            dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
            count = math.prod(dims)
            nbytes = count * dtype.itemsize
            if nbytes > _IDX_MAX_BYTES:
                raise DatasetError(f"{path} has an implausible IDX shape {dims}; the file is corrupt")
            if not gzipped:
                size = path.stat().st_size
                expected = 4 + 4 * ndim + nbytes
                if size != expected:
                    raise DatasetError(
                        f"{path} is {'truncated' if size < expected else 'too long'}: "
                        f"an IDX file of shape {dims} has {expected} bytes, this one has {size}"
                    )
            out = np.empty(count, dtype=dtype)
            view = memoryview(out).cast("B")
            filled = 0
            while filled < nbytes:
                n = f.readinto(view[filled:])
                if not n:
                    break
                filled += n
            if filled < nbytes:
                raise DatasetError(
                    f"{path} is truncated: shape {dims} needs {nbytes} bytes of data, found {filled}"
                )
            if f.read(1):
                raise DatasetError(f"{path} has data beyond the {nbytes} bytes its IDX shape {dims} calls for")
    except DatasetError:
        raise
    except FileNotFoundError as exc:
        raise DatasetError(f"IDX file {path} does not exist") from exc
    except (OSError, EOFError, ValueError) as exc:  # BadGzipFile is an OSError; EOFError: cut-off gzip
        raise DatasetError(f"cannot read IDX file {path}: {exc}; replace it with a fresh copy") from exc
    if dtype.itemsize > 1:
        out = out.astype(dtype.newbyteorder("="))
    return out.reshape(dims)


# --------------------------------------------------------------------------- checks


def _label_range_problem(lo: int, hi: int, classes: int) -> str | None:
    if lo < 0 or hi >= classes:
        return f"label {lo if lo < 0 else hi} is outside 0..{classes - 1} (the dataset has {classes} classes)"
    return None


def _checked_pair(images, labels, info: DatasetInfo, what: str) -> torch.Tensor:
    """``labels`` as int64, after checking that both tensors fit ``info``."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise DatasetError(
            f"{what}: images and labels must be torch tensors, not {type(images).__name__} and {type(labels).__name__}"
        )
    c, h, w = info.input_shape
    if images.dtype != torch.uint8:
        raise DatasetError(f"{what}: images are {images.dtype}, expected torch.uint8")
    if images.ndim != 4 or tuple(images.shape[1:]) != (c, h, w):
        raise DatasetError(f"{what}: images have shape {tuple(images.shape)}, expected [N, {c}, {h}, {w}]")
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise DatasetError(
            f"{what}: labels must be a 1-D integer tensor, not {labels.dtype} of shape {tuple(labels.shape)}"
        )
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.numel():
        problem = _label_range_problem(int(labels.min()), int(labels.max()), len(info.classes))
        if problem:
            raise DatasetError(f"{what}: {problem}")
    return labels if labels.dtype == torch.int64 else labels.to(torch.int64)


# --------------------------------------------------------------------------- MNIST (bundled)


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
        problem = _label_range_problem(int(labels.min()), int(labels.max()), len(info.classes))
        if problem:
            raise DatasetError(f"{what}: {problem}")


@functools.lru_cache(maxsize=1)
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
        tensors = _mnist_tensors()
    except FileNotFoundError as exc:  # resources folder missing entirely
        raise DatasetError(f"bundled MNIST not found: {exc}", hint="Reinstall cnn-gui.") from exc
    except DatasetError as exc:
        raise DatasetError(f"bundled MNIST is damaged: {exc.message}", hint="Reinstall cnn-gui.") from exc
    # Fresh tensors each time: callers may move or modify them without touching the cache.
    return ImageDataset(DATASETS["mnist"], *(t.clone() for t in tensors))


# --------------------------------------------------------------------------- torchvision datasets
#
# Addresses, file names and checksums come from torchvision's dataset classes, so they
# stay those torchvision itself would use; only the fetching is ours.

_FOLDER_HINT = "Choose a folder you can write to with --data-dir or the environment variable CNN_GUI_DATA_DIR."
_CACHE_SIZE = 4
_cache: "OrderedDict[tuple[str, str], tuple[torch.Tensor, ...]]" = OrderedDict()
# One load at a time: two threads (training and the Test set tab) asking for the same
# set must not download or unpack into the same folder at once.
_load_lock = threading.Lock()
_LOCK_POLL_S = 0.05


def _clear_cache() -> None:
    with _load_lock:
        _cache.clear()
    import sys

    folders = sys.modules.get("cnn_gui.core.data.image_folder")
    if folders is not None:
        folders.clear_cache()


@dataclass(frozen=True)
class _Fetching:
    """How downloads run: the cancel check, the timeout (None: the default), progress."""

    stop_requested: Callable[[], bool]
    timeout: float | None
    progress: Callable[[str, int, int | None], None] | None


def _torchvision_class(name: str):
    info = DATASETS[name]
    try:
        import torchvision.datasets as tvd
    except Exception as exc:  # pragma: no cover - torchvision is a dependency
        raise DatasetError(f"{info.title} needs torchvision, which cannot be imported: {exc}") from exc
    return tvd.FashionMNIST if name == "fashion-mnist" else tvd.CIFAR10


def _fashion_raw(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"  # torchvision's <root>/<class name>/raw


def _cifar_files(cls) -> list[tuple[str, str]]:
    """(name, md5) of every file torchvision reads from ``cifar-10-batches-py``."""
    return [(n, m) for n, m in (*cls.train_list, *cls.test_list)] + [(cls.meta["filename"], cls.meta["md5"])]


def _by_hand(name: str, cls, root: Path) -> str:
    """The clause telling the user how to put the files in place themselves."""
    if name == "fashion-mnist":
        files = ", ".join(f for f, _ in cls.resources)
        return f"or put these files from {cls.mirrors[0]} into {_fashion_raw(root)}{os.sep} by hand: {files}"
    return (
        f"or download {cls.url} into {root}{os.sep} by hand (or unpack it there, "
        f"giving {root / cls.base_folder}{os.sep})"
    )


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        why = (
            f"{blocker} is a file, not a folder"
            if blocker is not None and not blocker.is_dir()
            else exc.strerror or str(exc)
        )
        raise DatasetError(f"cannot create the data folder {folder}: {why}", hint=_FOLDER_HINT) from exc


def _download(urls: list[str], dest: Path, md5: str, name: str, cls, root: Path, how: _Fetching) -> None:
    """Fetch ``dest`` from the first mirror that works, or raise the first mirror's failure."""
    info = DATASETS[name]
    failures: list[FetchError] = []
    for url in urls:
        try:
            timeout = download_timeout() if how.timeout is None else how.timeout
            progress = functools.partial(how.progress, dest.name) if how.progress is not None else None
            fetch(url, dest, md5, timeout=timeout, cancel=how.stop_requested, progress=progress)
            return
        except FetchCancelled:
            raise DownloadCancelled(
                f"downloading {info.title} was cancelled",
                hint="Nothing partial was kept; files already complete stay for the next try.",
            ) from None
        except FetchError as exc:
            if exc.kind == "folder":
                raise DatasetError(str(exc), hint=_FOLDER_HINT) from exc
            if exc.kind == "setting":
                raise DatasetError(str(exc), hint="Set it to a number of seconds, such as 60, or unset it.") from exc
            failures.append(exc)
    first = failures[0]
    more = f" ({len(failures) - 1} other mirror(s) failed too)" if len(failures) > 1 else ""
    by_hand = _by_hand(name, cls, root)
    if first.kind == "corrupt":
        raise DatasetError(f"{first}{more}", hint=f"Try again later, {by_hand}.") from first
    # The hint is long already (the files and the folder); the wait goes with the message.
    wait = f"; {TIMEOUT_ENV_NAME} sets how many seconds to wait" if "timed out" in str(first) else ""
    raise DatasetError(
        f"cannot download {dest.name} for {info.title}: {first}{more}{wait}",
        hint=f"Check the network connection and try again, {by_hand}.",
    ) from first


def _not_here(name: str, cls, where: Path, root: Path) -> DatasetError:
    return DatasetError(
        f"{DATASETS[name].title} is not in {where}{os.sep} and downloading is switched off",
        hint=f"Allow the download, {_by_hand(name, cls, root)}.",
    )


def _corrupt(path: Path, detail: str, again: str) -> DatasetError:
    return DatasetError(f"{path} is corrupt ({detail})", hint=f"Delete it and try again{again}.")


def _copy_stream(src, dest: Path, stop_requested: Callable[[], bool], source: Path) -> None:
    """Copy the readable ``src`` to ``dest`` through a temporary file; errors name the right file."""
    import tempfile
    import zlib

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise DatasetError(f"cannot write in the folder {dest.parent} ({exc.strerror or exc})", hint=_FOLDER_HINT) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                if stop_requested():
                    raise DownloadCancelled(f"unpacking {source.name} was cancelled", hint="Nothing partial was kept.")
                try:
                    chunk = src.read(1 << 20)
                except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
                    raise _corrupt(source, f"{type(exc).__name__}: {exc}", "") from exc
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise DatasetError(f"cannot write {dest} ({exc.strerror or exc})", hint=_FOLDER_HINT) from exc
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _ensure_fashion(cls, root: Path, download: bool, how: _Fetching) -> None:
    raw = _fashion_raw(root)
    for filename, md5 in cls.resources:
        stem = filename[: -len(".gz")] if filename.endswith(".gz") else filename
        if (raw / stem).is_file():
            continue
        packed = raw / filename
        if not packed.is_file():
            if not download:
                raise _not_here("fashion-mnist", cls, raw, root)
            _make_folder(raw)
            _download([mirror + filename for mirror in cls.mirrors], packed, md5, "fashion-mnist", cls, root, how)
        # torchvision reads only unpacked files.
        try:
            src = gzip.open(packed, "rb")
        except OSError as exc:
            raise DatasetError(f"cannot read {packed} ({exc.strerror or exc})") from exc
        with src:
            _copy_stream(src, raw / stem, how.stop_requested, packed)


def _ensure_cifar(cls, root: Path, download: bool, how: _Fetching) -> None:
    import tarfile
    import zlib

    folder = root / cls.base_folder
    missing = {n for n, _ in _cifar_files(cls) if not (folder / n).is_file()}
    if not missing:
        return
    archive = root / cls.filename
    if not archive.is_file():
        if not download:
            raise _not_here("cifar10", cls, folder, root)
        _make_folder(root)
        _download([cls.url], archive, cls.tgz_md5, "cifar10", cls, root, how)
    _make_folder(folder)
    # Only the files torchvision reads, each under a name chosen here: no path from the
    # archive is ever used, so it cannot write outside the folder.
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                path = member.name.replace("\\", "/").split("/")
                if member.isfile() and len(path) == 2 and path[0] == cls.base_folder and path[1] in missing:
                    src = tar.extractfile(member)
                    with src:
                        _copy_stream(src, folder / path[1], how.stop_requested, archive)
                    missing.discard(path[1])
                if not missing:
                    break
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise _corrupt(archive, f"{type(exc).__name__}: {exc}", " to download a fresh copy" if download else "") from exc
    if missing:
        raise _corrupt(archive, f"it holds no {', '.join(sorted(missing))}", " to download a fresh copy" if download else "")


def _load_failure(name: str, cls, root: Path, train: bool, exc: Exception) -> DatasetError:
    """The file torchvision could not read, found and named; else the folder."""
    info = DATASETS[name]
    if name == "fashion-mnist":
        raw = _fashion_raw(root)
        for kind in ("images-idx3", "labels-idx1"):
            path = raw / f"{'train' if train else 't10k'}-{kind}-ubyte"
            try:
                read_idx(path)
            except DatasetError as bad:
                return DatasetError(bad.message, hint=f"Delete it and {path.name}.gz beside it, then try again.")
        folder = raw
    else:
        from torchvision.datasets.utils import check_integrity

        folder = root / cls.base_folder
        wanted = [*(cls.train_list if train else cls.test_list), (cls.meta["filename"], cls.meta["md5"])]
        for file, md5 in wanted:
            if not check_integrity(str(folder / file), md5):
                return _corrupt(folder / file, "its md5 checksum is not CIFAR-10's", "")
    detail = " ".join(str(exc).split()) or "no details"
    return DatasetError(
        f"cannot read {info.title} from {folder} ({type(exc).__name__}: {detail})",
        hint=f"Delete {folder} and try again.",
    )


def _to_nchw(data, info: DatasetInfo, what: str) -> torch.Tensor:
    array = np.asarray(data)
    if array.dtype != np.uint8:
        # Integers that fit a byte are pixels still; anything else is not this dataset.
        if array.dtype.kind not in "ui" or (array.size and (array.min() < 0 or array.max() > 255)):
            raise DatasetError(f"{what}: images are {array.dtype}, expected bytes (0-255)")
        array = array.astype(np.uint8)
    images = torch.as_tensor(array)
    c, h, w = info.input_shape
    if images.ndim == 3 and c == 1:
        images = images.unsqueeze(1)
    elif images.ndim == 4 and tuple(images.shape[1:]) == (h, w, c):  # NHWC, as CIFAR's numpy arrays
        images = images.permute(0, 3, 1, 2)
    if images.ndim != 4 or tuple(images.shape[1:]) != (c, h, w):
        raise DatasetError(f"{what}: images have shape {tuple(images.shape)}, expected [N, {c}, {h}, {w}]")
    return images.contiguous()


def _to_labels(targets, n: int, info: DatasetInfo, what: str) -> torch.Tensor:
    array = np.asarray(targets)
    if array.dtype.kind not in "ui" or array.ndim != 1:
        raise DatasetError(f"{what}: labels are {array.dtype} of shape {array.shape}, expected one integer per image")
    if array.shape[0] != n:
        raise DatasetError(f"{what}: {n} images but {array.shape[0]} labels")
    if array.size:
        problem = _label_range_problem(int(array.min()), int(array.max()), len(info.classes))
        if problem:
            raise DatasetError(f"{what}: {problem}")
    return torch.as_tensor(array.astype(np.int64)).contiguous()


def _torchvision_tensors(name: str, root: Path, download: bool, how: _Fetching) -> tuple[torch.Tensor, ...]:
    info = DATASETS[name]
    cls = _torchvision_class(name)
    if name == "fashion-mnist":
        _ensure_fashion(cls, root, download, how)
    else:
        _ensure_cifar(cls, root, download, how)
    out: list[torch.Tensor] = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=False)
        except Exception as exc:  # RuntimeError, OSError, pickle and parse errors...
            raise _load_failure(name, cls, root, train, exc) from exc
        what = f"{info.title} {'training' if train else 'test'} set in {root}"
        images = _to_nchw(ds.data, info, what)
        out.append(images)
        out.append(_to_labels(ds.targets, images.shape[0], info, what))
    return tuple(out)


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
    ``data_dir`` (default: :func:`default_data_dir`). Loaded data is cached in-process;
    every call returns new tensors that the caller may move or modify.

    ``cancel``: a ``threading.Event`` or a callable returning True to stop; it is polled
    every ~50 ms while downloading or unpacking, and :class:`DownloadCancelled` is raised
    with no partial file left behind. ``timeout``: seconds without an answer from the
    server before giving up (default ``$CNN_GUI_DOWNLOAD_TIMEOUT``, else 30).
    ``progress(file_name, bytes_done, bytes_total_or_None)`` is called per chunk received.

    Every failure raises :class:`DatasetError`.
    """
    if is_folder_dataset(name):
        from cnn_gui.core.data.image_folder import load_image_folder

        return load_image_folder(
            name[len(FOLDER_PREFIX):], input_shape if input_shape is not None else (1, 28, 28), cancel=cancel
        )
    key = _canonical_name(name)
    if key == "mnist":
        return _load_mnist()
    root = (Path(data_dir).expanduser() if data_dir is not None else default_data_dir()).resolve()
    stop_requested = cancel_check(cancel)
    with _one_load_at_a_time(stop_requested, DATASETS[key].title):
        tensors = _cache.get((key, str(root)))
        if tensors is None:
            tensors = _torchvision_tensors(key, root, bool(download), _Fetching(stop_requested, timeout, progress))
            _cache[(key, str(root))] = tensors
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end((key, str(root)))
    return ImageDataset(DATASETS[key], *(t.clone() for t in tensors))
