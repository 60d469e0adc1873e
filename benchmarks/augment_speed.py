"""Training throughput with augmentation on vs off: the same engine, same batches, one process.

    python benchmarks/augment_speed.py [--batches 200] [--runs 0] [--device auto]

Main figure: the engine's own training step (its batch preparation, forward, backward,
optimizer step) on one model, alternating augmentation off and on batch by batch, so that
a machine shared with other work slows both alike (whole runs a minute apart on a busy
2-core machine differ by 10x); per-batch wall times, medians, samples/s and the ratio.
``--runs N`` also times N alternating whole runs (``Trainer.fit()``, their BatchEnded
events after 5 warm-up batches, the test pass not counted). Then the bare cost of
``augment`` on one batch. A measurement, not a test: it exits 0 whatever the ratio.
Goal: on >= 0.90x off.
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
from torch import nn  # noqa: E402

from _baseline import resolve  # noqa: E402
from train_speed import engine_speed, machine_line  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(data, device: torch.device, batches: int, warmup: int = 5) -> dict[bool, list[float]]:
    """Seconds of each training step, augmentation off and on in turn (which goes first
    alternates too), through the engine's own batch path on one trainer."""
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.training.engine import Trainer

    trainer = Trainer(TrainConfig(batch_size=100, device=str(device), augment=True, cuda_graph=False), data=data)
    trainer._prepare()
    criterion = nn.CrossEntropyLoss()
    perm = torch.randperm(trainer.data.train_size, generator=torch.Generator().manual_seed(0)).to(device)
    times: dict[bool, list[float]] = {False: [], True: []}

    def step(i: int, on: bool) -> float:
        idx = perm[(i * 100) % (trainer.data.train_size - 100):][:100]
        sync(device)
        t0 = time.perf_counter()
        params = trainer._augment_params(1, i, 100) if on else None
        x, y = trainer._train_inputs(idx, params)
        with trainer._autocast():
            loss = criterion(trainer._forward(x).float(), y)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        sync(device)
        return time.perf_counter() - t0

    for i in range(warmup + batches):
        order = (False, True) if i % 2 == 0 else (True, False)
        for on in order:
            seconds = step(i, on)
            if i >= warmup:
                times[on].append(seconds)
    return times


def augment_ms(data, device: torch.device, repeats: int = 50) -> float:
    """Milliseconds of one ``augment`` call on a batch of 100 (draws included)."""
    from cnn_gui.core.training import augment as A

    x = data.train_images[:100].to(device).float()
    gen = torch.Generator(device=device).manual_seed(0)
    for _ in range(3):
        A.augment(x, A.random_params(100, gen))
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        A.augment(x, A.random_params(100, gen))
    sync(device)
    return (time.perf_counter() - t0) / repeats * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=200, help="interleaved batches of each (default 200)")
    ap.add_argument("--runs", type=int, default=0, help="alternating whole runs of each, 60 batches (default 0)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="5 batches, 1 run each (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.runs = 5, 1

    from cnn_gui.core.data.datasets import load_dataset

    device = resolve(args.device)
    print(machine_line(device))
    data = load_dataset("mnist").subset(None, 1000)  # the test pass is not timed: keep it short
    print(f"device {device}; batch 100; {args.batches} batches of each, interleaved")
    times = interleaved(data, device, args.batches)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"  median step: off {off * 1e3:.1f} ms, on {on * 1e3:.1f} ms "
          f"(quartiles off {statistics.quantiles(times[False])[0] * 1e3:.1f}-"
          f"{statistics.quantiles(times[False])[2] * 1e3:.1f}, on {statistics.quantiles(times[True])[0] * 1e3:.1f}-"
          f"{statistics.quantiles(times[True])[2] * 1e3:.1f} ms)")
    print(f"augment off samples/s: {100 / off:.1f}")
    print(f"augment on samples/s: {100 / on:.1f}")
    print(f"ratio on/off: {off / on:.3f}x")
    if args.runs:
        speeds: dict[bool, list[float]] = {False: [], True: []}
        warmup, batches = (2, 5) if args.quick else (5, 60)
        for rep in range(1, args.runs + 1):
            for flag in (False, True):
                s, t = engine_speed(data, batches, warmup, str(device), augment=flag)
                speeds[flag].append(s / t)
                print(f"  whole run {rep}: augmentation {'on ' if flag else 'off'} {s / t:8.1f} samples/s")
        r_off, r_on = statistics.median(speeds[False]), statistics.median(speeds[True])
        print(f"whole runs: off {r_off:.1f}, on {r_on:.1f} samples/s, ratio {r_on / r_off:.3f}x")
    print(f"augment alone: {augment_ms(data, device):.2f} ms per batch of 100")
    return 0


if __name__ == "__main__":
    sys.exit(main())
