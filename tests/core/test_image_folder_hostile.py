"""Image folders that try to hang, loop or mislabel the load: FIFOs, devices, links (issue 18)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnn_gui.core.data import image_folder, image_reading
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.image_folder import load_image_folder
from bounded import timed

needs_links = pytest.mark.skipif(os.name != "posix", reason="symbolic links and FIFOs as on POSIX")
GREY = {"a": 0, "b": 255, "c": 128}  # each class's images are one grey level: a label can be checked


@pytest.fixture(autouse=True)
def fresh_cache():
    image_folder.clear_cache()
    yield
    image_folder.clear_cache()


def classes(root: Path, per_class: int = 5, names=("a", "b")) -> Path:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("L", (8, 8), GREY[name]).save(root / name / f"{i}.png")
    return root


def within(seconds: float, fn):
    """(``fn()``'s result, its seconds), failing (instead of hanging the suite) if it takes longer."""
    return timed(fn, seconds)


def labelled_right(data) -> dict[str, int]:
    """How many images of each class there are; asserts every one carries its class's grey."""
    counts = {}
    for images, labels in ((data.train_images, data.train_labels), (data.test_images, data.test_labels)):
        for k, name in enumerate(data.classes):
            mine = images[labels == k]
            assert (mine == GREY[name]).all(), f"an image of another class is labelled {name}"
            counts[name] = counts.get(name, 0) + len(mine)
    return counts


# ----------------------------------------------------------------------------- files that are no files


@needs_links
def test_a_fifo_named_like_an_image_is_skipped_not_waited_on(tmp_path):
    root = classes(tmp_path / "set")
    os.mkfifo(root / "a" / "x.png")
    data, seconds = within(5, lambda: load_image_folder(root, (1, 8, 8)))
    assert seconds < 5
    assert labelled_right(data) == {"a": 5, "b": 5}
    assert data.skipped == 1
    assert data.skipped_examples == ("a/x.png: it is a named pipe (FIFO), not a regular file",)
    assert "skipped 1 unreadable image (e.g. a/x.png: it is a named pipe (FIFO)" in data.note


@needs_links
def test_a_socket_named_like_an_image_is_skipped(tmp_path):
    root = classes(tmp_path / "s")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "b" / "s.png"))
    except OSError:  # a path too long for a socket address
        pytest.skip("cannot bind a socket here")
    try:
        data, _ = within(5, lambda: load_image_folder(root, (1, 8, 8)))
    finally:
        server.close()
    assert data.skipped == 1 and "b/s.png: it is a socket" in data.skipped_examples[0]


def test_read_image_refuses_a_device_at_once():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(DatasetError, match=r"cannot read /dev/zero: it is a character device, not a regular file"):
        within(5, lambda: image_reading.read_image("/dev/zero", (1, 8, 8)))


def test_a_file_larger_than_any_image_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(image_reading, "MAX_FILE_BYTES", 100)
    Image.new("L", (64, 64), 3).save(tmp_path / "big.bmp")  # 4 kB
    with pytest.raises(DatasetError, match=r"the file is 5,\d{3} bytes, more than the 100 read"):
        image_reading.read_image(tmp_path / "big.bmp", (1, 8, 8))


def test_a_stop_ends_the_decoding_between_files(tmp_path, monkeypatch):
    """A stop ends every thread after its current file, not after its batch of 64."""
    def slow_read(path, shape):
        time.sleep(0.1)
        return np.zeros(shape, np.uint8)

    monkeypatch.setattr(image_reading, "_read", slow_read)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    paths = [str(tmp_path / f"{i}.png") for i in range(64)]  # one task: 6.4 s if it ran to its end
    with pytest.raises(DownloadCancelled):
        within(5, lambda: image_reading.decode_images(paths, (1, 8, 8), stop.is_set, 1, tmp_path))
    started = time.perf_counter()
    with pytest.raises(DownloadCancelled):
        image_reading.decode_images(paths, (1, 8, 8), lambda: True, 1, tmp_path)
    assert time.perf_counter() - started < 1.0


# ----------------------------------------------------------------------------- links


@needs_links
def test_a_link_to_the_folder_above_is_not_followed(tmp_path):
    root = classes(tmp_path / "set")
    os.symlink("..", root / "a" / "loop")
    data, _ = within(5, lambda: load_image_folder(root, (1, 8, 8)))
    assert labelled_right(data) == {"a": 5, "b": 5}  # once: b's images counted as a, and b empty
    assert data.skipped == 1
    assert data.skipped_examples == ("a/loop: a link to a folder outside its class folder, not followed",)


@needs_links
def test_a_link_into_another_class_is_not_followed(tmp_path):
    root = classes(tmp_path / "set", names=("a", "b", "c"))
    os.symlink("../b", root / "a" / "other")
    os.symlink("../../c/0.png", root / "b" / "borrowed.png")
    data, _ = within(5, lambda: load_image_folder(root, (1, 8, 8)))
    assert labelled_right(data) == {"a": 5, "b": 5, "c": 5}
    assert data.skipped == 2
    assert sorted(e.split(":")[0] for e in data.skipped_examples) == ["a/other", "b/borrowed.png"]


@needs_links
def test_a_link_to_a_file_outside_the_folder_is_not_followed(tmp_path):
    root = classes(tmp_path / "set")
    Image.new("L", (8, 8), 77).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", root / "a" / "in.png")
    os.symlink("/dev/zero", root / "b" / "zero.png")
    data, _ = within(5, lambda: load_image_folder(root, (1, 8, 8)))
    assert labelled_right(data) == {"a": 5, "b": 5}
    assert data.skipped == 2
    assert "a/in.png: a link to a file outside its class folder, not followed" in data.skipped_examples


@needs_links
def test_link_cycles_and_second_names_count_each_file_once(tmp_path):
    root = classes(tmp_path / "set")
    sub = root / "a" / "sub"
    sub.mkdir()
    Image.new("L", (8, 8), 0).save(sub / "deep.png")
    os.symlink("..", sub / "up")  # back to a/: a cycle
    os.symlink(".", sub / "self")  # itself: a cycle
    os.symlink("sub", root / "a" / "alias")  # a second way into a/sub
    os.symlink("0.png", root / "a" / "again.png")  # a second name for a file
    os.link(root / "a" / "1.png", root / "a" / "hard.png")  # and a hard link
    os.symlink("ping", root / "b" / "pong")  # two links that only lead to each other
    os.symlink("pong", root / "b" / "ping")
    os.symlink("missing", root / "b" / "dangling.png")  # a link to nothing: an unreadable file
    data, _ = within(5, lambda: load_image_folder(root, (1, 8, 8)))
    assert labelled_right(data) == {"a": 6, "b": 5}
    assert data.skipped == 1 and data.skipped_examples[0].startswith("b/dangling.png: ")


@needs_links
def test_a_linked_class_folder_inside_the_folder_is_a_class(tmp_path):
    root = classes(tmp_path / "set")
    (root / ".pool").mkdir()
    classes(root / ".pool", names=("c",))
    os.symlink(".pool/c", root / "c")
    data = load_image_folder(root, (1, 8, 8))
    assert labelled_right(data) == {"a": 5, "b": 5, "c": 5} and data.skipped == 0


@needs_links
@pytest.mark.parametrize("target, fragment", [
    ("a", "a/ and c/ are the same folder"),
    ("a/sub", "a/ and c/ are the same folder, or one holds the other"),
    (".", "is a link to"),
    ("..", "outside the image folder"),
])
def test_a_class_folder_linked_to_another_class_or_outside_is_refused(tmp_path, target, fragment):
    root = classes(tmp_path / "set")
    (root / "a" / "sub").mkdir()
    os.symlink(target, root / "c")
    with pytest.raises(DatasetError) as err:
        load_image_folder(root, (1, 8, 8))
    assert fragment in str(err.value) and "\n" not in str(err.value)


@needs_links
def test_train_linked_into_test_never_leaks_test_images(tmp_path):
    classes(tmp_path / "set" / "train")
    classes(tmp_path / "set" / "test", per_class=2)
    os.symlink("../../test/a", tmp_path / "set" / "train" / "a" / "peek")
    data = load_image_folder(tmp_path / "set", (1, 8, 8))
    assert data.train_size == 10 and data.test_size == 4 and data.skipped == 1
    assert torch.bincount(data.test_labels).tolist() == [2, 2]
    os.rename(tmp_path / "set" / "test", tmp_path / "real-test")
    os.symlink("train", tmp_path / "set" / "test")  # test/ is train/: every image in both splits
    image_folder.clear_cache()
    with pytest.raises(DatasetError, match="are the same folder"):
        load_image_folder(tmp_path / "set", (1, 8, 8))


def test_a_stop_does_not_wait_for_a_read_that_hangs(tmp_path, monkeypatch):
    """A stalled read (a network drive that stops answering) must not hold Stop or close."""
    root = classes(tmp_path / "shapes")
    release = threading.Event()
    stopping = threading.Event()
    real_read = image_reading._read

    def stalled_read(path, shape):
        if path.endswith("0.png"):
            stopping.set()
            release.wait(30)  # as long as the drive does not answer
        return real_read(path, shape)

    monkeypatch.setattr(image_reading, "_read", stalled_read)
    paths = [str(p) for p in sorted(root.rglob("*.png"))]
    started = time.monotonic()
    try:
        with pytest.raises(DownloadCancelled):
            within(10, lambda: image_reading.decode_images(paths, (1, 28, 28), stopping.is_set, 2, root))
        assert time.monotonic() - started < 3
    finally:
        release.set()


@pytest.mark.slow
def test_the_process_exits_without_waiting_for_a_read_that_hangs(tmp_path):
    """Ctrl+C in `cnn-gui train`, or closing the window, ends the process even while a read hangs."""
    import subprocess
    import sys

    root = classes(tmp_path / "shapes")
    code = f"""
import threading, time
from pathlib import Path
from cnn_gui.core.data import image_reading
from cnn_gui.core.data.errors import DownloadCancelled
real, stopping = image_reading._read, threading.Event()
def stalled(path, shape):
    if path.endswith("0.png"):
        stopping.set()
        time.sleep(60)  # a drive that never answers
    return real(path, shape)
image_reading._read = stalled
paths = [str(p) for p in sorted(Path({str(root)!r}).rglob("*.png"))]
try:
    image_reading.decode_images(paths, (1, 28, 28), stopping.is_set, 2, Path("."))
except DownloadCancelled:
    print("stopped")
"""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
    assert result.returncode == 0 and "stopped" in result.stdout, result.stderr[-2000:]
    assert time.monotonic() - started < 20  # not the 60 s the read would take (imports take a few)
