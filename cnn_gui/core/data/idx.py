"""Reading IDX files (MNIST's format), gzipped or not, with numpy alone."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from cnn_gui.core.data.errors import DatasetError

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
