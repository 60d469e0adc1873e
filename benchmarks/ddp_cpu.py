"""Data-parallel training on this machine's CPU: one process with T threads against T processes
of one thread each (``cnn-gui train --nproc-per-node T``, gloo), on the same run.

    python benchmarks/ddp_cpu.py [--threads 2] [--batches 60] [--batch-size 128] [--repeats 2]

Each run is a fresh ``cnn-gui train`` (the tutorial CNN on MNIST, one epoch cut to
``--batches`` global batches, seed 0, no run folder); the figures are the epoch's training
samples/s and its test accuracy, read back from the checkpoint's history. Both arms see the
same samples in the same global batches (the processes share each batch), so their
accuracies must agree within noise; the runs alternate so that a busy machine hurts both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import cpu_name, load_text  # noqa: E402


def one_run(procs: int, threads: int, args, folder: Path) -> dict:
    out = folder / f"p{procs}.safetensors"
    command = [sys.executable, "-m", "cnn_gui", "train", "--epochs", "1", "--max-batches", str(args.batches),
               "--batch-size", str(args.batch_size), "--seed", "0", "--quiet", "--no-runs", "--out", str(out)]
    if procs > 1:
        command += ["--nproc-per-node", str(procs)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - started
    from cnn_gui.core.files.checkpoints import load_checkpoint

    epoch = load_checkpoint(out).meta.history[-1]
    return {"samples_per_sec": epoch["samples_per_sec"], "test_accuracy": epoch["test_accuracy"], "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch

    print(f"{cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {load_text()}")
    t = args.threads
    arms = {f"1 process x {t} threads": (1, t), f"{t} processes x 1 thread": (t, 1)}
    found: dict[str, list[dict]] = {name: [] for name in arms}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, (procs, threads) in arms.items():
                found[name].append(one_run(procs, threads, args, Path(folder)))
    samples = args.batches * args.batch_size
    print(f"MNIST CNN, {args.batches} global batches of {args.batch_size} ({samples:,} samples), "
          f"{args.repeats} runs each")
    for name, runs in found.items():
        speed = statistics.median(r["samples_per_sec"] for r in runs)
        accs = ", ".join(f"{r['test_accuracy']:.4f}" for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        print(f"{name:>26}: {speed:7.0f} samples/s (median), test accuracy {accs}, whole command {wall:.1f} s")


if __name__ == "__main__":
    main()
