"""Training throughput: the tutorial's loop vs the engine, same model, batch 100, same batches.

    python benchmarks/train_speed.py [--batches 300] [--repeats 2] [--warmup 10] [--device auto]

Both run in this one process, alternating (tutorial, engine, tutorial, engine, ...), so
that a machine shared with other work slows both alike. Only the training batches are
timed: the first ``--warmup`` batches of each run are left out, and so is the engine's
test pass (the engine's time is taken from its BatchEnded events, from the first report
after the warm-up to the last batch). The tutorial's time includes its DataLoader, since
loading the batch is part of its loop; the engine's includes slicing and normalising its
batches from the preloaded tensor. A measurement, not a test: it exits 0 whatever the ratio.

Findings (2-core AMD EPYC Zen 4 VM, torch 2.14.1 CPU, batch 100, median of interleaved
runs in one process; per-batch times of training steps):

- Profile of the tutorial's loop: convolution backward ~35-40 % of the time, conv forward
  ~15 %, the Linear layers' mm/addmm ~15 %, BatchNorm fwd+bwd ~10 %, the optimizer ~5 %
  (single-tensor Adam: ~4 ms/batch), the DataLoader (100 PIL images through ToTensor and
  Normalize per batch) ~5-10 %. The per-batch ``int(...)`` sync costs nothing on the CPU.
- The model step alone: contiguous ~70 ms, channels_last ~55 ms (oneDNN's blocked
  convolutions; the biggest single win).
- Adam ``fused=True`` on the CPU: optimizer step ~2 ms instead of ~4 ms (foreach) -> kept.
- bf16 autocast on the CPU (this Zen 4 has avx512_bf16): step ~35-40 ms instead of ~55 ms,
  but it changes the numerics and is slower on CPUs without native bf16, so the engine's
  default stays fp32 on the CPU (``amp=True`` in a TrainConfig turns it on).
- See README.md in this folder for the rest (threads, mkldnn, pre-normalised data, compile).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_name  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from _baseline import TutorialRun, resolve  # noqa: E402


def machine_line(device: torch.device) -> str:
    cpu = cpu_name()
    parts = [f"CPU {cpu}", f"{os.cpu_count()} cores", f"torch {torch.__version__}",
             f"{torch.get_num_threads()} threads"]
    if device.type == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(device)}")
    try:
        parts.append("load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    except OSError:
        pass
    return "machine: " + ", ".join(parts)


def engine_speed(data, batches: int, warmup: int, device: str, **config) -> tuple[int, float]:
    """(samples, seconds) of the engine's training batches after ``warmup``."""
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.events import BatchEnded, FitFailed

    marks: list[tuple[float, int]] = []  # (time, batches done)

    def on_event(event) -> None:
        if isinstance(event, BatchEnded):
            marks.append((time.perf_counter(), event.batch))
        elif isinstance(event, FitFailed):
            raise RuntimeError(f"engine failed: {event.message}")

    cfg = TrainConfig(batch_size=100, max_batches=warmup + batches, epochs=1, device=device, **config)
    trainer = Trainer(cfg, data=data, callbacks=[on_event])
    end = trainer.fit()
    if end.reason != "completed":
        raise RuntimeError(f"engine run ended {end.reason}: {trainer.error}")
    first = next((m for m in marks if m[1] >= warmup), marks[0])
    last = marks[-1]
    return (last[1] - first[1]) * cfg.batch_size, last[0] - first[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=300, help="timed batches per run (default 300)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each (default 2)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed batches at the start of each run")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--bf16", action="store_true", help="also time the engine with bf16 autocast (amp=True)")
    ap.add_argument("--quick", action="store_true", help="5 batches, 1 repeat, 2 warm-up (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.repeats, args.warmup = 5, 1, 2

    from cnn_gui.core.data.datasets import load_dataset

    device = resolve(args.device)
    print(machine_line(device))
    print(f"device {device}; batch 100; {args.batches} timed batches after {args.warmup} warm-up; "
          f"{args.repeats} alternating repeat(s)")
    data = load_dataset("mnist").subset(None, 1000)  # the engine's test pass is not timed: keep it short
    tut, eng, bf = [], [], []
    for rep in range(1, args.repeats + 1):
        s, t = TutorialRun(device).train_batches(args.batches, warmup=args.warmup)
        tut.append(s / t)
        print(f"  run {rep}: tutorial {s / t:8.1f} samples/s ({t / (s / 100) * 1e3:.1f} ms/batch)")
        s, t = engine_speed(data, args.batches, args.warmup, str(device))
        eng.append(s / t)
        print(f"  run {rep}: engine   {s / t:8.1f} samples/s ({t / (s / 100) * 1e3:.1f} ms/batch)")
        if args.bf16:
            s, t = engine_speed(data, args.batches, args.warmup, str(device), amp=True)
            bf.append(s / t)
            print(f"  run {rep}: engine bf16 {s / t:8.1f} samples/s ({t / (s / 100) * 1e3:.1f} ms/batch)")
    t_med, e_med = statistics.median(tut), statistics.median(eng)  # the mean, for 2 repeats
    print(f"tutorial samples/s: {t_med:.1f}")
    print(f"engine samples/s: {e_med:.1f}")
    print(f"ratio engine/tutorial: {e_med / t_med:.2f}x")
    # On a shared machine the fastest run of each is the least disturbed one.
    print(f"best run: tutorial {max(tut):.1f}, engine {max(eng):.1f} samples/s, "
          f"ratio {max(eng) / max(tut):.2f}x")
    if bf:
        print(f"engine bf16 samples/s: {statistics.median(bf):.1f} "
              f"(ratio {statistics.median(bf) / t_med:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
