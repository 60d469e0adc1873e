"""What watching it learn costs in the window: samples/s with snapshots, a 16-image watch
list and the health watch on, over samples/s with all three off.

The real main window (offscreen) trains the MNIST CNN (batch 100, ``--batches`` batches,
one epoch, the test pass on ``--test`` images) through ``window.start_training``, its run
recorded in a temporary runs folder, alternating *watched* and *plain* runs (``--pairs``)
after one warm-up run; each run's ``EpochEnded.samples_per_sec``.

- watched: as the window trains by default, with 16 test images pinned: snapshots at steps
  0, 1, 2, 4 ... 512, every 600 after and the epoch's end (core/runs/snapshots.py), each
  read by the watch list on a job thread; the live watch read at most twice a second on the
  training thread; the health watch at steps 1-32 and every 50.
- plain: no pins, ``engine.HEALTH_EVERY = 0`` and ``snapshots.due`` answering no (this
  script's switches, not the app's: the start and the epoch's end are still snapshotted,
  two files of 4.7 MB).

Goal (issue 21): watched >= 95 % of plain.

    python benchmarks/learning_cost.py [--batches 600] [--pairs 2] [--quick]

A measurement, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from _scratch import bench_folders  # the script's folder is first on sys.path

bench_folders("learning-cost")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gui_responsiveness import Heartbeat, close_bench_window, machine_line, open_bench_window, wait_for, window_run  # noqa: E402,E501


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=600, help="one epoch of MNIST at batch 100")
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="30 batches, one pair (the figures mean little)")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.pairs, args.test = 30, 1, 200

    from cnn_gui.core.config import PRESETS
    from cnn_gui.core.runs import snapshots
    from cnn_gui.core.training import engine

    app, window, note = open_bench_window(args.test)
    test = window.data_override
    for k in range(16):
        window.analysis.confusion.testImageChosen.emit(test.test_images[k].numpy() / 255.0, f"test image #{k}",
                                                       test.classes[int(test.test_labels[k])])
        window.watch.pin_test_image()
    pins = list(window.watch.pins)
    config = PRESETS["tutorial"].with_(epochs=1, max_batches=args.batches, device="cpu")
    health_every, due = engine.HEALTH_EVERY, snapshots.due
    print(machine_line(app))
    if note:
        print(note)
    print(f"run: tutorial preset, batch 100, {args.batches} batches, test pass on {args.test} images, "
          f"{args.pairs} watched/plain pairs, alternating")
    beat = Heartbeat()
    beat.start()

    def run(watched: bool) -> tuple[float, int, int]:
        engine.HEALTH_EVERY = health_every if watched else 0
        snapshots.due = due if watched else (lambda step: False)
        window.watch.pins = pins if watched else []
        reads = []

        def count(step, _probs) -> None:
            reads.append(step)

        window.controller.watchRead.connect(count)
        speed = window_run(app, window, beat, config, 600)[0]
        wait_for(app, lambda: not window.watch.jobs.busy(), 60)  # the last snapshots' readings
        kept = sum(window.watch.history.from_snapshot)
        window.controller.watchRead.disconnect(count)  # the window's own watch keeps its connection
        return speed, len(reads), kept

    run(False)  # warm-up: oneDNN's kernels, the allocator
    ratios = []
    try:
        for i in range(args.pairs):
            watched, reads, kept = run(True)
            plain, _, _ = run(False)
            ratios.append(watched / plain)
            print(f"pair {i + 1}: watched {watched:,.0f} samples/s ({reads} live watch reads, {kept} snapshots read), "
                  f"plain {plain:,.0f}: {watched / plain:.1%}", flush=True)
    finally:
        engine.HEALTH_EVERY, snapshots.due = health_every, due
        beat.stop()
    print(f"watched/plain (median): {statistics.median(ratios):.1%} (goal >= 95 %)")
    close_bench_window(window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
