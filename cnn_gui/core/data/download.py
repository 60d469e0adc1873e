"""HTTP downloads that never hang, can be cancelled, and never leave half a file.

``urllib``'s own timeout bounds each socket operation but not the host-name lookup, and
a blocked read cannot be interrupted. So the socket work runs on a helper thread that
hands chunks over a small queue, and the calling thread watches the clock and the
cancel request: it gives up when nothing has arrived for ``timeout`` seconds (while
connecting, while waiting for the reply, or between two chunks) or as soon as the
download is cancelled, whatever the helper is stuck in. The helper then ends by itself
at its socket's own timeout.

The bytes go to a temporary file next to the destination, are checked against their
md5, and only then renamed into place. Failures raise :class:`FetchError`, whose text
names the host, the file or the folder; the caller adds what the user should do.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import math
import os
import queue
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Union
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, getproxies, proxy_bypass, urlopen

from cnn_gui.core.files.safe_io import refuse_irregular

DEFAULT_TIMEOUT = 30.0  # seconds without any answer before a download gives up
TIMEOUT_ENV = "CNN_GUI_DOWNLOAD_TIMEOUT"
CHUNK_SIZE = 1 << 16
_POLL_S = 0.05  # how quickly a cancel request is noticed
_QUEUE_CHUNKS = 16  # the helper may run at most ~1 MB ahead of the writer

Cancel = Union[threading.Event, Callable[[], bool], None]
Progress = Callable[[int, "int | None"], None]


class FetchError(Exception):
    """A failed download. ``kind``: 'network', 'corrupt', 'folder' or 'setting'."""

    def __init__(self, kind: str, text: str, path: Path | None = None) -> None:
        super().__init__(text)
        self.kind = kind
        self.path = path


class FetchCancelled(Exception):
    """The caller asked the download to stop; nothing was left on disk."""


def download_timeout() -> float:
    """Seconds without an answer before giving up: $CNN_GUI_DOWNLOAD_TIMEOUT, else the default."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise FetchError("setting", f"{TIMEOUT_ENV}={text[:40]!r} is not a positive number of seconds")
    return value


def cancel_check(cancel: Cancel) -> Callable[[], bool]:
    """A function answering 'stop now?' for an Event, a callable returning bool, or None."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError(f"cancel must be a threading.Event or a callable returning bool, not {type(cancel).__name__}")


def fetch(
    url: str,
    dest: str | Path,
    md5: str | None = None,
    *,
    timeout: float | None = None,
    cancel: Cancel = None,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (whose folder must exist) and return ``dest``.

    ``timeout``: seconds without an answer (default :func:`download_timeout`).
    ``cancel`` is polled every few tens of milliseconds; when it says stop,
    :class:`FetchCancelled` is raised and the partial file removed. ``progress(done,
    total)`` is called after each chunk (``total`` is None when the server does not say).
    """
    dest = Path(dest)
    timeout = download_timeout() if timeout is None else float(timeout)
    stop_requested = cancel_check(cancel)
    if stop_requested():
        raise FetchCancelled()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise FetchError("folder", f"cannot write in the folder {dest.parent} ({_os_reason(exc)})", dest.parent) from exc
    tmp = Path(tmp_name)
    done = False
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, contextlib.closing(_stream(url, timeout, stop_requested)) as chunks:
            for chunk, size, total in chunks:
                try:
                    out.write(chunk)
                except OSError as exc:  # a full disk, a quota
                    raise FetchError("folder", f"cannot write {tmp} ({_os_reason(exc)})", dest.parent) from exc
                digest.update(chunk)
                if progress is not None:
                    progress(size, total)
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise FetchError(
                "corrupt",
                f"{dest.name} downloaded from {_host(url)} is corrupt (md5 {digest.hexdigest()}, expected {md5})",
                dest,
            )
        try:
            refuse_irregular(dest)  # a FIFO or a device where the file goes is never replaced
            os.replace(tmp, dest)
        except OSError as exc:
            raise FetchError("folder", f"cannot write {dest} ({_os_reason(exc)})", dest.parent) from exc
        done = True
        return dest
    finally:
        if not done:
            tmp.unlink(missing_ok=True)


def _stream(url: str, timeout: float, stop_requested: Callable[[], bool]):
    """Yield ``(chunk, bytes so far, total or None)``; raise FetchError / FetchCancelled."""
    channel: queue.Queue = queue.Queue(maxsize=_QUEUE_CHUNKS)
    quit_ = threading.Event()
    helper = threading.Thread(target=_pump, args=(url, timeout, channel, quit_), name="cnn-gui-download", daemon=True)
    helper.start()
    total: int | None = None
    size = 0
    started = False
    try:
        last_news = time.monotonic()
        while True:
            if stop_requested():
                raise FetchCancelled()
            try:
                what, value = channel.get(timeout=_POLL_S)
            except queue.Empty:
                if time.monotonic() - last_news > timeout:
                    raise FetchError("network", _timed_out(url, timeout, started, size, total)) from None
                continue
            last_news = time.monotonic()
            if what == "start":
                started, total = True, value
            elif what == "data":
                size += len(value)
                yield value, size, total
            elif what == "end":
                if total is not None and size < total:
                    raise FetchError(
                        "network", f"the connection to {_where(url)} was cut off after {size} of {total} bytes"
                    )
                return
            else:
                if isinstance(value, TimeoutError):  # the helper's socket noticed first
                    raise FetchError("network", _timed_out(url, timeout, started, size, total)) from value
                raise FetchError("network", _network_reason(value, url)) from value
    finally:
        quit_.set()


def _pump(url: str, timeout: float, channel: queue.Queue, quit_: threading.Event) -> None:
    """On the helper thread: open ``url`` and pass its chunks on until told to quit."""

    def send(item) -> bool:
        while not quit_.is_set():
            try:
                channel.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    try:
        request = Request(url, headers={"User-Agent": "cnn-gui"})
        with urlopen(request, timeout=timeout) as response:
            if not send(("start", response.length)):
                return
            while not quit_.is_set():
                chunk = response.read1(CHUNK_SIZE)  # what has arrived: a slow server still shows progress
                if not chunk:
                    break
                if not send(("data", chunk)):
                    return
        send(("end", None))
    except BaseException as exc:  # handed to the caller, who words it
        send(("error", exc))


# --------------------------------------------------------------------------- messages


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _where(url: str) -> str:
    """The host, and the proxy when one is in the way (it is then what fails to answer)."""
    parts = urlsplit(url)
    host = parts.hostname or url
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(host):
        return f"{host} (through the proxy {urlsplit(proxy).hostname or proxy})"
    return host


def _timed_out(url: str, timeout: float, started: bool, size: int, total: int | None) -> str:
    if not started:
        return f"{_where(url)} did not answer within {timeout:g} s (timed out while connecting)"
    of = f" of {total}" if total is not None else ""
    return f"{_where(url)} stopped sending for {timeout:g} s after {size}{of} bytes (timed out)"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _network_reason(exc: BaseException, url: str) -> str:
    where = _where(url)
    if isinstance(exc, HTTPError):
        return f"{where} answered HTTP {exc.code} {exc.reason} for {url}"
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"no network or DNS failure: cannot look up the host name {where} ({_os_reason(reason)})"
    if isinstance(reason, ConnectionRefusedError):
        port = urlsplit(url).port or {"http": 80, "https": 443}.get(urlsplit(url).scheme, "?")
        return f"{where} refused the connection on port {port}"
    if isinstance(reason, TimeoutError):
        return f"{where} did not answer in time (timed out)"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"{where} sent a certificate that cannot be verified ({reason.verify_message or reason})"
    if isinstance(reason, ssl.SSLError):
        return f"the secure connection to {where} failed ({reason.reason or reason})"
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, http.client.IncompleteRead)):
        return f"the connection to {where} was cut off"
    if isinstance(reason, http.client.HTTPException):
        return f"{where} sent a reply that is not HTTP ({type(reason).__name__})"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
        return f"no network: {where} is unreachable ({_os_reason(reason)})"
    if isinstance(reason, OSError):
        return f"cannot reach {where} ({_os_reason(reason)})"
    return f"the download from {where} failed ({type(reason).__name__}: {reason})"
