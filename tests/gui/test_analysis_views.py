"""The Feature maps and Test set tabs, driven as a user drives them: draw, pick, compute, click."""

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cnn_gui.core.config import TrainConfig
from cnn_gui.gui.analysis.feature_maps_view import NO_DRAWING_TEXT
from cnn_gui.gui.background.jobs import THREAD_PREFIX


def draw_one(canvas):
    """A vertical stroke down the middle, as a mouse draws it."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    x = canvas.width() / 2
    points = [(x, canvas.height() * t) for t in np.linspace(0.2, 0.8, 12)]

    def send(kind, p, button, buttons):
        pos = QPointF(*p)
        QApplication.sendEvent(canvas, QMouseEvent(kind, pos, QPointF(canvas.mapToGlobal(pos)), button, buttons,
                                                   Qt.KeyboardModifier.NoModifier))

    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for p in points[1:]:
        send(QEvent.Type.MouseMove, p, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


@pytest.fixture
def window(make_window, mnist_small):
    return make_window(data_override=mnist_small)  # pretrained weights on the canvas


def test_feature_maps_of_the_drawing_for_the_chosen_layer(qtbot, window):
    view = window.feature_maps
    window.tabs.setCurrentWidget(view)
    assert view.image.grid is None and NO_DRAWING_TEXT in view.image._message
    assert view.current_layer_name() == "layer1.0"  # the first convolution
    assert view.layer_names()[:4] == ["layer1.0", "layer1.1", "layer1.2", "layer1"]

    draw_one(window.canvas)
    qtbot.waitUntil(lambda: view.maps is not None, timeout=3000)
    assert view.maps.shape == (16, 26, 26)
    assert view.image.grid.shape == (4 * 27 - 1, 4 * 27 - 1)  # 4x4 maps, 1 px gaps
    assert view.maps.std() > 0  # the stroke shows: not a blank response
    assert "16 maps of 26x26" in view.caption.text()
    assert view._tooltip(0, 0).startswith("map 0 of 16")
    assert view._tooltip(26, 0) is None  # a gap

    assert view.select_layer("layer4")
    assert view.maps.shape == (128, 4, 4)
    assert (view.maps >= 0).all()  # after ReLU and max-pool

    window.canvas.clear()
    assert view.maps is None and NO_DRAWING_TEXT in view.image._message


def test_feature_maps_wait_while_their_tab_is_hidden(qtbot, window):
    view = window.feature_maps
    assert window.tabs.currentWidget() is not view
    draw_one(window.canvas)
    qtbot.waitUntil(lambda: window.prediction_view.top_prediction() is not None, timeout=3000)
    assert view.maps is None  # no forward pass for a tab nobody looks at
    window.tabs.setCurrentWidget(view)
    assert view.maps is not None and view.maps.shape == (16, 26, 26)


@pytest.fixture
def fake_cifar():
    """CIFAR-10-shaped data (random pixels; no network here): SimpleCNN's own input."""
    import torch

    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.data.registry import DATASETS

    g = torch.Generator().manual_seed(0)
    images = lambda n: torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)  # noqa: E731
    labels = lambda n: torch.randint(0, 10, (n,), generator=g)  # noqa: E731
    return ImageDataset(DATASETS["cifar10"], images(200), labels(200), images(120), labels(120))


def test_a_model_that_does_not_read_the_canvas_shows_test_images(qtbot, make_window, fake_cifar):
    """SimpleCNN (3x32x32, CIFAR-10): no canvas, but its test set and feature maps work."""
    window = make_window(data_override=fake_cifar)
    assert window.request_model("simple-cnn")
    fm = window.feature_maps
    window.tabs.setCurrentWidget(fm)
    assert fm.layer_names()[:2] == ["layer1.conv1", "layer1.relu1"]
    assert "reads 3x32x32 images, not the canvas" in fm.image._message

    view = window.confusion
    with qtbot.waitSignal(view.finished, timeout=60000) as blocker:
        assert view.compute()
    result = blocker.args[0]
    assert result.matrix.shape == (10, 10) and result.matrix.sum() == 120
    assert "CIFAR-10 test images" in view.status.text()
    view.choose_sample(5)
    assert window.tabs.currentWidget() is window.analysis.explain  # a clicked image: why did it say that?
    window.tabs.setCurrentWidget(fm)
    assert fm.maps.shape == (32, 32, 32)  # layer1.conv1 of the clicked colour image
    assert fm.source.startswith("test image #5: true ")
    expected = feature_maps_of(window, fake_cifar.test_images[5].numpy() / 255.0, "layer1.conv1")
    np.testing.assert_allclose(fm.maps, expected, rtol=1e-5, atol=1e-6)


def test_confusion_matrix_of_the_canvas_weights_and_its_cells(qtbot, window, mnist_small):
    view = window.confusion
    window.tabs.setCurrentWidget(view)
    with qtbot.waitSignal(view.finished, timeout=60000) as blocker:
        qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
        assert not view.compute_button.isEnabled()  # one computation at a time
    result = blocker.args[0]
    assert result is view.result
    truth = mnist_small.test_labels.numpy()
    assert result.matrix.sum() == len(truth) == 500
    np.testing.assert_array_equal(result.matrix.sum(axis=1), np.bincount(truth, minlength=10))
    assert result.accuracy > 0.95  # the shipped weights
    assert f"{result.accuracy:.2%}" in view.status.text()
    assert view.table.rowCount() == view.table.columnCount() == 10
    assert view.table.item(3, 3).text() == f"{result.matrix[3, 3]:,}"
    assert view.compute_button.isEnabled()
    # The thread that computed has ended: no OpenMP team of its own lingers to slow training.
    assert view.join(5) and not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    # By default the grid shows the misclassified test images.
    np.testing.assert_array_equal(view.shown_indices(), result.misclassified[:60])

    view.show_cell(7, 7)
    shown = view.shown_indices()
    assert shown.size == min(60, result.matrix[7, 7])
    assert (truth[shown] == 7).all() and (result.predicted[shown] == 7).all()
    assert view._sample_tooltip(0, 0) == f"test image #{shown[0]}: true 7, predicted 7 (click: its feature maps)"


@pytest.mark.slow
def test_new_weights_clear_the_matrix_and_training_blocks_it(qtbot, window):
    view = window.confusion
    with qtbot.waitSignal(view.finished, timeout=60000):
        assert view.compute()
    assert view.result is not None
    window.training_panel.set_config(TrainConfig(epochs=1, max_batches=3, batch_size=50))
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        assert window.start_training()
        assert not view.compute_button.isEnabled() and not view.compute()
        assert window.tabs.currentWidget() is window.plots  # Train shows the curves
    # The epoch's weights reached the canvas: the old matrix is gone, Compute is back.
    assert view.result is None and "compute again" in view.status.text()
    assert view.compute_button.isEnabled()


@pytest.fixture
def slow_pass(monkeypatch, mnist_small):
    """``(big, started)``: 5,000 test images, and an Event set when the first batch runs;
    every batch of the matrix takes 50 ms more (2.5 s in all over ``big``, unless cancelled)."""
    import torch

    import cnn_gui.gui.analysis.confusion_view as cv
    from cnn_gui.core.data.image_dataset import ImageDataset

    big = ImageDataset(mnist_small.info, mnist_small.train_images, mnist_small.train_labels,
                       mnist_small.test_images.repeat(10, 1, 1, 1), mnist_small.test_labels.repeat(10))
    started = threading.Event()
    original = cv.confusion_matrix

    class Slow(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            started.set()
            time.sleep(0.05)
            return self.model(x)

    monkeypatch.setattr(cv, "confusion_matrix", lambda model, data, **kw: original(Slow(model), data, **kw))
    return big, started


def test_closing_mid_computation_is_quick_and_leaves_no_thread(qtbot, window, slow_pass):
    view = window.confusion
    big, started = slow_pass
    view.set_source(window.predictor, "mnist", big)
    results = []
    view.finished.connect(results.append)
    assert view.compute()
    assert started.wait(10)
    t0 = time.monotonic()
    assert window.shutdown(20000)
    assert time.monotonic() - t0 < 1.0  # the pass stops at its next batch, not after 2.5 s
    assert view.join(0) and not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    assert not view.is_running()
    qtbot.wait(20)
    assert results == []  # a cancelled computation reports nothing


def test_new_weights_cancel_a_computation_and_compute_runs_again(qtbot, window, slow_pass):
    view = window.confusion
    big, started = slow_pass
    view.set_source(window.predictor, "mnist", big)
    results = []
    view.finished.connect(results.append)
    assert view.compute()
    assert started.wait(10)
    window.show_weights_snapshot()  # new weights, as at an epoch's end (and the window's own 500 images)
    assert not view.is_running() and view.compute_button.isEnabled()
    assert view.join(1.0)  # the old pass stopped at its next batch
    qtbot.wait(20)
    assert results == [] and view.result is None
    with qtbot.waitSignal(view.finished, timeout=60000) as blocker:
        assert view.compute()
    assert blocker.args[0].matrix.sum() == 500


def test_weights_for_another_input_shape_say_so_instead_of_running(qtbot, make_window, mnist_small, monkeypatch):
    """SimpleCNN's weights (3x32x32) with MNIST as the dataset (1x28x28), as after an MNIST
    run and a model switch: one line in the view, nothing runs, nothing raises."""
    import cnn_gui.gui.analysis.confusion_view as cv
    from cnn_gui.core.model.models import SimpleCNN
    from cnn_gui.core.analysis.predictor import Predictor

    window = make_window(data_override=mnist_small)
    view = window.confusion
    ran, original = [], cv.confusion_matrix
    monkeypatch.setattr(cv, "confusion_matrix", lambda *a, **kw: ran.append(a) or original(*a, **kw))
    simple = Predictor(SimpleCNN(), (0.5,), (0.5,), tuple("0123456789"))
    for data in (mnist_small, None):  # the window's own data, or MNIST by name
        view.set_source(simple, "mnist", data, input_shape=(3, 32, 32))
        text = view.status.text()
        assert "3x32x32" in text and "1x28x28" in text and "MNIST" in text and "\n" not in text
        assert not view.compute_button.isEnabled() and "3x32x32" in view.compute_button.toolTip()
        assert not view.compute() and not view.is_running()
        assert view.status.text() == text
    assert ran == [] and window.errors == []
    # The matching shape runs.
    view.set_source(window.predictor, "mnist", mnist_small, input_shape=(1, 28, 28))
    assert view.compute_button.isEnabled() and view.compute_button.toolTip() == ""
    with qtbot.waitSignal(view.finished, timeout=60000) as blocker:
        assert view.compute()
    assert len(ran) == 1 and blocker.args[0].matrix.sum() == 500


def test_a_failed_computation_is_one_line_in_the_view(qtbot, window, monkeypatch):
    import cnn_gui.gui.analysis.confusion_view as cv

    def fail(*_args, **_kwargs):
        raise RuntimeError("expected input[100, 1, 28, 28] to have 3 channels,\nbut got 1 <channels>")

    monkeypatch.setattr(cv, "confusion_matrix", fail)
    view = window.confusion
    with qtbot.waitSignal(view.finished, timeout=5000) as blocker:
        assert view.compute()
    assert blocker.args == [None]
    assert view.status.text() == ("Could not compute: RuntimeError: expected input[100, 1, 28, 28] to have "
                                  "3 channels, but got 1 &lt;channels&gt;")
    assert view.compute_button.isEnabled() and not view.is_running()


def test_clicking_a_test_image_shows_its_feature_maps(qtbot, window, mnist_small):
    view = window.confusion
    window.tabs.setCurrentWidget(view)
    with qtbot.waitSignal(view.finished, timeout=60000):
        view.compute()
    view.show_cell(2, 2)
    first = int(view.shown_indices()[0])
    # Click the middle of the first image in the grid, as a user does.
    grid = view.samples
    rect = grid.image_rect()
    h = 28 * rect.height() / grid.grid.shape[0]
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=rect.topLeft() + QPointF(h / 2, h / 2).toPoint())
    fm = window.feature_maps
    assert window.tabs.currentWidget() is window.analysis.explain  # a clicked image: why did it say that?
    window.tabs.setCurrentWidget(fm)
    assert fm.source == f"test image #{first}: true 2, predicted 2"
    assert fm.source in fm.caption.text()
    expected = feature_maps_of(window, mnist_small.test_images[first, 0].numpy() / 255.0, fm.current_layer_name())
    np.testing.assert_allclose(fm.maps, expected, rtol=1e-5, atol=1e-6)
    # The canvas takes over again as soon as it changes.
    draw_one(window.canvas)
    qtbot.waitUntil(lambda: fm.source == "the drawing on the canvas", timeout=3000)


def feature_maps_of(window, img28, layer):
    from cnn_gui.core.analysis.inspection import feature_maps

    p = window.feature_maps.predictor
    return feature_maps(p.model, p.input_tensor(img28.astype(np.float32)), [layer])[layer]


def test_the_matrix_is_computed_on_a_private_copy(qtbot, window, monkeypatch):
    """Feature maps hook the shared snapshot for a moment on the GUI thread; the matrix's
    thread must never run that same module object."""
    import cnn_gui.gui.analysis.confusion_view as cv

    seen = []
    original = cv.confusion_matrix
    monkeypatch.setattr(cv, "confusion_matrix", lambda model, data, **kw: seen.append(model) or original(model, data, **kw))
    with qtbot.waitSignal(window.confusion.finished, timeout=60000):
        window.confusion.compute()
    assert seen and seen[0] is not window.predictor.model
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(seen[0].parameters(), window.predictor.model.parameters()))



def test_new_weights_keep_the_shown_test_image_and_compute_its_maps_once(qtbot, window, monkeypatch):
    view, fm = window.confusion, window.feature_maps
    with qtbot.waitSignal(view.finished, timeout=60000):
        view.compute()
    view.choose_sample(0)
    window.tabs.setCurrentWidget(fm)
    source = fm.source
    passes = []
    original = fm.refresh
    monkeypatch.setattr(fm, "refresh", lambda: passes.append(1) or original())
    window.show_weights_snapshot()  # new weights, as at an epoch's end
    assert fm.source == source  # still the clicked test image, now with the new weights
    assert len(passes) == 1


def test_a_clicked_test_image_reaches_every_view(qtbot, window):
    """Confusion cell -> image -> Explain, Robustness, Feature maps, Layer and its place in the Embedding."""
    view = window.confusion
    with qtbot.waitSignal(view.finished, timeout=60000):
        assert view.compute()
    view.show_cell(3, 3)
    first = int(view.shown_indices()[0])  # the cell's first image: a 3 read as a 3
    view.choose_sample(first)
    expected = view._result_data.test_images[first, 0].numpy() / 255.0  # the test set the matrix used
    tabs = window.analysis
    assert window.tabs.currentWidget() is tabs.explain
    for shown in (tabs.explain._image, tabs.probes._image, tabs.embedding._live_image):
        np.testing.assert_allclose(shown, expected, atol=1e-6)
    assert tabs.feature_maps.source.startswith(f"test image #{first}: true 3")
    qtbot.waitUntil(lambda: tabs.explain.result is not None, timeout=10000)
    assert tabs.explain.result.predicted == 3  # a cell on the diagonal: read as its true class
