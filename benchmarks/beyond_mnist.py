"""How well do weights read handwriting that is not MNIST? scikit-learn's digits, through the canvas's path.

scikit-learn ships the UCI "Optical Recognition of Handwritten Digits" test set: 1,797
digits written by 43 people (not MNIST's writers), scanned and reduced to 8x8 grey
levels. Each is enlarged (bilinear, to 32x32), then prepared exactly as the canvas
prepares a drawing (``to_mnist``: crop to the ink, 20 px box, centre of mass) and read by
the checkpoint's frozen predictor. Printed: the accuracy, the most frequent mistakes, and
the MNIST test accuracy of the same weights for comparison.

    python benchmarks/beyond_mnist.py [--checkpoint FILE] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into  # noqa: E402
from cnn_gui.core.model.models import spec_for_architecture  # noqa: E402
from cnn_gui.core.analysis.predictor import Predictor  # noqa: E402
from cnn_gui.core.inputs.preprocess import to_mnist  # noqa: E402
from cnn_gui.core.resources import pretrained_checkpoint  # noqa: E402


def enlarge(img8: np.ndarray, size: int = 32) -> np.ndarray:
    """An 8x8 image in [0, 1] resampled bilinearly to ``size`` x ``size``."""
    t = torch.from_numpy(img8.astype(np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="weights to judge (default: the shipped pretrained ones)")
    ap.add_argument("--quick", action="store_true", help="200 digits only (a smoke run)")
    args = ap.parse_args(argv)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("needs scikit-learn: pip install -e '.[embedding]'")
        return 0
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint or pretrained_checkpoint())
    spec = spec_for_architecture(ckpt.meta.architecture)
    model = spec.factory()
    load_weights_into(model, ckpt)
    predictor = Predictor(model, ckpt.meta.mean, ckpt.meta.std, ckpt.meta.classes, input_shape=(1, 28, 28))
    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target
    if args.quick:
        images, labels = images[:200], labels[:200]
    right, mistakes = 0, Counter()
    for img8, label in zip(images, labels):
        img28 = to_mnist(enlarge(img8))
        predicted = int(np.argmax(predictor.predict(img28))) if img28 is not None else -1
        right += predicted == label
        if predicted != label:
            mistakes[(int(label), predicted)] += 1
    acc = right / len(labels)
    mnist = ckpt.meta.history[-1]["test_accuracy"] if ckpt.meta.history else float("nan")
    print(f"weights: {ckpt.path.name}")
    print(f"MNIST test accuracy (from the checkpoint): {mnist:.2%}")
    print(f"scikit-learn digits (UCI, 43 writers, 8x8 enlarged): {acc:.2%} of {len(labels):,}")
    print("most frequent mistakes: " + ", ".join(f"{t} read as {p} ({n})" for (t, p), n in mistakes.most_common(5)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
