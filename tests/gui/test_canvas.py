import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cnn_gui.core.model.models import CNN
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.inputs.preprocess import TOO_LITTLE_INK_TEXT, to_mnist
from cnn_gui.gui.panels.canvas import DrawingCanvas
from cnn_gui.gui.panels.prediction_view import EMPTY_TEXT, CanvasPredictor, PredictionView


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


def one_stroke():
    return [(140, 40 + 12 * i) for i in range(17)]  # a "1" down the middle, 192 px high


@pytest.fixture(scope="module")
def pretrained():
    """The shipped MNIST weights, as the window's canvas reads with them."""
    from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
    from cnn_gui.core.resources import pretrained_checkpoint

    ckpt = load_checkpoint(pretrained_checkpoint())
    model = CNN()
    load_weights_into(model, ckpt)
    return Predictor(model, mean=ckpt.meta.mean, std=ckpt.meta.std, classes=ckpt.meta.classes or None)


class FixedScores(torch.nn.Module):
    """A "network" whose answer is known: the same ten scores for every image."""

    def __init__(self, probs):
        super().__init__()
        self.register_buffer("logits", torch.log(torch.tensor(probs, dtype=torch.float32))[None])

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_default_pen_draws_strokes_as_thick_as_mnist(canvas):
    """A "3" two-thirds of the canvas high, read as the network reads it, has about the
    ink of MNIST's own 3s: a thinner pen gives strokes the network has rarely seen."""
    from cnn_gui.core.data.datasets import load_dataset

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


def test_controller_predicts_and_shows_empty(qtbot, canvas, pretrained):
    view = PredictionView()
    qtbot.addWidget(view)
    ctrl = CanvasPredictor(canvas, view, pretrained)
    with qtbot.waitSignal(ctrl.predicted, timeout=1000) as blocker:
        draw(canvas, one_stroke())
    top, prob = blocker.args
    assert top == 1 and 0.5 <= prob <= 1.0  # a real digit is still read, confidently
    assert view.bars.bars_visible() and view.bars.top_index() == top
    assert np.isclose(view.bars.values().sum(), 1.0, atol=1e-4)
    assert view.caption_text() == f"Prediction: 1 ({prob:.1%})"
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


def test_a_dot_is_not_read_as_a_digit(qtbot, canvas, pretrained):
    """A single dot became a big round blob after the preparation, read as "0 (96%)"."""
    view = PredictionView()
    qtbot.addWidget(view)
    ctrl = CanvasPredictor(canvas, view, pretrained)
    got, inputs = [], []
    ctrl.predicted.connect(lambda *a: got.append(a))
    ctrl.inputRead.connect(inputs.append)
    draw(canvas, [(150, 150)])
    assert not canvas.is_empty()
    assert view.caption_text() == TOO_LITTLE_INK_TEXT == "Too little ink to read: draw a bigger digit"
    assert got == [] and view.top_prediction() is None
    assert not view.bars.bars_visible() and view.bars.top_index() == -1
    assert inputs and inputs[-1] is not None  # the Feature maps tab still sees the input
    assert not view.input_label.pixmap().isNull()

    draw(canvas, one_stroke())  # drawing on: a digit is read again
    assert got and got[-1][0] == 1
    assert view.caption_text().startswith("Prediction: 1 (")


def test_a_weak_guess_says_not_sure_and_highlights_nothing(qtbot, canvas):
    view = PredictionView()
    qtbot.addWidget(view)
    probs = [0.05, 0.05, 0.3, 0.41, 0.03, 0.04, 0.03, 0.03, 0.03, 0.03]
    ctrl = CanvasPredictor(canvas, view, Predictor(FixedScores(probs)))
    with qtbot.waitSignal(ctrl.predicted, timeout=1000) as blocker:
        draw(canvas, one_stroke())
    assert blocker.args[0] == 3 and blocker.args[1] == pytest.approx(0.41, abs=1e-5)
    assert view.caption_text() == "Not sure: maybe 3 (41.0%)"
    assert view.bars.bars_visible() and view.bars.top_index() == -1  # no bar in the highlight colour
    np.testing.assert_allclose(view.bars.values(), probs, atol=1e-5)
    assert view.top_prediction() == (3, pytest.approx(0.41, abs=1e-5))

    ctrl.set_predictor(Predictor(FixedScores([0.02] * 9 + [0.82])))  # confident: highlighted again
    assert view.caption_text() == "Prediction: 9 (82.0%)" and view.bars.top_index() == 9


def test_nan_weights_never_show_nan(qtbot, canvas):
    view = PredictionView()
    qtbot.addWidget(view)
    model = CNN()
    with torch.no_grad():
        model.fc[2].weight[0, 0] = float("nan")
    ctrl = CanvasPredictor(canvas, view, Predictor(model))
    with qtbot.waitSignal(ctrl.failed, timeout=1000) as blocker:
        draw(canvas, one_stroke())
    assert "not a number" in blocker.args[0]
    assert view.caption_text().startswith("The network's output is not a number")
    assert not view.bars.bars_visible() and view.top_prediction() is None

    view.show_prediction(np.zeros((28, 28), np.float32), np.full(10, np.nan, np.float32))
    assert "nan%" not in view.caption_text().lower() and not view.bars.bars_visible()
