"""Memory over a GUI training run, and a plot holding 100,000 batch points staying smooth.

1. The real main window (offscreen) trains the MNIST CNN for 5 epochs (batch 100,
   ``--batches`` batches per epoch to keep it short; test pass on ``--test`` images).
   Resident memory (VmRSS from /proc/self/status) is read on the GUI thread at each
   epoch's end; printed: after epoch 1, after epoch 5, and the growth.
2. The window's plots get ``--points`` synthetic BatchEnded events (``plots.add_batch``),
   then a 10 ms heartbeat on the GUI thread is measured while one more point is added
   at 30 Hz for ``--seconds``: lateness p50/p99/max (as in gui_responsiveness.py).

Targets (issue "Performance", 6): RSS growth epoch 1 -> 5 <= 50 MB; with 100,000 points
the heartbeat's p99 <= 16 ms and max <= 50 ms.

    python benchmarks/memory.py [--batches 100] [--points 100000] [--seconds 4]

A measurement, not a test: it exits 0 whatever the figures.

Findings (2-core AMD EPYC VM, shared with other CPU-heavy work):
- See FINDINGS in gui_responsiveness.py for the PySide6 6.12.0 / Python 3.11 reference
  leak on None: this script pins None/True/False too, or it would die mid-run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from _scratch import bench_folders  # the script's folder is first on sys.path
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
bench_folders("memory")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtCore import QTimer  # noqa: E402

from gui_responsiveness import (Heartbeat, close_bench_window, lateness_text, machine_line,  # noqa: E402
                                open_bench_window, pump, wait_for)


def rss_mb() -> float:
    """Resident set size of this process in MiB (psutil if installed, else /proc)."""
    try:
        import psutil  # optional, not a dependency

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100, help="batches of 100 per epoch")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--test", type=int, default=2000, help="test images for each epoch's test pass")
    parser.add_argument("--points", type=int, default=100_000, help="synthetic batch points in the plot")
    parser.add_argument("--seconds", type=float, default=4.0, help="heartbeat while adding points at 30 Hz")
    args = parser.parse_args(argv)

    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.events import BatchEnded

    app, window, note = open_bench_window(args.test)
    pump(300)
    print(machine_line(app))
    if note:
        print(note)

    # -- 1. RSS across a GUI training run --------------------------------------------------
    epochs = max(args.epochs, 2)
    config = TrainConfig(epochs=epochs, batch_size=100, max_batches=args.batches, device="cpu")
    rss: dict[int, float] = {}
    done = {"end": None, "finished": False}
    window.controller.epochEnded.connect(lambda ev: rss.__setitem__(ev.epoch, rss_mb()))

    def finished(end) -> None:
        done["end"], done["finished"] = end, True

    window.controller.finished.connect(finished)
    before = rss_mb()
    t0 = time.perf_counter()
    if not window.start_training(config):
        print(f"the window refused to start training: {window.errors}")
        return 0
    if not wait_for(app, lambda: done["finished"], max(300.0, epochs * args.batches * 2.0)):
        window.stop_training()
        wait_for(app, lambda: done["finished"], 30)
    seconds = time.perf_counter() - t0
    print(f"run: GUI training, MNIST CNN, batch 100, {epochs} epochs of max_batches={args.batches} "
          f"(test pass on {args.test} images), {seconds:.0f} s, ended {getattr(done['end'], 'reason', '?')}")
    print(f"RSS before training: {before:.1f} MB")
    for epoch in sorted(rss):
        print(f"RSS after epoch {epoch}: {rss[epoch]:.1f} MB")
    if 1 in rss and epochs in rss:
        print(f"RSS growth epoch 1 -> {epochs}: {rss[epochs] - rss[1]:+.1f} MB (target <= 50 MB)")
    else:
        print(f"RSS growth: n/a (epochs recorded: {sorted(rss)}; errors: {window.errors})")

    # -- 2. a plot with many points ----------------------------------------------------------
    plots = window.plots
    plots.clear()
    t0 = time.perf_counter()
    n = args.points
    for i in range(1, n + 1):
        plots.add_batch(BatchEnded(epoch=1 + i // 600, batch=i % 600 + 1, batches_per_epoch=600, step=i,
                                   loss=0.05 + 2.3 * math.exp(-i / 3000) + 0.02 * math.sin(i),
                                   accuracy=1 - 0.9 * math.exp(-i / 2000), samples_per_sec=800.0,
                                   eta_seconds=0.0, lr=1e-3))
    plots.flush()
    pump(200)
    fill = time.perf_counter() - t0
    print(f"plot filled with {n:,} batch points in {fill:.1f} s; RSS {rss_mb():.1f} MB")

    beat = Heartbeat()
    step = {"i": n}

    def more() -> None:
        step["i"] += 1
        i = step["i"]
        plots.add_batch(BatchEnded(epoch=1 + i // 600, batch=i % 600 + 1, batches_per_epoch=600, step=i,
                                   loss=0.05 + 0.02 * math.sin(i), accuracy=0.99, samples_per_sec=800.0,
                                   eta_seconds=0.0, lr=1e-3))

    feeder = QTimer()
    feeder.setInterval(33)
    feeder.timeout.connect(more)
    beat.start()
    feeder.start()
    t_start = beat.now()
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        pump(50)
    feeder.stop()
    late = beat.between(t_start, beat.now())
    beat.stop()
    print(f"heartbeat with {n:,} points, +{step['i'] - n} points at 30 Hz over {args.seconds:.0f} s: "
          f"{lateness_text(late)} (target p99 <= 16, max <= 50)")
    close_bench_window(window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
