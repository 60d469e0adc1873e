"""How fast the "Why did it say that?" views compute: attribution maps, probes, embedding.

The shipped pretrained MNIST CNN, real MNIST test digits, torch on one thread as the
GUI thread and the views' worker threads run it (``make_this_thread_serial``). Prints
the median (and p90) per method over ``--images`` different test digits after a warm-up,
then the PCA of the test set's penultimate features *including* the forward pass
(``--pca-images``, median of ``--repeats`` runs), and the live canvas point. Baseline in
the same run: one plain forward pass of one image (``Predictor.predict``), so each
figure can be read as "so many forward passes". Measurements only: exits 0 whatever.

Targets (the issue): Grad-CAM and Input x Gradient <= 30 ms, Integrated Gradients (32
steps) <= 80 ms, occlusion <= 100 ms, all probes (~60 variants) <= 150 ms, PCA of 10,000
test images with the forward pass <= 3 s, live canvas point <= 16 ms.

    python benchmarks/explain_speed.py [--images 30] [--pca-images 10000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _machine import cpu_name, load_text  # noqa: E402
from cnn_gui.core.analysis.attribution import Explainer, captum_available  # noqa: E402
from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into  # noqa: E402
from cnn_gui.core.training.cpu_threads import make_this_thread_serial  # noqa: E402
from cnn_gui.core.data.datasets import load_dataset  # noqa: E402
from cnn_gui.core.analysis.embedding import compute_embedding, project, sklearn_available  # noqa: E402
from cnn_gui.core.model.models import build_model  # noqa: E402
from cnn_gui.core.analysis.predictor import Predictor  # noqa: E402
from cnn_gui.core.analysis.probes import run_probes  # noqa: E402
from cnn_gui.core.resources import pretrained_checkpoint  # noqa: E402

TARGETS_MS = {"gradcam": 30, "ixg": 30, "ig": 80, "occlusion": 100, "probes": 150, "live point": 16}
TITLES = {"gradcam": "Grad-CAM (last conv)", "ixg": "Input x Gradient", "ig": "Integrated Gradients (32 steps)",
          "occlusion": "occlusion (4x4 patch, stride 2)", "probes": "probes (all variants, one batch)",
          "live point": "live canvas point (features + PCA)"}


def timed(fn, images, warmup: int = 3) -> list[float]:
    for image in images[:warmup]:
        fn(image)
    out = []
    for image in images:
        t0 = time.perf_counter()
        fn(image)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def line(name: str, ms: list[float]) -> str:
    med, p90 = statistics.median(ms), float(np.percentile(ms, 90))
    return f"{TITLES[name]}: median {med:.1f} ms, p90 {p90:.1f} ms (target <= {TARGETS_MS[name]} ms)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30, help="test digits per method")
    parser.add_argument("--pca-images", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3, help="PCA runs")
    parser.add_argument("--quick", action="store_true", help="a few images; the figures then mean little")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.pca_images, args.repeats = 4, 500, 1

    make_this_thread_serial()
    ckpt = load_checkpoint(pretrained_checkpoint())
    model = build_model(ckpt.meta.architecture)
    load_weights_into(model, ckpt)
    predictor = Predictor(model, mean=ckpt.meta.mean, std=ckpt.meta.std, classes=ckpt.meta.classes)
    data = load_dataset("mnist")
    images = [data.test_images[i, 0].numpy().astype(np.float32) / 255.0 for i in range(args.images)]

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread (as the GUI thread), {load_text()}")
    forward = timed(predictor.predict, images)
    print(f"baseline, one forward pass (Predictor.predict): median {statistics.median(forward):.2f} ms")

    if captum_available():
        explainer = Explainer(predictor)
        for method in ("gradcam", "ixg", "ig", "occlusion"):
            ms = timed(lambda image, m=method: explainer.explain(image, m), images)
            print(line(method, ms) + f" = {statistics.median(ms) / statistics.median(forward):.0f} forward passes")
    else:
        print("attribution: skipped, Captum is not installed (pip install -e '.[explain]')")

    ms = timed(lambda image: run_probes(predictor, image), images)
    variants = run_probes(predictor, images[0]).variants
    print(line("probes", ms) + f", {variants} variants")

    runs: dict[str, list[float]] = {"fp32": [], "auto": []}
    result = None
    for _ in range(args.repeats):  # alternating, so that a change in load hits both
        for precision in runs:
            t0 = time.perf_counter()
            out = compute_embedding(predictor.model, data, args.pca_images, precision=precision)
            runs[precision].append(time.perf_counter() - t0)
            if precision == "auto":
                result = out
    chosen = "bf16 autocast (native bf16 here)" if result.features.bf16 else "fp32 (no native bf16 here)"
    backend = result.pca.backend + ("" if sklearn_available() else ", scikit-learn not installed")
    print(f"PCA of {args.pca_images:,} test images' features incl. the forward pass, as the view runs it "
          f"[{chosen}; {backend}]: median {statistics.median(runs['auto']):.2f} s of {args.repeats} "
          f"(target <= 3 s for 10,000)")
    print(f"baseline, the same in fp32: median {statistics.median(runs['fp32']):.2f} s")
    ms = timed(lambda image: project(predictor, image, result.pca, result.features.bf16), images)
    print(line("live point", ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
