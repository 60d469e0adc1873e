"""Files written whole or not at all, and read only when they are plain files of bounded size.

Writing (:func:`atomic_write`): the data goes to ``.<name>.<pid>.<random>.tmp`` beside
the target, is fsynced, and is renamed over the target, so a reader sees the old file
or the new one, never half of one; a failure removes the temporary file and leaves the
old file as it was. A target that exists and is not a regular file (``/dev/null``, a
FIFO, a socket, a folder, a device) is refused before anything is written: a rename
would replace the device node itself. Temporary files that interrupted writes left
beside the target are removed first (:func:`remove_stale_temporaries`).

Reading (:func:`open_regular`, :func:`read_regular`) and appending
(:func:`append_regular`): the file is opened without blocking (a FIFO would hang the
caller until another process opened its other end) and checked on the open descriptor,
so what is read is the file that was checked: a regular file, within the caller's size
limit (``/dev/zero`` would never end).

Errors are :class:`OSError` subclasses whose ``strerror`` is a sentence, so that callers
turn them into their own one-line errors as they do any other I/O failure.
"""

from __future__ import annotations

import errno
import glob
import os
import secrets
import stat
import time
from pathlib import Path
from typing import BinaryIO, Callable, Union

from cnn_gui.core.files.processes import pid_alive

Writer = Callable[[Path], object]
Data = Union[bytes, Writer]

_STALE_TMP_SECONDS = 3600  # a temporary file this old is an interrupted write, whoever wrote it
_LEGACY_TMP_SECONDS = 60  # names without a pid (older cnn-gui versions)
_REPLACE_TRIES = 5  # Windows: a reader (an antivirus, the Runs view) may hold the target a moment
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class NotRegularFileError(OSError):
    """A path that names a folder, device, FIFO or socket where a plain file is wanted."""


class FileTooLargeError(OSError):
    """A file larger than its reader's limit; ``size`` and ``limit`` in bytes."""

    def __init__(self, path: Path, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"it is {size:,} bytes, more than the {limit:,} read here", str(path))
        self.size, self.limit = size, limit


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def _not_regular(path: Path, mode: int) -> NotRegularFileError:
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    return NotRegularFileError(code, f"it is {_kind(mode)}, not a regular file", str(path))


def refuse_irregular(path: str | os.PathLike) -> None:
    """NotRegularFileError if ``path`` exists (following links) and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there (a dangling link included): a new file
    if not stat.S_ISREG(mode):
        raise _not_regular(Path(path), mode)


# --------------------------------------------------------------------------- reading


def _open_checked(path: str | os.PathLike, flags: int, limit_bytes: int | None = None) -> int:
    """A descriptor of ``path`` opened without blocking, checked to be a regular file."""
    try:
        fd = os.open(path, flags | _O_NONBLOCK | _O_BINARY, 0o644)
    except OSError as exc:
        # ENXIO: a socket, or a FIFO opened for writing with no reader; EACCES/EISDIR: a
        # folder on Windows. Say what the path is rather than how opening it failed.
        if exc.errno in (errno.ENXIO, errno.EACCES, errno.EISDIR):
            refuse_irregular(path)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(Path(path), st.st_mode)
        if limit_bytes is not None and st.st_size > limit_bytes:
            raise FileTooLargeError(Path(path), st.st_size, limit_bytes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | os.PathLike, limit_bytes: int | None = None) -> BinaryIO:
    """``path`` opened for binary reading, checked on the open descriptor to be a regular
    file of at most ``limit_bytes`` (no limit: None); the caller closes it."""
    return os.fdopen(_open_checked(path, os.O_RDONLY, limit_bytes), "rb")


def read_regular(path: str | os.PathLike, limit_bytes: int) -> bytes:
    """The whole of a regular file of at most ``limit_bytes`` (FileTooLargeError past it,
    also when the file grows while it is read)."""
    with open_regular(path, limit_bytes) as f:
        data = f.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise FileTooLargeError(Path(path), len(data), limit_bytes)
    return data


def read_regular_text(path: str | os.PathLike, limit_bytes: int) -> str:
    """:func:`read_regular` decoded as UTF-8 (UnicodeDecodeError, a ValueError, if it is not)."""
    return read_regular(path, limit_bytes).decode("utf-8")


# --------------------------------------------------------------------------- writing


def atomic_write(path: str | os.PathLike, data: Data) -> Path:
    """Replace ``path`` with ``data`` whole, or leave it as it was; returns the path.

    ``data``: the bytes, or a function that writes the file at the path it is given (a
    fresh, empty temporary file beside the target). The new file keeps an existing
    target's permissions (0o644 less the umask for a new one). Raises OSError
    (NotRegularFileError for a target that is not a regular file) or whatever ``data``
    raised, after removing the temporary file.
    """
    path = Path(path)
    refuse_irregular(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o644
    remove_stale_temporaries(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    done = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, mode)
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(tmp)
            else:
                f.write(data)
                f.flush()
            os.fsync(f.fileno())  # the same file the writer function wrote by its path
        refuse_irregular(path)  # again: whatever appeared meanwhile is never replaced
        _replace(tmp, path)
        done = True
    finally:
        if not done:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_dir(path.parent)
    return path


def append_regular(path: str | os.PathLike, data: bytes, fsync: bool = False) -> None:
    """Append ``data`` to ``path`` (made if missing), a regular file checked on the open
    descriptor: a FIFO planted there fails at once instead of waiting for a reader."""
    fd = _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _replace(tmp: Path, path: Path) -> None:
    for attempt in range(_REPLACE_TRIES):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:  # Windows: a reader has the file open for a moment
            if attempt == _REPLACE_TRIES - 1:
                raise
            time.sleep(0.05)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows (not on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of interrupted writes to ``path``; returns what was removed.

    A temporary file is stale when the process that wrote it is gone (its pid is in the
    name) or when it is over an hour old; an older cnn-gui's names carry no pid, and
    count as stale after a minute.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        pid_text = tmp.name[len(path.name) + 2: -len(".tmp")].split(".", 1)[0]
        try:
            age = now - tmp.stat().st_mtime
        except OSError:
            continue
        has_pid = pid_text.isdigit()
        dead = has_pid and not pid_alive(int(pid_text))
        if dead or age > _STALE_TMP_SECONDS or (not has_pid and age > _LEGACY_TMP_SECONDS):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed
