"""Issue 17's trial, Robustness tab with a folder model: the answers written over the points
never run into each other whatever the class names, the footer says how the weights shown
prepare an image, and weights that read photos get no stroke width probe."""

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication

from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.analysis.probes import Curve
from cnn_gui.core.inputs.preparation import Preparation
from cnn_gui.core.model.models import SimpleCNN
from cnn_gui.gui.analysis.probes_view import NOTE_TEXT, NO_STROKE_TEXT, ProbesView

pytestmark = pytest.mark.usefixtures("serial_torch")

CLASSES = ("triangle", "circle", "a rather long class name")


def settle(qtbot, ms=60):
    for _ in range(4):
        QApplication.processEvents()
        qtbot.wait(ms // 4)


def shown_view(qtbot, width=560, height=460):
    view = ProbesView()
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    settle(qtbot)
    return view


def curve_of(transform, predicted):
    n = len(transform.values)
    predicted = np.asarray(predicted, dtype=np.int64)
    return Curve(transform, np.zeros((n, 28, 28), np.float32), predicted,
                 np.full(n, 0.9, np.float32), np.full(n, 0.9, np.float32))


def answers(plot):
    """(text, scene rect) of every answer written over the plot."""
    return [(t.textItem.toPlainText(), t.sceneBoundingRect()) for t in plot.labels if t.textItem.toPlainText()]


@pytest.mark.parametrize("width, height", [(560, 460), (560, 330), (900, 600)])
def test_answers_are_written_once_per_stretch_and_never_overlap(qtbot, width, height):
    """Short plots too (1280x720 leaves the tab about 560x330): answers stay inside the plot."""
    view = shown_view(qtbot, width, height)
    for plot in view.plots:
        n = len(plot.transform.values)
        patterns = ([0] * n, [i % 3 for i in range(n)], [0] * (n // 2) + [1] + [2] * (n - n // 2 - 1))
        for predicted in patterns:
            plot.show_curve(curve_of(plot.transform, predicted), 0, CLASSES)
            settle(qtbot, 8)
            written = answers(plot)
            stretches = 1 + int(np.count_nonzero(np.diff(predicted)))
            assert len(written) <= stretches, (plot.transform.key, predicted, written)
            if width >= 900 or max(np.bincount(np.cumsum(np.r_[0, np.diff(predicted) != 0]))) == len(predicted):
                assert len(written) == stretches  # room for each: all written
            for (_, a), (_, b) in zip(written, written[1:]):
                assert a.right() <= b.left() + 0.5, (plot.transform.key, written)  # side by side, apart
            inside = plot.plot.getPlotItem().getViewBox().sceneBoundingRect()
            for text, rect in written:  # inside the plot, not over its axis or past its edges
                assert inside.left() - 0.5 <= rect.left() and rect.right() <= inside.right() + 0.5, (text, rect)
                assert inside.top() - 0.5 <= rect.top(), (text, rect, inside)
            for text, _ in written:  # the name, shortened at its end, or its first letter
                assert any(name == text or name.startswith(text.rstrip("…")) for name in CLASSES), text
            tip = plot.plot.toolTip()
            for k in set(predicted):
                assert CLASSES[k] in tip  # each stretch named in full in the tooltip
    same = view.plots[0]
    same.show_curve(curve_of(same.transform, [0] * len(same.transform.values)), 0, CLASSES)
    assert [t for t, _ in answers(same)] == ["triangle"]  # one stretch: the whole name
    view.shutdown()


def test_mnist_weights_keep_every_probe_and_the_mnist_note(qtbot, pretrained):
    view = shown_view(qtbot)
    view.set_predictor(pretrained)
    assert view.note.text() == NOTE_TEXT
    assert len(view.shown_plots()) == 6 and all(p.isVisible() for p in view.plots)
    rng = np.random.default_rng(0)
    view.set_image((rng.random((28, 28)) > 0.8).astype(np.float32), "noise")
    view.refresh()
    assert view.result.variants == 58
    view.shutdown()


def test_photo_weights_say_how_they_prepare_and_get_no_stroke_probe(qtbot, pretrained):
    torch.manual_seed(0)
    photos = Predictor(SimpleCNN(), classes=[f"class {i}" for i in range(10)], mean=(0.5,) * 3, std=(0.25,) * 3,
                       input_shape=(3, 32, 32), preparation=Preparation("fit", ""))
    view = shown_view(qtbot)
    view.set_predictor(photos, (3, 32, 32))
    note = view.note.text()
    assert "MNIST" not in note and "28x28" not in note and "32x32" in note and NO_STROKE_TEXT in note
    assert Preparation("fit", "").describe() in note
    assert [p.transform.key for p in view.shown_plots()] == ["shift_x", "shift_y", "rotation", "scale", "noise"]
    stroke = next(p for p in view.plots if p.transform.key == "stroke")
    assert not stroke.isVisible()
    view.set_image(np.random.default_rng(1).random((3, 32, 32)).astype(np.float32), "photo.png")
    view.refresh()
    assert "stroke" not in [c.transform.key for c in view.result.curves]
    assert view.result.variants == 58 - 7 and "51 variants" in view.summary.text() or "only for" in view.summary.text()

    drawings = Predictor(SimpleCNN(), mean=(0.5,) * 3, std=(0.25,) * 3, input_shape=(3, 32, 32),
                         preparation=Preparation("fit", "dark"))
    view.set_predictor(drawings, (3, 32, 32))  # a folder of dark-on-light drawings: strokes mean something
    assert len(view.shown_plots()) == 6 and stroke.isVisible()
    assert NO_STROKE_TEXT not in view.note.text() and "dark strokes on light" in view.note.text()
    view.set_predictor(pretrained, (1, 28, 28))
    assert view.note.text() == NOTE_TEXT
    view.shutdown()
