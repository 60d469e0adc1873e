"""``cnn-gui train --nproc-per-node 2`` on the CPU (gloo), as a user runs it: one run folder,
the ordinary checkpoint, accuracy as one process, a failing rank named in one line, and
nothing left running (issue 22). Each run is bounded; every process is checked gone."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnn_gui.core.files.checkpoints import load_checkpoint

pytestmark = pytest.mark.slow

RUN = ["--epochs", "1", "--max-batches", "30", "--batch-size", "64", "--quiet", "--seed", "3"]


def _cnn_gui(args, cwd: Path, timeout: float, **env) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "cnn_gui", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    return result, time.monotonic() - started


def _left_running(marker: str) -> list[str]:
    """Processes whose command line names ``marker`` (a test's own folder)."""
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                left.append(f"{entry.name}: {cmd[:200]}")
    return left


def _run_json(runs: Path) -> dict:
    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders  # rank 0 alone records the run
    return json.loads((folders[0] / "run.json").read_text())


def test_two_ranks_train_like_one_process_and_the_checkpoint_resumes_in_one(tmp_path):
    runs = tmp_path / "runs"
    two, seconds = _cnn_gui(["train", "--nproc-per-node", "2", *RUN, "--out", "two.safetensors",
                             "--runs-dir", str(runs)], tmp_path, 120)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("saved two.safetensors") == 1 and two.stdout.count("epoch 1/1") == 1  # rank 0 only
    assert "DDP over 2 processes, gloo" in two.stdout
    doc = _run_json(runs)
    assert doc["status"] == "finished" and doc["world_size"] == 2 and doc["backend"] == "gloo"
    assert doc["per_rank_batch"] == 32 and doc["batch_size"] == 64 and doc["steps_done"] == 30
    assert not _left_running(str(tmp_path))

    one, _ = _cnn_gui(["train", *RUN, "--out", "one.safetensors", "--no-runs"], tmp_path, 120)
    assert one.returncode == 0, one.stderr
    acc_two = load_checkpoint(tmp_path / "two.safetensors").meta.history[-1]["test_accuracy"]
    acc_one = load_checkpoint(tmp_path / "one.safetensors").meta.history[-1]["test_accuracy"]
    assert acc_two > 0.75 and abs(acc_two - acc_one) < 0.05, (acc_two, acc_one)  # the same 1,920 samples

    more, _ = _cnn_gui(["train", "--resume", "two.safetensors", "--epochs", "2", "--max-batches", "5", "--quiet",
                        "--no-runs", "--out", "more.safetensors"], tmp_path, 120)
    assert more.returncode == 0, more.stderr
    assert len(load_checkpoint(tmp_path / "more.safetensors").meta.history) == 2
    print(f"2 ranks: {seconds:.1f} s, test accuracy {acc_two:.4f}; one process {acc_one:.4f}")


def test_a_rank_that_raises_ends_the_run_in_one_line_naming_it(tmp_path):
    runs = tmp_path / "runs"
    failed, seconds = _cnn_gui(["train", "--nproc-per-node", "2", *RUN, "--out", "x.safetensors",
                                "--runs-dir", str(runs)], tmp_path, 120, CNN_GUI_TEST_RANK_FAILS="1:10")
    assert failed.returncode == 1
    errors = failed.stderr.strip().splitlines()
    assert errors == [errors[0]] and errors[0].startswith("cnn-gui: rank 1 failed: "), failed.stderr
    assert "test failure of rank 1 at step 10" in errors[0]
    assert seconds < 60
    doc = _run_json(runs)
    assert doc["status"] == "failed" and "rank 1 failed" in doc["error"]["message"]
    assert not (tmp_path / "x.safetensors").exists()
    assert not _left_running(str(tmp_path))


def test_launch_mistakes_are_one_line_exit_2(tmp_path):
    zero, _ = _cnn_gui(["train", "--nproc-per-node", "0"], tmp_path, 60)
    assert zero.returncode == 2 and len(zero.stderr.strip().splitlines()) == 1
    assert "--nproc-per-node" in zero.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken, seconds = _cnn_gui(["train", "--nproc-per-node", "2", "--rdzv-endpoint", f"127.0.0.1:{port}",
                                   "--no-runs"], tmp_path, 60)
    assert taken.returncode == 2 and taken.stderr.strip() == (
        f"cnn-gui: error: port {port} is in use on 127.0.0.1: give --rdzv-endpoint another port")
    assert seconds < 30


def test_ctrl_c_stops_every_rank_and_rank_0_saves(tmp_path):
    import signal

    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "cnn_gui", "train", "--nproc-per-node", "2", "--epochs", "1",
                             "--batch-size", "32", "--quiet", "--runs-dir", str(runs), "--out", "s.safetensors"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(runs.glob("*/steps.jsonl")):  # training has begun
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=45)
        seconds = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "cnn-gui: interrupted" and "stopped in epoch 1 after batch" in out, (out, err)
    assert seconds < 35
    checkpoint = load_checkpoint(tmp_path / "s.safetensors")
    assert checkpoint.meta.training["batch"] > 0
    doc = _run_json(runs)
    assert doc["status"] == "stopped" and doc["steps_done"] == checkpoint.meta.training["step"]
    assert not _left_running(str(tmp_path))


def _rank_pid(marker: str, rank: int) -> int | None:
    """The pid of the training process of ``rank`` in a run whose command line names ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmd and f"RANK={rank}".encode() in env and b"LOCAL_RANK=" + str(rank).encode() in env:
            return int(entry.name)
    return None


def test_a_rank_that_is_killed_ends_the_run_in_one_line_naming_it(tmp_path):
    import signal

    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "cnn_gui", "train", "--nproc-per-node", "2", "--epochs", "1",
                             "--batch-size", "32", "--quiet", "--runs-dir", str(runs), "--out", "k.safetensors"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(runs.glob("*/steps.jsonl")):  # training has begun
            time.sleep(0.2)
        victim = _rank_pid(str(runs), 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        killed = time.monotonic()
        out, err = proc.communicate(timeout=90)
        seconds = time.monotonic() - killed
    finally:
        proc.kill()
    assert proc.returncode == 1, (out, err)
    errors = err.strip().splitlines()
    assert errors == [errors[0]] and errors[0].startswith("cnn-gui: rank 1 failed: "), err
    assert "SIGKILL" in errors[0] or "signal 9" in errors[0], errors[0]
    assert seconds < 75
    doc = _run_json(runs)
    assert doc["status"] == "failed" and "rank 1 failed" in doc["error"]["message"]
    assert not _left_running(str(tmp_path))
    print(f"killed rank 1: the run ended {seconds:.1f} s later: {errors[0]}")
