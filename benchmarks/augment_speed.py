"""Training throughput with augmentation on vs off: the same engine, same batches, one process.

    python benchmarks/augment_speed.py [--batches 60] [--repeats 5] [--warmup 5] [--device auto]

Runs alternate (off, on, off, on, ...), so that a machine shared with other work slows both
alike; each run's time comes from the engine's BatchEnded events after ``--warmup``
batches (train_speed.engine_speed), its test pass not counted. Prints each run, the
medians of samples/s and their ratio on/off, the same for the fastest run of each (the
least disturbed on a shared machine), and the bare cost of ``augment`` on one batch. A
measurement, not a test: it exits 0 whatever the ratio. Goal: on >= 0.90x off.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from _baseline import resolve  # noqa: E402
from train_speed import engine_speed, machine_line  # noqa: E402


def augment_ms(data, device: torch.device, repeats: int = 50) -> float:
    """Milliseconds of one ``augment`` call on a batch of 100 (draws included)."""
    from cnn_gui.core import augment as A

    x = data.train_images[:100].to(device).float()
    gen = torch.Generator(device=device).manual_seed(0)
    for _ in range(3):
        A.augment(x, A.random_params(100, gen))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        A.augment(x, A.random_params(100, gen))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / repeats * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=60, help="timed batches per run (default 60)")
    ap.add_argument("--repeats", type=int, default=5, help="alternating runs of each (default 5)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed batches at the start of each run")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="5 batches, 1 repeat, 2 warm-up (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.repeats, args.warmup = 5, 1, 2

    from cnn_gui.core.data import load_dataset

    device = resolve(args.device)
    print(machine_line(device))
    print(f"device {device}; batch 100; {args.batches} timed batches after {args.warmup} warm-up; "
          f"{args.repeats} alternating repeat(s)")
    data = load_dataset("mnist").subset(None, 1000)  # the test pass is not timed: keep it short
    speeds: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(1, args.repeats + 1):
        for on in (False, True):
            s, t = engine_speed(data, args.batches, args.warmup, str(device), augment=on)
            speeds[on].append(s / t)
            print(f"  run {rep}: augmentation {'on ' if on else 'off'} {s / t:8.1f} samples/s "
                  f"({t / (s / 100) * 1e3:.1f} ms/batch)")
    off, on = statistics.median(speeds[False]), statistics.median(speeds[True])
    print(f"augment off samples/s: {off:.1f}")
    print(f"augment on samples/s: {on:.1f}")
    print(f"ratio on/off: {on / off:.3f}x")
    # On a shared machine the fastest run of each is the least disturbed one.
    print(f"best run: off {max(speeds[False]):.1f}, on {max(speeds[True]):.1f} samples/s, "
          f"ratio {max(speeds[True]) / max(speeds[False]):.3f}x")
    print(f"augment alone: {augment_ms(data, device):.2f} ms per batch of 100")
    return 0


if __name__ == "__main__":
    sys.exit(main())
