"""Streaming an image folder from disk against holding it in memory: samples/s of the same run.

1. Decoding alone: images/s of ``image_reading`` on 1 thread, on 2 threads, and in 2
   DataLoader worker processes (what :mod:`cnn_gui.core.data.streaming` uses; why
   processes: the GIL).
2. Training: the tutorial MNIST CNN (1x28x28, one output per class) on the same folder,
   ``--epochs`` epochs of batch 100 each way: in memory, then streamed (the in-memory
   limit set to 1 byte, ``--workers`` decoding processes). Printed: the training samples/s
   of the last epoch (the first streamed one includes starting the workers), the
   ratio streamed / in memory, and the test accuracies (the same split and order: they
   agree).

The folder: ``--folder PATH`` (one subfolder per class), else ``--images`` coloured
shapes of 96x96 pixels drawn into a temporary folder (PNG).

    python benchmarks/streaming.py [--folder PATH] [--images 6000] [--epochs 2] [--workers 2]

A measurement, not a test: it exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from _scratch import scratch_dir  # the script's folder is first on sys.path
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name, load_text  # noqa: E402


def draw_folder(root: Path, count: int) -> Path:
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    shapes = ("circle", "square", "triangle")
    for k in range(count):
        cls = shapes[k % 3]
        (root / cls).mkdir(parents=True, exist_ok=True)
        bg = tuple(rng.randrange(256) for _ in range(3))
        fg = tuple((b + rng.randrange(96, 160)) % 256 for b in bg)
        im = Image.new("RGB", (96, 96), bg)
        d = ImageDraw.Draw(im)
        r = rng.uniform(0.2, 0.4) * 96
        cx, cy = rng.uniform(r, 96 - r), rng.uniform(r, 96 - r)
        if cls == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
        elif cls == "square":
            d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fg)
        else:
            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
        im.save(root / cls / f"{k:06d}.png")
    return root


def decode_rates(folder: Path, shape) -> list[tuple[str, float]]:
    import torch

    from cnn_gui.core.data.image_reading import decode_images
    from cnn_gui.core.data.streaming import _collate, _Files

    paths = sorted(str(p) for p in folder.rglob("*") if p.is_file())[:3000]
    rates = []
    for threads in (1, 2):
        started = time.perf_counter()
        decode_images(paths, shape, lambda: False, threads, folder)
        rates.append((f"{threads} thread{'s' if threads > 1 else ''}", len(paths) / (time.perf_counter() - started)))
    loader = torch.utils.data.DataLoader(_Files(tuple(paths), shape), batch_size=100, num_workers=2,
                                         collate_fn=_collate, multiprocessing_context="spawn",
                                         persistent_workers=True)
    next(iter(loader))  # the workers started (spawn imports torch: not counted)
    started = time.perf_counter()
    n = sum(len(images) for images, _ in loader)
    rates.append(("2 processes (DataLoader)", n / (time.perf_counter() - started)))
    return rates


def train(data, epochs: int):
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.events import EpochEnded
    from cnn_gui.core.training.engine import Trainer

    ended = []
    config = TrainConfig(model="mnist-cnn", dataset=data.name, epochs=epochs, batch_size=100, device="cpu",
                         seed=0)
    trainer = Trainer(config, data=data, callbacks=[lambda e: ended.append(e) if isinstance(e, EpochEnded) else None])
    result = trainer.fit()
    if result.reason != "completed":
        raise SystemExit(f"the run ended {result.reason}: {trainer.error}")
    return ended[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="an image folder (default: shapes drawn into a temporary one)")
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="decoding processes when streamed")
    args = parser.parse_args(argv)

    from cnn_gui.core.data.image_folder import load_image_folder

    folder = args.folder or draw_folder(Path(scratch_dir(prefix="cnn-gui-stream-")) / "shapes", args.images)
    shape = (1, 28, 28)
    print(f"{cpu_name()}, {os.cpu_count()} cores, {load_text()}; folder {folder}")
    for what, rate in decode_rates(folder, shape):
        print(f"decode at 1x28x28, {what}: {rate:,.0f} images/s")
    memory = load_image_folder(folder, shape)
    streamed = load_image_folder(folder, shape, memory_limit=1, workers=args.workers)
    print(f"in memory: {memory.train_size:,} training and {memory.test_size:,} test images; "
          f"streamed: {streamed.note}")
    try:
        a, b = train(memory, args.epochs), train(streamed, args.epochs)
    finally:
        streamed.close()
    ratio = b.samples_per_sec / a.samples_per_sec if a.samples_per_sec else math.nan
    print(f"training samples/s, epoch {args.epochs}: in memory {a.samples_per_sec:,.0f}, "
          f"streamed ({args.workers} processes) {b.samples_per_sec:,.0f} ({ratio:.0%} of in memory)")
    print(f"test accuracy: in memory {a.test_accuracy:.4f}, streamed {b.test_accuracy:.4f}; "
          f"epoch with test pass: {a.seconds:.1f} s vs {b.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
