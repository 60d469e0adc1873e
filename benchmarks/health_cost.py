"""What the health watch costs: training samples/s with it over samples/s without it.

The tutorial preset on MNIST (batch 100, ``--batches`` batches, one epoch, the test pass on
500 images), in this process, alternating watched and plain runs (``--pairs``); each
run's ``EpochEnded.samples_per_sec``. The watch looks at steps 0-32 (log-spaced) and then
every 50 (``core/training/health.py``). Goal (issue 21): >= 97 % (its cost <= 3 %).

    python benchmarks/health_cost.py [--batches 600] [--pairs 3]

A measurement, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import cpu_name, load_text  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=600, help="one epoch of MNIST at batch 100")
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args(argv)

    from cnn_gui.core.config import PRESETS
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.events import EpochEnded, HealthChecked
    from cnn_gui.core.training.engine import Trainer

    data = load_dataset("mnist").subset(None, 500)
    config = PRESETS["tutorial"].with_(epochs=1, max_batches=args.batches, device="cpu")
    print(f"machine: CPU {cpu_name()}, {os.cpu_count()} cores, {load_text()}")
    print(f"run: tutorial preset, batch 100, {args.batches} batches, {args.pairs} watched/plain pairs, alternating")

    def run(every: int) -> tuple[float, int]:
        seen = []
        trainer = Trainer(config, data=data, callbacks=[seen.append])
        trainer.health_every = every
        trainer.fit()
        speed = next(e.samples_per_sec for e in seen if isinstance(e, EpochEnded))
        return speed, sum(isinstance(e, HealthChecked) for e in seen)

    run(0)  # warm-up: the first run in a process pays for oneDNN's kernels
    ratios = []
    for i in range(args.pairs):
        watched, looks = run(50)
        plain, _ = run(0)
        ratios.append(watched / plain)
        print(f"pair {i + 1}: watched {watched:,.0f} samples/s ({looks} looks), plain {plain:,.0f}: "
              f"{watched / plain:.1%}", flush=True)
    print(f"watched/plain (median): {statistics.median(ratios):.1%} (goal >= 97 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
