"""Canvas latency: from a stroke's end (mouse release) to the probability bars repainted.

Drives the real widgets (DrawingCanvas -> CanvasPredictor -> PredictionView) with
synthetic mouse strokes, predicting with the shipped pretrained MNIST CNN, and reports
the median, p95 and max over N strokes. Baselines in the same run: the bare model call
without any widget, preparing the input from the strokes as the canvas does now
(``strokes_to_mnist``) and from the raster as it did before (``to_mnist``), so the ratios
show what Qt adds and what writing the strokes again costs.

Target (issue 4): median <= 15 ms, p95 <= 30 ms over 100 strokes.

    python benchmarks/canvas_latency.py [--strokes 100]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget  # noqa: E402

from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into  # noqa: E402
from cnn_gui.core.model.models import build_model  # noqa: E402
from cnn_gui.core.analysis.predictor import Predictor  # noqa: E402
from cnn_gui.core.inputs.preprocess import to_mnist  # noqa: E402
from cnn_gui.core.inputs.strokes import strokes_to_mnist  # noqa: E402
from cnn_gui.core.resources import pretrained_checkpoint  # noqa: E402
from cnn_gui.gui.app import ensure_app  # noqa: E402
from cnn_gui.gui.panels.canvas import DrawingCanvas  # noqa: E402
from cnn_gui.gui.panels.prediction_view import CanvasPredictor, PredictionView  # noqa: E402


def _send(widget, kind, x, y, button, buttons):
    pos = QPointF(x, y)
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos)), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def _stroke_points(rng: np.random.Generator, size: int) -> list[tuple[float, float]]:
    # A random loop-ish stroke, roughly digit-sized, somewhere on the canvas.
    cx, cy = rng.uniform(0.35, 0.65, 2) * size
    r = rng.uniform(0.12, 0.3) * size
    turns = rng.uniform(0.6, 1.4)
    return [(cx + r * math.cos(t) * 0.6, cy + r * math.sin(t))
            for t in np.linspace(0, 2 * math.pi * turns, 24)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=100)
    args = parser.parse_args(argv)

    app = ensure_app()  # as the app: the GUI thread runs torch serially (cnn_gui.core.training.cpu_threads)
    ckpt = load_checkpoint(pretrained_checkpoint())
    model = build_model(ckpt.meta.architecture)
    load_weights_into(model, ckpt)
    predictor = Predictor(model, mean=ckpt.meta.mean, std=ckpt.meta.std, classes=ckpt.meta.classes)

    host = QWidget()
    layout = QHBoxLayout(host)
    canvas, view = DrawingCanvas(), PredictionView()
    layout.addWidget(canvas)
    layout.addWidget(view)
    controller = CanvasPredictor(canvas, view, predictor)
    host.resize(700, 320)
    host.show()
    app.processEvents()

    done = {}
    controller.predicted.connect(lambda cls, p: done.setdefault("t", time.perf_counter()))
    rng = np.random.default_rng(0)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    size = min(canvas.width(), canvas.height())
    latencies, bare, bare_raster = [], [], []
    for i in range(args.strokes + 5):  # the first 5 warm up
        canvas.clear()
        app.processEvents()
        points = _stroke_points(rng, size)
        _send(canvas, QEvent.Type.MouseButtonPress, *points[0], left, left)
        for p in points[1:]:
            _send(canvas, QEvent.Type.MouseMove, *p, none, left)
        app.processEvents()
        done.clear()
        t0 = time.perf_counter()
        _send(canvas, QEvent.Type.MouseButtonRelease, *points[-1], left, none)
        while "t" not in done and time.perf_counter() - t0 < 2:
            app.processEvents()
        view.bars.repaint()  # the bars actually painted, not just scheduled
        t1 = time.perf_counter()
        strokes = canvas.strokes()
        t2 = time.perf_counter()
        predictor.predict(strokes_to_mnist(strokes))
        t3 = time.perf_counter()
        image = canvas.image_array()
        t4 = time.perf_counter()
        img28 = to_mnist(image)
        if img28 is not None:
            predictor.predict(img28)
        t5 = time.perf_counter()
        if i >= 5 and "t" in done:
            latencies.append((t1 - t0) * 1000)
            bare.append((t3 - t2) * 1000)
            bare_raster.append((t5 - t4) * 1000)

    med, p95 = statistics.median(latencies), percentile(latencies, 95)
    bare_med, raster_med = statistics.median(bare), statistics.median(bare_raster)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} thread(s) on the GUI thread), "
          f"Qt platform {app.platformName()}")
    print(f"strokes measured: {len(latencies)} of {args.strokes}")
    print(f"stroke end -> bars repainted: median {med:.2f} ms, p95 {p95:.2f} ms, max {max(latencies):.2f} ms "
          f"(target median <= 15, p95 <= 30)")
    print(f"baseline, strokes_to_mnist + predict without widgets: median {bare_med:.2f} ms")
    print(f"before, to_mnist of the raster + predict without widgets: median {raster_med:.2f} ms")
    print(f"ratio widget path / bare model call: {med / bare_med:.2f}x; strokes / raster preparation: "
          f"{bare_med / raster_med:.2f}x")
    host.close()
    host.deleteLater()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
