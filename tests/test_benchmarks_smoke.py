"""The benchmark scripts run and print their figures (not that the figures are good)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"\d+(?:\.\d+)?"


def run_script(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_train_speed_prints_both_speeds_and_the_ratio():
    out = run_script("train_speed.py", "--quick", "--device", "cpu")
    assert re.search(rf"^tutorial samples/s: {NUMBER}$", out, re.M), out
    assert re.search(rf"^engine samples/s: {NUMBER}$", out, re.M), out
    assert re.search(rf"^ratio engine/tutorial: {NUMBER}x$", out, re.M), out
    assert re.search(r"^machine: CPU .+, \d+ cores, torch .+, \d+ threads", out, re.M), out


@pytest.mark.slow
def test_time_to_99_prints_each_run_and_the_ratios():
    out = run_script("time_to_99.py", "--quick", "--device", "cpu")
    for label in ("tutorial loop", "engine tutorial preset", "engine fast preset seed 0"):
        assert re.search(rf"^{label} time-to-target: ", out, re.M), (label, out)
    assert "train-mode" in out and "eval mode" in out
    ratios = re.findall(rf"^ratio .+: (?:{NUMBER}x|n/a .*)$", out, re.M)
    assert len(ratios) == 3, out


@pytest.mark.slow
def test_gpu_speed_runs_here_too():
    out = run_script("gpu_speed.py", "--quick")
    assert re.search(rf"^tutorial epoch time \(last\): {NUMBER} s$", out, re.M), out
    assert re.search(rf"^engine epoch time \(last\): {NUMBER} s$", out, re.M), out
    assert re.search(rf"^ratio tutorial/engine, last epoch: {NUMBER}x$", out, re.M), out


@pytest.mark.slow
def test_explain_speed_prints_each_figure():
    pytest.importorskip("captum")
    out = run_script("explain_speed.py", "--quick")
    for label in ("Grad-CAM", "Input x Gradient", "Integrated Gradients", "occlusion", "probes", "live canvas point"):
        assert re.search(rf"^{label}.*: median {NUMBER} ms", out, re.M), (label, out)
    assert re.search(rf"^PCA of .*median {NUMBER} s", out, re.M), out


@pytest.mark.slow
def test_handwriting_prints_both_ways_of_reading_and_the_uci_digits():
    out = run_script("handwriting.py", "--per-digit", "2")
    for label in ("read from the strokes (the canvas now)", "read from the raster (to_mnist, before)"):
        assert re.search(rf"^  {re.escape(label)}: {NUMBER}% of 20; normal {NUMBER}% .*small {NUMBER}%", out, re.M), out
    assert len(re.findall(rf"^    per digit  0:{NUMBER}%", out, re.M)) >= 2, out
    assert re.search(rf"^  8x8 enlarged by pixel repetition: {NUMBER}% of 1797$", out, re.M), out
    assert re.search(rf"^  8x8 enlarged bilinearly: {NUMBER}% of 1797$", out, re.M), out


@pytest.mark.slow
def test_contention_prints_busy_over_idle_for_adapted_and_fixed_threads_in_the_window():
    # The CLI's half is the same measure() over `cnn-gui train` processes: the window's half,
    # 4 fresh windows, is the one that can break on its own.
    out = run_script("contention.py", "--batches", "5", "--rounds", "1", "--kinds", "window")
    for mode in ("adapted", "fixed"):
        assert re.search(rf"^window {mode} +threads: idle [\d,]+ samples/s, one core busy [\d,]+ samples/s, "
                         rf"busy/idle {NUMBER}$", out, re.M), out
    assert re.search(rf"^window adapted / fixed: idle {NUMBER}x, one core busy {NUMBER}x$", out, re.M), out
