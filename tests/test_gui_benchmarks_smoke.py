"""The GUI benchmark scripts run with tiny settings and print their figures (not that the
figures are good: timings are never pass/fail)."""

import pytest
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"\d[\d,]*(?:\.\d+)?"
LATENESS = rf"p50 {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms \(\d+ ticks\)"


def run_script(name: str, *args: str, tmp_path) -> str:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CNN_GUI_SETTINGS_DIR=str(tmp_path / "settings"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r"^machine: CPU .+, \d+ cores", proc.stdout, re.M), proc.stdout
    return proc.stdout


@pytest.mark.slow
def test_gui_responsiveness_prints_heartbeat_and_both_speeds(tmp_path):
    out = run_script("gui_responsiveness.py", "--batches", "5", "--repeats", "1", "--test", "200",
                     "--idle", "0.3", tmp_path=tmp_path)
    assert re.search(rf"^heartbeat while training \(all runs\): {LATENESS}", out, re.M), out
    assert re.search(rf"^headless samples/s: {NUMBER}$", out, re.M), out
    assert re.search(rf"^window samples/s: {NUMBER}$", out, re.M), out
    assert re.search(rf"^ratio window/headless: {NUMBER}% ", out, re.M), out


@pytest.mark.slow
def test_memory_prints_rss_per_epoch_and_the_big_plot_heartbeat(tmp_path):
    out = run_script("memory.py", "--batches", "3", "--epochs", "2", "--test", "200", "--points", "2000",
                     "--seconds", "0.5", tmp_path=tmp_path)
    assert re.search(rf"^RSS after epoch 1: {NUMBER} MB$", out, re.M), out
    assert re.search(rf"^RSS after epoch 2: {NUMBER} MB$", out, re.M), out
    assert re.search(rf"^RSS growth epoch 1 -> 2: [+-]{NUMBER} MB", out, re.M), out
    assert re.search(rf"^heartbeat with 2,000 points, .*: {LATENESS}", out, re.M), out


@pytest.mark.slow
def test_startup_prints_both_medians_and_the_ratio_and_the_window_was_complete(tmp_path):
    out = run_script("startup.py", "--runs", "1", tmp_path=tmp_path)
    assert re.search(rf"^import torch: median {NUMBER} s", out, re.M), out
    assert re.search(rf"^cnn-gui to window shown: median {NUMBER} s", out, re.M), out
    assert re.search(rf"^cnn-gui to tree filled: median {NUMBER} s", out, re.M), out
    assert re.search(rf"^ratio window shown/import torch: {NUMBER}x", out, re.M), out
    assert re.search(rf"^ratio tree filled/import torch: {NUMBER}x", out, re.M), out
    assert re.search(rf"^heartbeat while the window starts: {LATENESS}", out, re.M), out
    assert re.search(r"^cnn-gui: shown \(loading the network\); quitting", out, re.M), out
    # The hook quit a complete window: tree filled, and the deferred pretrained weights
    # were in by the end of the first event loop iteration.
    shown = re.search(r"^cnn-gui: tree filled \((\d+) modules in the tree; Weights: pretrained", out, re.M)
    assert shown, out
    assert int(shown.group(1)) > 10
    from cnn_gui.core.resources import pretrained_checkpoint

    assert pretrained_checkpoint().is_file()  # it ships with the app


@pytest.mark.slow
def test_time_slider_prints_a_median_and_the_slowest_move_per_tab(tmp_path):
    out = run_script("time_slider.py", "--quick", tmp_path=tmp_path)
    for tab in ("Curves", "Robustness"):
        assert re.search(rf"^ *{tab}: median +{NUMBER} ms, slowest +{NUMBER} ms$", out, re.M), out
    assert re.search(rf"^slowest move, every tab: {NUMBER} ms \(goal <= 100 ms\)$", out, re.M), out


@pytest.mark.slow
def test_learning_cost_prints_each_pair_and_the_median_ratio(tmp_path):
    out = run_script("learning_cost.py", "--quick", tmp_path=tmp_path)
    assert re.search(rf"^pair 1: watched {NUMBER} samples/s \(\d+ live watch reads, \d+ snapshots read\), "
                     rf"plain {NUMBER}: {NUMBER}%$", out, re.M), out
    assert re.search(rf"^watched/plain \(median\): {NUMBER}% \(goal >= 95 %\)$", out, re.M), out
