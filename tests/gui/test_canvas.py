import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cnn_gui.core.models import CNN
from cnn_gui.core.predictor import Predictor
from cnn_gui.core.preprocess import to_mnist
from cnn_gui.gui.canvas import DrawingCanvas
from cnn_gui.gui.prediction_view import EMPTY_TEXT, CanvasPredictor, PredictionView


def send(widget, kind, x, y, button, buttons):
    pos = QPointF(x, y)
    event = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def draw(widget, points):
    """A left-button stroke through ``points`` (widget coordinates), as a user draws it."""
    left = Qt.MouseButton.LeftButton
    send(widget, QEvent.Type.MouseButtonPress, *points[0], left, left)
    for p in points[1:]:
        send(widget, QEvent.Type.MouseMove, *p, Qt.MouseButton.NoButton, left)
    send(widget, QEvent.Type.MouseButtonRelease, *points[-1], left, Qt.MouseButton.NoButton)


def centre_of_mass(img):
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()


@pytest.fixture
def canvas(qtbot):
    c = DrawingCanvas()
    qtbot.addWidget(c)
    c.resize(280, 280)
    c.show()
    qtbot.waitExposed(c)
    return c


def upper_left_stroke():
    return [(30 + 4 * i, 30 + 6 * i) for i in range(16)]  # a slanted line from (30,30) to (90,120)


def test_default_pen_draws_strokes_as_thick_as_mnist(canvas):
    """A "3" two-thirds of the canvas high, read as the network reads it, has about the
    ink of MNIST's own 3s: a thinner pen gives strokes the network has rarely seen."""
    from cnn_gui.core.data import load_dataset

    w = canvas.width()
    points = [((0.48 + 0.18 * np.cos(a)) * w, (cy + 0.14 * np.sin(a)) * w)
              for cy in (0.33, 0.64) for a in np.linspace(-np.pi * 0.85, np.pi * 0.5, 20)]
    draw(canvas, points)
    ink = int((to_mnist(canvas.image_array()) > 0.5).sum())
    data = load_dataset("mnist")
    threes = data.test_images[data.test_labels == 3].float() / 255
    mnist_ink = float((threes > 0.5).sum(dim=(1, 2, 3)).float().mean())
    assert 0.85 * mnist_ink <= ink <= 1.2 * mnist_ink, (ink, mnist_ink)


def test_starts_empty(canvas):
    assert canvas.is_empty()
    a = canvas.image_array()
    assert a.shape == (280, 280) and a.dtype == np.float32 and a.max() == 0.0


def test_stroke_draws_ink_where_drawn(qtbot, canvas):
    with qtbot.waitSignal(canvas.strokeFinished, timeout=1000):
        draw(canvas, upper_left_stroke())
    assert not canvas.is_empty()
    a = canvas.image_array()
    assert a.max() == pytest.approx(1.0)
    assert a[20:130, 20:100].sum() > 0.95 * a.sum()  # all ink in the upper-left part
    assert a[60, 50] > 0.9  # on the line
    assert a[200:, 200:].max() == 0.0
    img28 = to_mnist(a)
    cy, cx = centre_of_mass(img28)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


def test_image_changed_is_throttled(qtbot, canvas):
    changes = []
    canvas.imageChanged.connect(lambda: changes.append(1))
    draw(canvas, upper_left_stroke())  # 16 points within a few ms
    assert 1 <= len(changes) <= 2  # flushed once on release, not once per move
    changes.clear()
    left = Qt.MouseButton.LeftButton
    send(canvas, QEvent.Type.MouseButtonPress, 200, 200, left, left)
    send(canvas, QEvent.Type.MouseMove, 210, 220, Qt.MouseButton.NoButton, left)
    assert changes == []
    qtbot.waitUntil(lambda: len(changes) == 1, timeout=1000)  # the timer sends it while drawing


def test_clear(qtbot, canvas):
    draw(canvas, upper_left_stroke())
    with qtbot.waitSignal(canvas.cleared, timeout=1000):
        canvas.clear()
    assert canvas.is_empty()
    assert canvas.image_array().max() == 0.0
    assert to_mnist(canvas.image_array()) is None


def test_resized_canvas_maps_to_the_same_image(qtbot, canvas):
    canvas.resize(560, 400)  # the square is 400x400, centred horizontally (x offset 80)
    qtbot.wait(10)
    draw(canvas, [(80 + 200, 200), (80 + 200, 210)])
    a = canvas.image_array()
    assert a[140:146, 138:142].min() > 0.9  # (200,200)..(200,210) * 280/400 = (140,140)..(140,147)


def test_pen_width(canvas):
    canvas.setPenWidth(4)
    draw(canvas, [(140, 60), (140, 220)])
    a = canvas.image_array()
    width = (a[140] > 0.5).sum()
    assert 3 <= width <= 5


def test_controller_predicts_and_shows_empty(qtbot, canvas):
    view = PredictionView()
    qtbot.addWidget(view)
    torch.manual_seed(0)
    ctrl = CanvasPredictor(canvas, view, Predictor(CNN()))
    with qtbot.waitSignal(ctrl.predicted, timeout=1000) as blocker:
        draw(canvas, upper_left_stroke())
    top, prob = blocker.args
    assert 0 <= top <= 9 and 0.0 < prob <= 1.0
    assert view.bars.bars_visible() and view.bars.top_index() == top
    assert np.isclose(view.bars.values().sum(), 1.0, atol=1e-4)
    assert view.caption_text().startswith(f"Prediction: {top} (")
    assert view.top_prediction()[0] == top

    canvas.clear()
    assert not view.bars.bars_visible() and view.bars.values().sum() == 0.0
    assert view.caption_text() == EMPTY_TEXT == "Draw a digit to see a prediction"
    assert view.top_prediction() is None


def test_controller_without_predictor_shows_input_only(qtbot, canvas):
    view = PredictionView()
    qtbot.addWidget(view)
    ctrl = CanvasPredictor(canvas, view)
    got = []
    ctrl.predicted.connect(lambda *a: got.append(a))
    draw(canvas, upper_left_stroke())
    assert got == [] and not view.bars.bars_visible()
    assert view.caption_text() != EMPTY_TEXT
    assert not view.input_label.pixmap().isNull()
    with qtbot.waitSignal(ctrl.predicted, timeout=1000):
        ctrl.set_predictor(Predictor(CNN()))  # re-reads the current drawing
    assert view.bars.bars_visible()


def test_controller_reports_a_model_that_cannot_read_drawings(qtbot, canvas):
    view = PredictionView()
    qtbot.addWidget(view)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    ctrl = CanvasPredictor(canvas, view, Predictor(model))
    with qtbot.waitSignal(ctrl.failed, timeout=1000):
        draw(canvas, upper_left_stroke())
    assert "cannot read" in view.caption_text()
    assert not view.bars.bars_visible()
