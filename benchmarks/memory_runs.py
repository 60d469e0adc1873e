"""Memory over an hour of ordinary use: RSS after each of 10 short runs in the real window,
then after a test pass, a PCA and a t-SNE embedding.

The real main window (offscreen, its own MNIST, the settings' defaults: the tutorial
preset) trains ``--runs`` runs of ``--batches`` batches one after the other, as a user
presses Train again and again; after each run the GUI thread's event loop runs for
``--settle`` seconds (what the window does by itself, no forced garbage collection) and
resident memory (VmRSS, /proc/self/status) is read. Then the Test set tab's Compute, the
Embedding tab's Compute (PCA) and its t-SNE. Printed: the series, the growth per run after
the first (the mean), the total after the analysis.

Goals (issue 20): after the first run, <= 10 MB more per further run; <= 1 GB after the
analysis. Linux only (VmRSS).

    python benchmarks/memory_runs.py [--runs 10] [--batches 60]

A measurement, not a test: it exits 0 whatever the figures.

Findings (2-core AMD EPYC VM): before issue 20, +31 MB per run (696 -> 1,361 MB over 8
runs) while the memory Python and torch held stayed flat: glibc's arenas kept what each
run's threads had freed (578 MB of arenas, 339 MB of them free). The window now returns it
after each run and each big job (``cnn_gui/core/memory.py``). Then what was kept without
reason (session 2026-12-05): the last run's trainer held its dataset (53 MB), the MNIST
cache another copy, each analysis view a whole dataset where the test split serves: 1,277
-> 999 MB after the t-SNE; 924 MB after run 1, -0.9 MB per run after it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from _scratch import bench_folders  # the script's folder is first on sys.path
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
bench_folders("memory-runs")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import cpu_name, load_text  # noqa: E402


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def parts() -> str:
    """Of the resident memory: the heap and tensors (anonymous) and the libraries' pages
    read from disk (file-backed: torch's and Qt's code, shared with other processes)."""
    return f"anonymous {_status_mb('RssAnon'):,.0f}, files {_status_mb('RssFile'):,.0f}"


def pump(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(predicate, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise RuntimeError("timed out")
        pump(0.05)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--batches", type=int, default=60, help="batches of each run (one epoch)")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds of event loop after each step")
    ap.add_argument("--test", type=int, default=None, help="test images for the analysis (default: all)")
    args = ap.parse_args(argv)

    from cnn_gui.gui.app import create_window, dispose, ensure_app

    app = ensure_app()
    data = None
    if args.test:
        from cnn_gui.core.data.datasets import load_dataset

        data = load_dataset("mnist").subset(None, args.test)
    window = create_window(data_override=data)
    window.errors = []
    window.show_error = lambda title, text: window.errors.append((title, text))
    window.ask_discard = lambda what: "discard"
    window.show()
    print(f"machine: CPU {cpu_name()}, {os.cpu_count()} cores, {load_text()}")
    ended = []
    window.controller.finished.connect(ended.append)
    pump(args.settle)
    series = [rss_mb()]
    print(f"after start: {series[0]:,.0f} MB ({parts()})", flush=True)
    try:
        for i in range(1, args.runs + 1):
            config = window.training_panel.config().with_(epochs=1, max_batches=args.batches)
            count = len(ended)
            if not window.start_training(config):
                raise RuntimeError(f"the window refused run {i}: {window.errors}")
            wait_until(lambda: len(ended) > count, 600)
            pump(args.settle)
            series.append(rss_mb())
            print(f"after run {i}: {series[-1]:,.0f} MB ({series[-1] - series[-2]:+.0f}; {parts()})", flush=True)
        steps = (("test pass", window.confusion), ("PCA", window.analysis.embedding), ("t-SNE", window.analysis.embedding))
        for name, view in steps:
            started = view.compute_tsne() if name == "t-SNE" else view.compute()
            if not started:
                raise RuntimeError(f"{name} did not start")
            wait_until(lambda: not view.is_running(), 900)
            pump(args.settle)
            print(f"after the {name}: {rss_mb():,.0f} MB ({parts()})", flush=True)
    finally:
        window.shutdown()
        dispose(window)
    growth = [b - a for a, b in zip(series[1:], series[2:])]
    if growth:
        print(f"growth per run after the first: mean {statistics.mean(growth):+.1f} MB, "
              f"total {series[-1] - series[1]:+.0f} MB over {len(growth)} runs (goal <= 10 MB per run)")
    print(f"series: {' '.join(f'{v:.0f}' for v in series)}")
    if window.errors:
        print(f"window errors: {window.errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
