"""Image datasets held in memory as uint8 tensors.

The training engine slices batches out of these tensors itself: no ``DataLoader``, no
per-sample PIL images or transforms. :meth:`ImageDataset.normalize` turns a uint8 batch
into the float32 input the networks expect.

MNIST ships with the app (``resources/mnist``, gzipped IDX files) and is read here with
numpy alone. Fashion-MNIST and CIFAR-10 are downloaded on demand through torchvision,
which is imported only inside :func:`load_dataset` so that start-up stays fast.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .resources import resource_path


class DatasetError(RuntimeError):
    """A dataset that cannot be loaded; the message says what failed and what to do."""


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


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return key


@dataclass
class ImageDataset:
    info: DatasetInfo
    train_images: torch.Tensor  # uint8 [N, C, H, W], contiguous
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor
    _stats: dict = field(default_factory=dict, init=False, repr=False, compare=False)

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

        return ImageDataset(
            self.info,
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
        return ImageDataset(
            self.info,
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


# --------------------------------------------------------------------------- MNIST (bundled)


def _check_pair(images: np.ndarray, labels: np.ndarray, shape: tuple[int, int, int], what: str) -> None:
    if images.ndim not in (3, 4) or tuple(images.shape[-2:]) != shape[1:] or labels.ndim != 1:
        raise DatasetError(
            f"{what}: unexpected shapes images {images.shape}, labels {labels.shape} (expected [N, {shape[1]}, {shape[2]}] and [N])"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")


@functools.lru_cache(maxsize=1)
def _mnist_tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    folder = resource_path("mnist")
    out = []
    for split in ("train", "t10k"):
        images = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
        _check_pair(images, labels, DATASETS["mnist"].input_shape, f"bundled MNIST ({folder}, {split})")
        out.append(torch.from_numpy(images).unsqueeze(1).contiguous())
        out.append(torch.from_numpy(labels.astype(np.int64)))
    return tuple(out)  # type: ignore[return-value]


def _load_mnist() -> ImageDataset:
    try:
        tensors = _mnist_tensors()
    except FileNotFoundError as exc:  # resources folder missing entirely
        raise DatasetError(f"bundled MNIST not found: {exc}") from exc
    except DatasetError as exc:
        raise DatasetError(f"bundled MNIST is damaged: {exc}. Reinstall cnn-gui.") from exc
    # Fresh tensors each time: callers may move or modify them without touching the cache.
    return ImageDataset(DATASETS["mnist"], *(t.clone() for t in tensors))


# --------------------------------------------------------------------------- torchvision datasets

_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def _by_hand(name: str, root: Path) -> str:
    """The sentence telling the user where to put the files themselves."""
    if name == "fashion-mnist":
        return (
            f"download {', '.join(f + '.gz' for f in _FASHION_FILES)} from {_FASHION_URL} "
            f"and put them in {root / 'FashionMNIST' / 'raw'}{os.sep}"
        )
    return (
        f"download {_CIFAR_URL} and put it in {root}{os.sep} "
        f"(or unpack it there, so that {root / _CIFAR_FOLDER}{os.sep} holds {', '.join(_CIFAR_FILES)})"
    )


def _local_files_present(name: str, root: Path) -> bool:
    """Whether the files are on disk (unpacked or still packed), unpacking them if need be."""
    if name == "fashion-mnist":
        raw = root / "FashionMNIST" / "raw"
        for stem in _FASHION_FILES:
            if (raw / stem).is_file():
                continue
            packed = raw / f"{stem}.gz"
            if not packed.is_file():
                return False
            # torchvision only reads unpacked files; unpack the user's .gz copy for it.
            try:
                with gzip.open(packed, "rb") as src, open(raw / stem, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except (OSError, EOFError) as exc:
                (raw / stem).unlink(missing_ok=True)
                raise DatasetError(f"cannot unpack {packed}: {exc}; replace it with a fresh copy") from exc
        return True
    folder = root / _CIFAR_FOLDER
    if all((folder / f).is_file() for f in _CIFAR_FILES):
        return True
    archive = root / _CIFAR_ARCHIVE
    if not archive.is_file():
        return False
    import tarfile

    try:
        with tarfile.open(archive, "r:gz") as tar:
            if sys.version_info >= (3, 12):
                tar.extractall(root, filter="data")
            else:  # pragma: no cover
                tar.extractall(root)
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise DatasetError(f"cannot unpack {archive}: {exc}; replace it with a fresh copy") from exc
    return all((folder / f).is_file() for f in _CIFAR_FILES)


def _to_nchw(data, info: DatasetInfo, what: str) -> torch.Tensor:
    images = torch.as_tensor(np.asarray(data))
    c, h, w = info.input_shape
    if images.ndim == 3 and c == 1:
        images = images.unsqueeze(1)
    elif images.ndim == 4 and tuple(images.shape[1:]) == (h, w, c):  # NHWC, as CIFAR's numpy arrays
        images = images.permute(0, 3, 1, 2)
    if tuple(images.shape[1:]) != (c, h, w):
        raise DatasetError(f"{what}: images have shape {tuple(images.shape)}, expected [N, {c}, {h}, {w}]")
    if images.dtype != torch.uint8:
        raise DatasetError(f"{what}: images are {images.dtype}, expected uint8")
    return images.contiguous()


def _to_labels(targets, n: int, what: str) -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.int64).reshape(-1).contiguous()
    if labels.shape[0] != n:
        raise DatasetError(f"{what}: {n} images but {labels.shape[0]} labels")
    return labels


@functools.lru_cache(maxsize=4)
def _torchvision_tensors(name: str, root: str, download: bool) -> tuple[torch.Tensor, ...]:
    info = DATASETS[name]
    root_path = Path(root)
    if not download and not _local_files_present(name, root_path):
        raise DatasetError(
            f"{info.title} is not in {root_path} and downloading is switched off. "
            f"Allow the download, or {_by_hand(name, root_path)}."
        )
    try:
        root_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the data folder {root_path}: {exc}") from exc

    try:
        import torchvision.datasets as tvd
    except Exception as exc:  # pragma: no cover - torchvision is a dependency
        raise DatasetError(f"{info.title} needs torchvision, which cannot be imported: {exc}") from exc
    cls = tvd.FashionMNIST if name == "fashion-mnist" else tvd.CIFAR10
    source = _FASHION_URL if name == "fashion-mnist" else _CIFAR_URL

    out: list[torch.Tensor] = []
    for train in (True, False):
        split = "training" if train else "test"
        try:
            ds = cls(str(root_path), train=train, download=download)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError, tar/pickle errors...
            failed = f"downloading {info.title} from {source} failed" if download else f"loading {info.title} failed"
            raise DatasetError(
                f"{failed} ({type(exc).__name__}: {' '.join(str(exc).split()) or 'no details'}). "
                f"Check the network connection and try again, or {_by_hand(name, root_path)}."
            ) from exc
        what = f"{info.title} {split} set in {root_path}"
        images = _to_nchw(ds.data, info, what)
        out.append(images)
        out.append(_to_labels(ds.targets, images.shape[0], what))
    return tuple(out)


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = True) -> ImageDataset:
    """Load a dataset by name into memory.

    ``mnist`` comes from the files bundled with the app (``data_dir`` and ``download`` are
    not used). The others are read from, or downloaded into, ``data_dir`` (default:
    :func:`default_data_dir`). Loaded data is cached in-process; every call returns new
    tensors that the caller may move or modify.
    """
    key = _canonical_name(name)
    if key == "mnist":
        return _load_mnist()
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    tensors = _torchvision_tensors(key, str(root.resolve()), bool(download))
    return ImageDataset(DATASETS[key], *(t.clone() for t in tensors))
