"""The canvas keeps a drawing's strokes, and the network reads a digit from them at any size."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from cnn_gui.core.inputs.strokes import MOUSE_PRESSURE, strokes_to_mnist
from cnn_gui.gui.panels.canvas import DrawingCanvas
from cnn_gui.gui.panels.prediction_view import CanvasPredictor, PredictionView

from tests.gui.test_canvas import draw

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from careless_digits import careless  # noqa: E402


@pytest.fixture
def big_canvas(qtbot):
    c = DrawingCanvas()
    qtbot.addWidget(c)
    c.resize(560, 560)  # twice the image: widget pixels are half image pixels
    c.show()
    qtbot.waitExposed(c)
    return c


def reader(qtbot, canvas, predictor):
    view = PredictionView()
    qtbot.addWidget(view)
    ctrl = CanvasPredictor(canvas, view, predictor)
    inputs, tops = [], []
    ctrl.inputRead.connect(inputs.append)
    ctrl.predicted.connect(lambda k, p: tops.append(k))
    return view, inputs, tops


def test_strokes_are_kept_in_image_pixels_with_the_mouse_pressure(big_canvas):
    draw(big_canvas, [(100, 100), (200, 100), (200, 300)])
    draw(big_canvas, [(400, 400), (420, 440)])
    strokes = big_canvas.strokes()
    assert [s.shape for s in strokes] == [(3, 3), (2, 3)]
    assert np.allclose(strokes[0][:, :2], [[50, 50], [100, 50], [100, 150]])
    assert np.allclose(strokes[1][:, :2], [[200, 200], [210, 220]])
    assert (strokes[0][:, 2] == MOUSE_PRESSURE).all()
    big_canvas.clear()
    assert big_canvas.strokes() == []


def _tablet(canvas, kind, x, y, pressure, buttons):
    device = QPointingDevice.primaryPointingDevice()
    pos = QPointF(x, y)
    event = QTabletEvent(kind, device, pos, QPointF(canvas.mapToGlobal(pos)), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                         Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons)
    QApplication.sendEvent(canvas, event)


def test_a_pens_pressure_is_kept_and_its_lift_keeps_the_last_width(big_canvas):
    left = Qt.MouseButton.LeftButton
    _tablet(big_canvas, QEvent.Type.TabletPress, 100, 100, 0.2, left)
    _tablet(big_canvas, QEvent.Type.TabletMove, 100, 200, 0.6, left)
    _tablet(big_canvas, QEvent.Type.TabletMove, 100, 300, 0.9, left)
    _tablet(big_canvas, QEvent.Type.TabletRelease, 100, 320, 0.0, Qt.MouseButton.NoButton)
    (stroke,) = big_canvas.strokes()
    assert np.allclose(stroke[:, 2], [0.2, 0.6, 0.9, 0.9])
    assert np.allclose(stroke[:, :2], [[50, 50], [50, 100], [50, 150], [50, 160]])


def test_the_network_reads_what_the_preview_shows_written_from_the_strokes(qtbot, big_canvas, pretrained):
    view, inputs, tops = reader(qtbot, big_canvas, pretrained)
    draw(big_canvas, [(60 + 40 * np.cos(a), 400 + 40 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 30)])
    assert inputs[-1] is not None
    assert np.array_equal(inputs[-1], strokes_to_mnist(big_canvas.strokes()))
    assert tops and tops[-1] == 0  # a small circle low on the left is a 0, not a blot


@pytest.mark.slow
def test_careless_small_digits_read_as_well_as_big_ones(qtbot, pretrained):
    """100 small and 100 normal-sized careless digits (held-out styles, tremor, overshoot,
    pen lifts, turned up to 28 degrees) drawn with the mouse on the real canvas. Read from
    the fixed-width raster, the small ones were 87 % right against 99 %."""
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(280, 280)
    view, inputs, tops = reader(qtbot, canvas, pretrained)
    rng = np.random.default_rng(7)
    right = {True: 0, False: 0}
    for i in range(10):
        for digit in range(10):
            for small in (True, False):
                canvas.clear()
                for s in careless(rng, digit, small=small).strokes:
                    draw(canvas, [tuple(p) for p in s])
                right[small] += bool(tops) and view.top_prediction()[0] == digit
    assert right[True] >= 95 and right[False] >= 95, right
    assert abs(right[True] - right[False]) <= 3, right
