"""Safe files: writes are whole or nothing and never replace a device, FIFO or folder;
reads never block on a FIFO nor run on past their cap."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading

import pytest
from bounded import finishes

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.files.safe_io import (
    FileTooLargeError,
    NotRegularFileError,
    append_regular,
    atomic_write,
    open_regular,
    read_regular,
    read_regular_text,
    remove_stale_temporaries,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and /dev/null are POSIX")


def temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- writing


def test_atomic_write_replaces_and_keeps_the_mode(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write(target, b"one")
    os.chmod(target, 0o600)
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert temp_files(tmp_path) == []


def test_atomic_write_takes_a_writer_function(tmp_path):
    target = tmp_path / "a.txt"
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp.exists() and str(os.getpid()) in tmp.name
        tmp.write_text("hello")

    assert atomic_write(target, write) == target
    assert target.read_text() == "hello" and not seen[0].exists()


@posix_only
def test_writing_onto_dev_null_is_refused_and_it_stays_a_device():
    with pytest.raises(NotRegularFileError, match="character device, not a regular file"):
        atomic_write("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@posix_only
def test_a_fifo_target_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        finishes(lambda: atomic_write(fifo, b"x"))
    with pytest.raises(NotRegularFileError, match="FIFO"):
        finishes(lambda: append_regular(fifo, b"x"))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and temp_files(tmp_path) == []


@posix_only
def test_a_socket_and_a_link_to_a_device_are_refused(tmp_path):
    sock_path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock_path))
        with pytest.raises(NotRegularFileError, match="socket"):
            atomic_write(sock_path, b"x")
    finally:
        server.close()
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    with pytest.raises(NotRegularFileError, match="character device"):
        atomic_write(link, b"x")
    assert link.is_symlink()


def test_a_folder_target_is_refused(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(NotRegularFileError, match="folder"):
        atomic_write(folder, b"x")
    assert folder.is_dir() and list(folder.iterdir()) == [] and temp_files(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "keep.json"
    target.write_bytes(b"old")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.json"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_the_rename_is_retried_while_windows_holds_the_target(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    real_replace, calls = os.replace, []

    def busy_twice(src, dst):
        calls.append(dst)
        if len(calls) <= 2:
            raise PermissionError(13, "Access is denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", busy_twice)
    atomic_write(target, b"{}")
    assert len(calls) == 3 and target.read_bytes() == b"{}"


def test_stale_temporaries_go_and_a_name_with_glob_characters_is_literal(tmp_path):
    target = tmp_path / "run[1].json"
    stale = tmp_path / ".run[1].json.999999999.abcd.tmp"  # a pid no process has
    stale.write_bytes(b"x")
    mine = tmp_path / f".run[1].json.{os.getpid()}.abcd.tmp"
    mine.write_bytes(b"x")
    other = tmp_path / ".run1.json.999999999.abcd.tmp"  # what "run[1]" as a pattern would match
    other.write_bytes(b"x")
    assert remove_stale_temporaries(target) == [stale]
    assert mine.exists() and other.exists()


# --------------------------------------------------------------------------- reading


def test_read_regular_reads_a_file_within_its_cap(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"a": 1}))
    assert json.loads(read_regular_text(path, 100)) == {"a": 1}
    with open_regular(path) as f:
        assert f.read(1) == b"{"


def test_the_cap_is_enforced(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 101)
    with pytest.raises(FileTooLargeError) as info:
        read_regular(path, 100)
    assert info.value.size == 101 and info.value.limit == 100 and "101 bytes" in info.value.strerror
    assert read_regular(path, 101) == b"x" * 101


@posix_only
def test_reading_a_fifo_or_a_device_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        finishes(lambda: read_regular(fifo, 100))
    with pytest.raises(NotRegularFileError, match="character device"):
        finishes(lambda: read_regular("/dev/zero", 100))
    with pytest.raises(NotRegularFileError, match="folder"):
        read_regular(tmp_path, 100)


# --------------------------------------------------------------------------- the callers


@posix_only
def test_a_checkpoint_is_not_saved_onto_dev_null():
    from cnn_gui.core.files.checkpoints import CheckpointError, CheckpointMeta, save_checkpoint
    from cnn_gui.core.model.models import CNN

    meta = CheckpointMeta(architecture="mnist-cnn", input_shape=(1, 28, 28), classes=[str(i) for i in range(10)],
                          mean=[0.1307], std=[0.3081], dataset="mnist")
    with pytest.raises(CheckpointError, match=r"cannot save /dev/null: it is a character device, not a regular file"):
        save_checkpoint("/dev/null", CNN(), meta)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@posix_only
def test_a_fifo_checkpoint_is_refused_without_blocking(tmp_path):
    from cnn_gui.core.files.checkpoints import CheckpointError, load_checkpoint, read_meta

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    for opener in (load_checkpoint, read_meta):
        with pytest.raises(CheckpointError, match="is not a file"):
            finishes(lambda: opener(fifo))


@posix_only
def test_metrics_and_exports_refuse_dev_null():
    from cnn_gui.core.files.export import ExportError, read_export_metadata
    from cnn_gui.core.files.metrics_csv import write_metrics_csv

    with pytest.raises(CnnGuiError, match="character device"):
        write_metrics_csv("/dev/null", [{"epoch": 1, "train_loss": 0.5}])
    with pytest.raises(ExportError, match="character device"):
        read_export_metadata("/dev/zero")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@posix_only
def test_a_fifo_in_a_run_folder_does_not_block_the_runs_reader(tmp_path):
    from cnn_gui.core.runs.follower import RunFollower
    from cnn_gui.core.runs.layout import EPOCHS_FILE, RUN_FILE, STEPS_FILE
    from cnn_gui.core.runs.reader import list_runs, read_run

    folder = tmp_path / "20240101-000000-mnist-cnn-mnist"
    folder.mkdir()
    for name in (RUN_FILE, EPOCHS_FILE, STEPS_FILE):
        os.mkfifo(folder / name)
    run = finishes(lambda: read_run(folder, steps=True))
    assert run.status == "unreadable" and "FIFO" in run.problem
    # Listed (as the polling index lists it), unreadable, so that the user sees it and may delete it.
    (listed,) = finishes(lambda: list_runs(tmp_path))
    assert listed.status == "unreadable" and "FIFO" in listed.problem
    assert not finishes(lambda: RunFollower(folder).poll())
