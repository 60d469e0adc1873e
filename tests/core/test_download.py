"""Downloads against servers on 127.0.0.1: timeouts, refusals, corrupt bytes, cancelling.

Nothing here leaves the machine: a fixture refuses every connection that is not to the
loopback address, and torchvision's own downloader fails the test if it is ever called.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn_gui.core.data import datasets as data
from cnn_gui.core.data import download
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.download import FetchCancelled, FetchError, fetch
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.registry import DATASETS

LOOPBACK = "127.0.0.1"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    real_connect = socket.socket.connect

    def connect(self, address):
        if not (isinstance(address, tuple) and address[0] in (LOOPBACK, "::1", "localhost")):
            raise OSError(f"the tests may only connect to {LOOPBACK}, not {address!r}")
        return real_connect(self, address)

    def torchvision_download(*args, **kwargs):
        raise AssertionError("torchvision's own download (no timeout) was used")

    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", torchvision_download)
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", torchvision_download)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(download.TIMEOUT_ENV, raising=False)
    data.clear_cache()
    yield
    data.clear_cache()


# --------------------------------------------------------------------------- servers


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    trickle = False  # send one byte every 20 ms, forever
    cut_after: int | None = None  # announce the full length, send this many bytes, hang up...
    hang = False  # ...or stay connected and silent for 20 s

    def do_GET(self):  # noqa: N802 - the http.server API
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.trickle:
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                pass  # the client went away: what a cancel does
        elif self.cut_after is not None:
            self.wfile.write(body[: self.cut_after])
            self.wfile.flush()
            if self.hang:
                time.sleep(20)
            self.close_connection = True
        else:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """``start(files, **behaviour)`` -> the base URL of a server on 127.0.0.1."""
    servers = []

    def start(files: dict[str, bytes], trickle: bool = False, cut_after: int | None = None, hang: bool = False) -> str:
        behaviour = {"files": files, "trickle": trickle, "cut_after": cut_after, "hang": hang}
        handler = type("Handler", (_Handler,), behaviour)
        server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://{LOOPBACK}:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel completes them) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- tiny datasets


def _idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def _tiny_fashion(monkeypatch, mirrors: list[str]) -> dict[str, bytes]:
    """Point torchvision's FashionMNIST at ``mirrors`` and at tiny files; return the files."""
    import torchvision.datasets as tvd

    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", 6), ("t10k", 4)):
        files[f"{split}-images-idx3-ubyte.gz"] = _idx_gz(rng.integers(0, 256, (n, 28, 28)))
        files[f"{split}-labels-idx1-ubyte.gz"] = _idx_gz(rng.integers(0, 10, n))
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", mirrors)
    monkeypatch.setattr(tvd.FashionMNIST, "resources", [(name, _md5(body)) for name, body in files.items()])
    return files


def _tiny_cifar(monkeypatch, url: str) -> tuple[bytes, dict[str, dict]]:
    """Point torchvision's CIFAR10 at ``url`` serving a tiny archive; return it and its batches."""
    import torchvision.datasets as tvd

    rng = np.random.default_rng(1)
    batches = {}
    for name in [n for n, _ in tvd.CIFAR10.train_list] + ["test_batch"]:
        batches[name] = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": [int(v) for v in rng.integers(0, 10, 2)]}
    members = {name: pickle.dumps(batch) for name, batch in batches.items()}
    members["batches.meta"] = pickle.dumps({"label_names": list(DATASETS["cifar10"].classes)})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        evil = tarfile.TarInfo("../escaped")  # must never be written, nor anything outside the folder
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    archive = buf.getvalue()
    cls = tvd.CIFAR10
    monkeypatch.setattr(cls, "url", url)
    monkeypatch.setattr(cls, "tgz_md5", _md5(archive))
    monkeypatch.setattr(cls, "train_list", [[n, _md5(members[n])] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [["test_batch", _md5(members["test_batch"])]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(members["batches.meta"])})
    return archive, batches


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- success


def test_fashion_download_verifies_and_loads(tmp_path, monkeypatch, http_server):
    files = {}
    url = http_server(files)
    files.update(_tiny_fashion(monkeypatch, [url]))
    seen = []
    ds = load_dataset("fashion-mnist", data_dir=tmp_path, progress=lambda *a: seen.append(a))
    assert ds.train_size == 6 and ds.test_size == 4
    raw = tmp_path / "FashionMNIST" / "raw"
    labels = np.frombuffer(gzip.decompress(files["train-labels-idx1-ubyte.gz"])[8:], np.uint8)
    assert ds.train_labels.tolist() == labels.tolist()
    assert (raw / "train-images-idx3-ubyte.gz").read_bytes() == files["train-images-idx3-ubyte.gz"]
    assert not [p for p in _leftovers(tmp_path) if p.endswith(".part")]
    size = len(files["t10k-labels-idx1-ubyte.gz"])
    assert ("t10k-labels-idx1-ubyte.gz", size, size) in seen


def test_next_mirror_is_tried(tmp_path, monkeypatch, http_server, closed_port):
    files = {}
    url = http_server(files)
    files.update(_tiny_fashion(monkeypatch, [f"http://{LOOPBACK}:{closed_port}/", url]))
    assert load_dataset("fashion-mnist", data_dir=tmp_path).train_size == 6


def test_cifar_download_unpacks_only_its_files(tmp_path, monkeypatch, http_server):
    files = {}
    url = http_server(files) + "cifar-10-python.tar.gz"
    archive, batches = _tiny_cifar(monkeypatch, url)
    files["cifar-10-python.tar.gz"] = archive
    root = tmp_path / "data"
    ds = load_dataset("cifar10", data_dir=root)
    assert ds.train_size == 10 and ds.test_size == 2
    first = batches["data_batch_1"]
    np.testing.assert_array_equal(ds.train_images[:2].reshape(2, -1).numpy(), first["data"])
    assert ds.train_labels[:2].tolist() == first["labels"]
    assert not (tmp_path / "escaped").exists()
    assert (root / "cifar-10-python.tar.gz").read_bytes() == archive
    assert not [p for p in _leftovers(root) if p.endswith(".part")]


# --------------------------------------------------------------------------- network failures


def test_silent_server_times_out_naming_the_host(tmp_path, monkeypatch, silent_port):
    _tiny_fashion(monkeypatch, [f"http://{LOOPBACK}:{silent_port}/"])
    monkeypatch.setenv(download.TIMEOUT_ENV, "0.5")
    started = time.monotonic()
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"a silent server held the download for {elapsed:.1f} s"
    msg = err.value.message
    assert "timed out" in msg and LOOPBACK in msg and "0.5 s" in msg and "train-images-idx3-ubyte.gz" in msg
    assert download.TIMEOUT_ENV in msg and str(tmp_path / "FashionMNIST" / "raw") in err.value.hint
    assert _leftovers(tmp_path) == []


def test_timeout_argument_bounds_a_stalled_transfer(tmp_path, http_server):
    url = http_server({"f": b"y" * 1000}, cut_after=10, hang=True)  # 10 bytes, then silence
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch(url + "f", tmp_path / "f", timeout=0.5)
    assert time.monotonic() - started < 10
    assert err.value.kind == "network"
    assert "stopped sending for 0.5 s after 10 of 1000 bytes (timed out)" in str(err.value)
    assert LOOPBACK in str(err.value)
    assert _leftovers(tmp_path) == []


def test_refused_connection_says_so(tmp_path, monkeypatch, closed_port):
    _tiny_fashion(monkeypatch, [f"http://{LOOPBACK}:{closed_port}/"])
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path, timeout=5)
    msg = err.value.message
    assert "refused" in msg and LOOPBACK in msg and str(closed_port) in msg
    assert "network" in err.value.hint
    assert _leftovers(tmp_path) == []


def test_dns_failure_says_so(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(FetchError) as err:
        fetch("http://datasets.invalid/file.gz", tmp_path / "file.gz", timeout=5)
    assert "DNS" in str(err.value) and "datasets.invalid" in str(err.value)


def test_http_error_and_cut_off_transfer(tmp_path, http_server):
    url = http_server({"file": b"z" * 1000})
    with pytest.raises(FetchError, match="answered HTTP 404"):
        fetch(url + "missing", tmp_path / "missing", timeout=5)
    url = http_server({"file": b"z" * 1000}, cut_after=10)
    with pytest.raises(FetchError, match="cut off after 10 of 1000 bytes"):
        fetch(url + "file", tmp_path / "file", timeout=5)
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- corrupt bytes, folders, settings


def test_wrong_md5_is_a_corrupt_file_named(tmp_path, monkeypatch, http_server):
    files = {}
    url = http_server(files)
    files.update(_tiny_fashion(monkeypatch, [url]))
    files["train-images-idx3-ubyte.gz"] = b"not what the checksum says"
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    msg = err.value.message
    assert "train-images-idx3-ubyte.gz" in msg and "corrupt" in msg and "md5" in msg and LOOPBACK in msg
    assert not (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()
    assert not [p for p in _leftovers(tmp_path) if p.endswith(".part")]


def test_unwritable_folder_is_named(tmp_path, monkeypatch, http_server):
    """A data folder below a file cannot be created, even by root."""
    _tiny_fashion(monkeypatch, [http_server({})])
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=blocker)
    assert str(blocker / "FashionMNIST" / "raw") in err.value.message
    assert "--data-dir" in err.value.hint and "CNN_GUI_DATA_DIR" in err.value.hint


def test_fetch_names_a_folder_it_cannot_write_in(tmp_path):
    with pytest.raises(FetchError) as err:
        fetch("http://127.0.0.1:9/x", tmp_path / "no-such-folder" / "x", timeout=5)
    assert err.value.kind == "folder" and str(tmp_path / "no-such-folder") in str(err.value)


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_bad_timeout_setting_is_explained(tmp_path, monkeypatch, value, closed_port):
    _tiny_fashion(monkeypatch, [f"http://{LOOPBACK}:{closed_port}/"])
    monkeypatch.setenv(download.TIMEOUT_ENV, value)
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    assert download.TIMEOUT_ENV in err.value.message and "seconds" in err.value.message


def test_default_timeout(monkeypatch):
    assert download.download_timeout() == download.DEFAULT_TIMEOUT
    monkeypatch.setenv(download.TIMEOUT_ENV, "2.5")
    assert download.download_timeout() == 2.5


# --------------------------------------------------------------------------- cancelling


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_cancel_stops_a_slow_download_and_keeps_nothing(tmp_path, monkeypatch, http_server, kind):
    files = {}
    url = http_server(files, trickle=True)  # one byte every 20 ms: minutes for the first file
    files.update(_tiny_fashion(monkeypatch, [url]))
    stop = threading.Event()
    received = []

    def progress(name, done, total):
        received.append(done)

    timer = threading.Timer(0.3, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(DownloadCancelled) as err:
            load_dataset("fashion-mnist", data_dir=tmp_path, cancel=stop if kind == "event" else stop.is_set,
                         progress=progress, timeout=5)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"cancelling took {elapsed:.1f} s"
    assert received, "the slow server sent nothing before the cancel: the test proves nothing"
    assert isinstance(err.value, DatasetError) and "cancelled" in err.value.message
    assert _leftovers(tmp_path) == []


def test_cancel_while_connecting(tmp_path, silent_port):
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(FetchCancelled):
        fetch(f"http://{LOOPBACK}:{silent_port}/x", tmp_path / "x", timeout=30, cancel=stop)
    assert time.monotonic() - started < 3
    assert _leftovers(tmp_path) == []


def test_cancel_must_be_an_event_or_callable(tmp_path):
    with pytest.raises(TypeError):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", cancel="stop")


def test_dataset_cache_is_not_affected_by_a_cancel(tmp_path, monkeypatch, http_server):
    files = {}
    url = http_server(files)
    files.update(_tiny_fashion(monkeypatch, [url]))
    with pytest.raises(DownloadCancelled):
        load_dataset("fashion-mnist", data_dir=tmp_path, cancel=lambda: True)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.train_size == 6 and isinstance(ds.train_images, torch.Tensor)
