"""Epoch time on CUDA: the tutorial's loop vs the engine.

    python benchmarks/gpu_speed.py [--epochs 2] [--batches N] [--compile] [--quick]

The tutorial's loop (benchmarks/_baseline.py) on the GPU: DataLoader and ToTensor on the
CPU, a host-to-device copy and an ``int(...)`` sync per batch, fp32, contiguous, Adam with
its default implementation. The engine: MNIST resident on the GPU, batches sliced on the
device, channels_last, bf16 autocast, fused Adam, cuDNN autotuning, one host sync per
report interval (``--compile``: torch.compile too; its first epoch includes compiling).
Both train batch 100 with the same model; each epoch's training time is printed (test
passes not counted) and the ratio of the last epoch's (the steady state) and of the total.

Without CUDA it says so and runs the same comparison briefly on the CPU (``--batches``
defaults to 20 there), so the script itself is exercised. A measurement: exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from _baseline import TutorialRun  # noqa: E402
from train_speed import machine_line  # noqa: E402


def engine_epochs(data, device: torch.device, epochs: int, batches: int | None, compile_: bool) -> list[float]:
    """Training seconds of each epoch (the test pass excluded)."""
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.engine import Trainer
    from cnn_gui.core.events import EpochEnded, FitFailed, FitStarted

    info: dict = {}
    times: list[float] = []

    def on_event(event) -> None:
        if isinstance(event, FitStarted):
            info["seen"] = min(event.batches_per_epoch * event.batch_size, event.train_size)
        elif isinstance(event, EpochEnded):
            times.append(info["seen"] / event.samples_per_sec)
        elif isinstance(event, FitFailed):
            raise RuntimeError(f"engine failed: {event.message}")

    cfg = TrainConfig(batch_size=100, epochs=epochs, max_batches=batches, device=str(device), compile=compile_)
    Trainer(cfg, data=data, callbacks=[on_event]).fit()
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=None, help="batches per epoch (default: all on CUDA, 20 on the CPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the engine's model (CUDA)")
    ap.add_argument("--quick", action="store_true", help="1 epoch of 5 batches (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.batches = 1, 5

    from cnn_gui.core.data import load_dataset

    if torch.cuda.is_available():
        device = torch.device("cuda")
        batches = args.batches
    else:
        device = torch.device("cpu")
        batches = args.batches or 20
        print(f"CUDA is absent: running the same comparison briefly on the CPU ({batches} batches per epoch)")
    print(machine_line(device))
    data = load_dataset("mnist").subset(None, 1000)  # the test pass is not timed

    run = TutorialRun(device)
    tut = []
    for epoch in range(1, args.epochs + 1):
        samples, seconds = run.train_batches(batches)
        tut.append(seconds)
        print(f"  tutorial epoch {epoch}: {seconds:.2f} s ({samples / seconds:.0f} samples/s)")
    eng = engine_epochs(data, device, args.epochs, batches, args.compile)
    for epoch, seconds in enumerate(eng, 1):
        print(f"  engine   epoch {epoch}: {seconds:.2f} s")
    print(f"tutorial epoch time (last): {tut[-1]:.2f} s")
    print(f"engine epoch time (last): {eng[-1]:.2f} s")
    print(f"ratio tutorial/engine, last epoch: {tut[-1] / eng[-1]:.2f}x")
    print(f"ratio tutorial/engine, all {args.epochs} epoch(s): {sum(tut) / sum(eng):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
