"""How well do the weights read what people draw, and handwriting that is not MNIST's?

Two held-out checks, nothing in them trained or tuned on:

1. **Careless drawings** (``benchmarks/careless_digits.py``): digits in several writing
   styles, a quarter of them small and off-centre, slanted, turned up to 28 degrees, with
   tremor, overshoot and pen lifts, drawn through the real ``DrawingCanvas`` (mouse events,
   offscreen) and read the way the canvas reads them (``prepare_drawing`` with the
   canvas's strokes). The old way, the canvas's fixed-width raster scaled by ``to_mnist``,
   is measured on the same drawings for comparison.
2. **UCI digits** (scikit-learn's ``load_digits``: 1,797 digits by 43 writers, 8x8 scans)
   enlarged to 32x32 by pixel repetition and bilinearly, then ``to_mnist``.

Printed: accuracy overall, small vs normal size, per digit, the most frequent confusions.

    python benchmarks/handwriting.py [--checkpoint FILE] [--per-digit 30] [--seed 2026]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from careless_digits import careless  # noqa: E402
from cnn_gui.core.analysis.predictor import Predictor  # noqa: E402
from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into  # noqa: E402
from cnn_gui.core.inputs.preparation import Preparation, prepare_drawing  # noqa: E402
from cnn_gui.core.inputs.preprocess import to_mnist  # noqa: E402
from cnn_gui.core.model.models import spec_for_architecture  # noqa: E402
from cnn_gui.core.resources import pretrained_checkpoint  # noqa: E402
from cnn_gui.gui.app import ensure_app  # noqa: E402
from cnn_gui.gui.panels.canvas import DrawingCanvas  # noqa: E402


def _send(widget, kind, x, y, button, buttons) -> None:
    pos = QPointF(x, y)
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos)), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def draw_on(canvas: DrawingCanvas, strokes) -> None:
    """Draw ``strokes`` (canvas-pixel (N, 2) arrays) on the canvas with mouse events."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for s in strokes:
        _send(canvas, QEvent.Type.MouseButtonPress, *s[0], left, left)
        for x, y in s[1:]:
            _send(canvas, QEvent.Type.MouseMove, x, y, none, left)
        _send(canvas, QEvent.Type.MouseButtonRelease, *s[-1], left, none)


def load_predictor(path) -> Predictor:
    ckpt = load_checkpoint(path or pretrained_checkpoint())
    model = spec_for_architecture(ckpt.meta.architecture).factory()
    load_weights_into(model, ckpt)
    return Predictor(model, ckpt.meta.mean, ckpt.meta.std, ckpt.meta.classes, input_shape=(1, 28, 28))


def read(predictor: Predictor, img28) -> int:
    return int(np.argmax(predictor.predict(img28))) if img28 is not None else -1


class Tally:
    def __init__(self) -> None:
        self.right, self.total, self.mistakes = Counter(), Counter(), Counter()

    def add(self, label: int, predicted: int, group: str = "") -> None:
        for key in ("all", f"digit {label}", group):
            if key:
                self.total[key] += 1
                self.right[key] += predicted == label
        if predicted != label:
            self.mistakes[(label, predicted)] += 1

    def acc(self, key: str) -> float:
        return self.right[key] / max(self.total[key], 1)

    def line(self, name: str, groups=()) -> str:
        parts = [f"{name}: {self.acc('all'):.1%} of {self.total['all']}"]
        parts += [f"{g} {self.acc(g):.1%} ({self.right[g]}/{self.total[g]})" for g in groups]
        digits = " ".join(f"{d}:{self.acc(f'digit {d}'):.0%}" for d in range(10))
        worst = ", ".join(f"{t}->{p} ({n})" for (t, p), n in self.mistakes.most_common(6))
        return "\n".join(["  " + "; ".join(parts), f"    per digit  {digits}", f"    confusions {worst or 'none'}"])


def drawings(predictor: Predictor, per_digit: int, seed: int) -> tuple[Tally, Tally]:
    ensure_app()
    canvas = DrawingCanvas()
    canvas.resize(280, 280)
    rng = np.random.default_rng(seed)
    prep = Preparation("digit", "light")
    strokes_tally, raster_tally = Tally(), Tally()
    for i in range(per_digit):
        for digit in range(10):
            d = careless(rng, digit)
            canvas.clear()
            draw_on(canvas, d.strokes)
            group = "small" if d.small else "normal"
            image = prepare_drawing(canvas.image_array(), prep, (1, 28, 28), canvas.strokes())
            strokes_tally.add(digit, read(predictor, image), group)
            raster_tally.add(digit, read(predictor, to_mnist(canvas.image_array())), group)
    return strokes_tally, raster_tally


def uci(predictor: Predictor) -> tuple[Tally, Tally] | None:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    digits = load_digits()
    repeated, bilinear = Tally(), Tally()
    for img8, label in zip(digits.images / 16.0, digits.target):
        big = np.kron(img8, np.ones((4, 4)))
        repeated.add(int(label), read(predictor, to_mnist(big)))
        t = torch.from_numpy(img8.astype(np.float32))[None, None]
        smooth = torch.nn.functional.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
        bilinear.add(int(label), read(predictor, to_mnist(smooth.numpy())))
    return repeated, bilinear


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="weights to judge (default: the shipped pretrained ones)")
    ap.add_argument("--per-digit", type=int, default=30, help="careless drawings of each digit (default 30)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    predictor = load_predictor(args.checkpoint)
    print(f"weights: {args.checkpoint or 'shipped pretrained'}")
    by_strokes, by_raster = drawings(predictor, args.per_digit, args.seed)
    print("careless drawings through the canvas widget:")
    print(by_strokes.line("read from the strokes (the canvas now)", ("normal", "small")))
    print(by_raster.line("read from the raster (to_mnist, before)", ("normal", "small")))
    both = uci(predictor)
    if both is None:
        print("UCI digits: needs scikit-learn (pip install -e '.[embedding]')")
    else:
        print("UCI digits (scikit-learn, 43 writers), through to_mnist:")
        print(both[0].line("8x8 enlarged by pixel repetition"))
        print(both[1].line("8x8 enlarged bilinearly"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
