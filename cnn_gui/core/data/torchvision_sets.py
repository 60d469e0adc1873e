"""Fashion-MNIST and CIFAR-10: fetched on demand, checked, unpacked, then read by torchvision.

Addresses, file names and checksums come from torchvision's dataset classes, so they stay
those torchvision itself would use; only the fetching is ours (:mod:`cnn_gui.core.data.download`:
torchvision's own download has no timeout and cannot be cancelled). torchvision is
imported only when one of these sets is loaded, so that start-up stays fast.
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cnn_gui.core.data.download import TIMEOUT_ENV as TIMEOUT_ENV_NAME
from cnn_gui.core.data.download import FetchCancelled, FetchError, download_timeout, fetch
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.idx import read_idx
from cnn_gui.core.data.image_dataset import DatasetInfo, label_range_problem
from cnn_gui.core.data.registry import DATASETS
from cnn_gui.core.files.safe_io import refuse_irregular

_FOLDER_HINT = "Choose a folder you can write to with --data-dir or the environment variable CNN_GUI_DATA_DIR."


def default_data_dir() -> Path:
    """Where downloaded datasets go: $CNN_GUI_DATA_DIR, else the user's data folder."""
    env = os.environ.get("CNN_GUI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("cnn-gui")) / "data"


def torchvision_tensors(
    name: str,
    root: Path,
    download: bool,
    stop_requested: Callable[[], bool],
    timeout: float | None,
    progress: Callable[[str, int, int | None], None] | None,
) -> tuple[torch.Tensor, ...]:
    """Train images, train labels, test images, test labels of the registry's ``name``.

    Read from ``root``, downloading what is missing when ``download`` is True (see
    :func:`cnn_gui.core.data.datasets.load_dataset` for the options).
    """
    return _read_tensors(name, root, download, _Fetching(stop_requested, timeout, progress))


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


def cifar_files(cls) -> list[tuple[str, str]]:
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
        try:
            refuse_irregular(dest)  # a FIFO or a device where the file goes is never replaced
        except OSError as exc:
            raise DatasetError(f"cannot write {dest}: {exc}", hint=_FOLDER_HINT) from None
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
    missing = {n for n, _ in cifar_files(cls) if not (folder / n).is_file()}
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
        problem = label_range_problem(int(array.min()), int(array.max()), len(info.classes))
        if problem:
            raise DatasetError(f"{what}: {problem}")
    return torch.as_tensor(array.astype(np.int64)).contiguous()


def _read_tensors(name: str, root: Path, download: bool, how: _Fetching) -> tuple[torch.Tensor, ...]:
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
