"""The Explain, Robustness and Embedding views, on the pretrained CNN with real MNIST test
digits and on the tutorial's SimpleCNN (3x32x32); each clears when given None."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF

from cnn_gui.core.analysis import attribution
from cnn_gui.core.model.models import SimpleCNN
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.gui.analysis import embedding_view as embedding_view_module
from cnn_gui.gui.analysis.embedding_view import EmbeddingView
from cnn_gui.gui.analysis.explain_view import NO_IMAGE_TEXT, NO_MODEL_TEXT, ExplainView
from cnn_gui.gui.analysis.probes_view import NOTE_TEXT, ProbesView

CIFAR_STATS = dict(mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))





pytestmark = pytest.mark.usefixtures("serial_torch")  # see tests/conftest.py


@pytest.fixture(scope="module")
def mnist():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").subset(0, 400)


def digit_of(mnist, i):
    return mnist.test_images[i, 0].numpy().astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def simple():
    torch.manual_seed(0)
    return Predictor(SimpleCNN(), classes=[f"c{i}" for i in range(10)], **CIFAR_STATS)


@pytest.fixture
def fake_cifar():
    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.data.registry import DATASETS

    g = torch.Generator().manual_seed(0)
    images = lambda n: torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)  # noqa: E731
    labels = lambda n: torch.randint(0, 10, (n,), generator=g)  # noqa: E731
    return ImageDataset(DATASETS["cifar10"], images(20), labels(20), images(150), labels(150))


def make(qtbot, cls):
    view = cls()
    qtbot.addWidget(view)
    view.resize(900, 640)
    return view


# -- Explain -------------------------------------------------------------------------------

def test_explain_view_shows_the_map_with_its_scale_reading_and_choosers(qtbot, pretrained, mnist):
    pytest.importorskip("captum")
    view = make(qtbot, ExplainView)
    view.refresh()
    assert view.message == NO_MODEL_TEXT
    view.set_predictor(pretrained)
    view.set_weights_label("pretrained")
    assert view.weights_label.text() == "Weights: pretrained"
    view.refresh()
    assert view.message == NO_IMAGE_TEXT
    assert [view.layer_combo.itemData(i) for i in range(view.layer_combo.count())] == \
        ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert view.layer_combo.currentData() == "layer4.0"  # the last conv layer by default

    digit = digit_of(mnist, 0)  # a 7
    view.set_image(digit, "test image #0")
    view.refresh()
    result = view.result
    assert result.method == "gradcam" and result.target == result.predicted == 7 and result.layer == "layer4.0"
    assert view.map_image.has_image() and view.input_image.has_image()
    scale = result.scale
    assert view.colour_bar.labels() == [f"+{scale:.3g}", "0", f"-{scale:.3g}"]
    assert "score for 7" in view.reading.text() and "why <b>7</b>" in view.map_caption.text()
    assert view.layer_note.isVisibleTo(view)
    # The overlay: red where the map is positive, blue where negative, at the full scale.
    image = view.map_image.image()
    r, c = np.unravel_index(np.argmax(result.map), result.map.shape)
    red = image.pixelColor(int(c), int(r))
    assert red.red() > red.blue()

    view.select_method("ixg")
    view.select_class(3)
    view.refresh()
    assert view.result.method == "ixg" and view.result.target == 3 and view.result.predicted == 7
    assert "why not <b>3</b>" in view.map_caption.text() and "towards 3" in view.reading.text()
    assert not view.layer_note.isVisibleTo(view)  # the layer matters for Grad-CAM only

    view.set_image(None, "")
    view.refresh()
    assert view.result is None and view.message == NO_IMAGE_TEXT and view.colour_bar.labels() == []
    view.set_predictor(None)
    view.refresh()
    assert view.message == NO_MODEL_TEXT
    view.shutdown()


def test_explain_view_throttles_strokes_and_computes_slow_methods_off_the_gui_thread(qtbot, pretrained, mnist,
                                                                                     monkeypatch):
    pytest.importorskip("captum")
    import captum.attr  # noqa: F401 -- imported: fast methods run on the GUI thread

    calls = []
    real = attribution.Explainer.explain

    def counted(self, image, *args, **kwargs):
        calls.append(image.copy())
        return real(self, image, *args, **kwargs)

    monkeypatch.setattr(attribution.Explainer, "explain", counted)
    view = make(qtbot, ExplainView)
    view.set_predictor(pretrained)
    view.show()
    qtbot.waitExposed(view)
    images = [digit_of(mnist, i) for i in range(12)]
    for image in images:  # twelve strokes at once: one map for the newest
        view.set_image(image, "the drawing")
    qtbot.waitUntil(lambda: view.result is not None and not view.is_busy(), timeout=5000)
    assert len(calls) <= 2
    np.testing.assert_array_equal(calls[-1], images[-1])

    maps, painted = [], []
    real_show, real_set_rgb = view._show, view.map_image.set_rgb
    view._show = lambda request, result: (maps.append(result), real_show(request, result))
    view.map_image.set_rgb = lambda rgb: (painted.append(rgb is not None), real_set_rgb(rgb))
    view.select_method("ig")
    view.set_image(images[1], "a 2")
    view._live.cancel()
    view._run()  # the worker starts on the 2 ...
    assert view._runner.busy()
    view.set_image(images[2], "a 1")  # ... and the image changes before its map is back: that map is dropped
    qtbot.waitUntil(lambda: view.result is not None and view.result.method == "ig" and not view.is_busy(),
                    timeout=10000)
    expected = attribution.Explainer(pretrained).explain(images[2], "ig")
    np.testing.assert_allclose(view.result.map, expected.map, rtol=1e-5, atol=1e-6)
    assert "a 1" in view.input_caption.text()
    assert len(maps) == 2 and not np.allclose(maps[0].map, maps[1].map)  # two maps came back ...
    assert painted.count(True) == 1 and view.result is maps[1]  # ... and only the newest was painted
    view.shutdown()


def test_explain_view_without_captum_says_how_to_install_it(qtbot, pretrained, mnist, monkeypatch):
    monkeypatch.setattr(attribution, "captum_available", lambda: False)
    view = make(qtbot, ExplainView)
    view.set_predictor(pretrained)
    view.set_image(digit_of(mnist, 0), "x")
    view.refresh()
    assert view.message == "Attribution maps need Captum: pip install -e '.[explain]'"
    view.shutdown()


def test_explain_view_on_simplecnn_colour_images(qtbot, simple):
    pytest.importorskip("captum")
    view = make(qtbot, ExplainView)
    view.set_predictor(simple, (3, 32, 32))
    assert view.layer_combo.currentData() == "layer3.conv3"
    view.set_image(np.random.default_rng(0).random((3, 32, 32)).astype(np.float32), "a test image")
    for method in ("gradcam", "ixg", "ig", "occlusion"):
        view.select_method(method)
        view.refresh()
        assert view.result is not None and view.result.map.shape == (32, 32), (method, view.message)
        assert view.map_image.image().size().width() == 32
    view.set_image(None)
    view.refresh()
    assert view.result is None and not view.map_image.has_image()
    view.shutdown()


# -- Robustness ----------------------------------------------------------------------------

def test_probes_view_plots_each_transform_and_clears(qtbot, pretrained, mnist):
    view = make(qtbot, ProbesView)
    view.set_predictor(pretrained)
    view.set_weights_label("pretrained")
    assert view.note.text() == NOTE_TEXT
    view.set_image(digit_of(mnist, 0), "test image #0")
    view.refresh()
    result = view.result
    assert result is not None and result.original == 7
    assert "read as <b>7</b>" in view.summary.text()
    for plot, curve in zip(view.plots, result.curves):
        x, y = plot.original_curve.getData()
        np.testing.assert_array_equal(x, curve.values)
        np.testing.assert_allclose(y, curve.original_probability)
        assert plot.first_thumb.grid is not None and plot.last_thumb.grid is not None
        flips = curve.flips(7)
        fx, _ = plot.flip_marks.getData()
        np.testing.assert_array_equal(fx, curve.values[flips])
        written = [t.textItem.toPlainText() for t in plot.labels]  # the answer once per stretch of equal answers
        starts = [i == 0 or curve.predicted[i] != curve.predicted[i - 1] for i in range(len(written))]
        assert [w for w, s in zip(written, starts) if s] == [str(p) for p, s in zip(curve.predicted, starts) if s]
        assert not any(w for w, s in zip(written, starts) if not s)

    view.set_image(None)
    view.refresh()
    assert view.result is None and all(p.curve is None for p in view.plots)
    view.shutdown()


def test_probes_view_runs_off_the_gui_thread_and_on_simplecnn(qtbot, pretrained, simple, mnist):
    view = make(qtbot, ProbesView)
    view.set_predictor(pretrained)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(digit_of(mnist, 1), "a 2")
    qtbot.waitUntil(lambda: view.result is not None and not view.is_busy(), timeout=5000)
    assert view.result.original == 2

    view.set_predictor(simple, (3, 32, 32))
    assert view.result is None or view.is_busy() or view.result.curves[0].images.shape[-1] == 32
    view.set_image(np.random.default_rng(0).random((3, 32, 32)).astype(np.float32), "a test image")
    qtbot.waitUntil(lambda: view.result is not None and not view.is_busy()
                    and view.result.curves[0].images.shape == (9, 3, 32, 32), timeout=5000)
    view.set_predictor(None)
    qtbot.waitUntil(lambda: view.result is None, timeout=2000)
    view.shutdown()


# -- Embedding -----------------------------------------------------------------------------

def compute(qtbot, view):
    assert view.compute()
    qtbot.waitUntil(lambda: not view.is_running(), timeout=30000)


def test_embedding_view_maps_the_test_set_with_live_point_hover_click_and_box(qtbot, pretrained, mnist):
    view = make(qtbot, EmbeddingView)
    view.show()
    qtbot.waitExposed(view)
    assert not view.compute_button.isEnabled()
    view.set_predictor(pretrained)
    view.set_dataset("mnist", mnist)
    view.set_weights_label("pretrained")
    compute(qtbot, view)
    result = view.result
    assert result is not None and result.points.shape == (400, 2), view.status.text()
    assert len(view.plot.class_items) == 10
    assert sum(len(item.getData()[0]) for item in view.plot.class_items) == 400
    assert len(view.plot.mistake_item.getData()[0]) == int(result.features.mistakes.sum())
    assert "fc.3" in view.axes_note.text() and "principal components" in view.axes_note.text()

    # The canvas drawing as a star: a test image lands on its own dot.
    view.set_live_image(digit_of(mnist, 5))
    spread = result.points.max(0) - result.points.min(0)
    tolerance = 0.01 if result.features.bf16 else 1e-4  # bf16: one image vs a batch of 100 may round apart
    assert (np.abs(view.live_point - result.points[5]) <= tolerance * spread).all()
    x, y = view.plot.live_item.getData()
    assert (x[0], y[0]) == pytest.approx(tuple(view.live_point))

    # Hover and click a dot.
    at = QPointF(*map(float, result.points[17]))
    assert view.hover(at) == 17
    assert "test image #17" in view.images.preview_text.text() and view.images.preview.grid.shape == (28, 28)
    with qtbot.waitSignal(view.imageChosen) as signal:
        view.choose(17)
    image, text = signal.args
    np.testing.assert_array_equal(image, digit_of(mnist, 17))
    assert text.startswith("test image #17: true ")

    # The box: the images inside it, in the gallery.
    lo, hi = result.points.min(0), result.points.max(0)
    rows = view.select_box(lo[0] - 1, lo[1] - 1, hi[0] + 1, hi[1] + 1)
    assert len(rows) == 60 and "400 images" in view.images.gallery_caption.text()
    mistakes = set(np.flatnonzero(result.features.mistakes).tolist())
    assert set(rows[:len(mistakes)].tolist()) == mistakes  # mistakes first
    inside = view.select_box(*(result.points[17] - 1e-3), *(result.points[17] + 1e-3))
    assert 17 in inside
    assert view.images.gallery.grid is not None

    view.set_live_image(None)
    assert view.live_point is None and len(view.plot.live_item.getData()[0]) == 0
    view.set_predictor(None)
    assert view.result is None and not view.plot.class_items and not view.compute_button.isEnabled()
    view.shutdown()


def test_embedding_view_tsne_on_demand_with_progress(qtbot, pretrained, mnist, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setattr(embedding_view_module, "TSNE_MAX", 120)
    view = make(qtbot, EmbeddingView)
    view.set_predictor(pretrained)
    view.set_dataset("mnist", mnist)
    compute(qtbot, view)
    view.set_live_image(digit_of(mnist, 0))
    assert view.live_point is not None
    assert view.compute_tsne()
    seen = []
    view.progress.valueChanged.connect(seen.append)
    qtbot.waitUntil(lambda: not view.is_running(), timeout=60000)
    assert view.tsne_points.shape == (120, 2) and view.layout_name() == "tsne"
    assert sum(len(item.getData()[0]) for item in view.plot.class_items) == 120
    assert view.live_point is None  # t-SNE cannot place a new image
    assert "t-SNE" in view.axes_note.text()
    assert any(0 < v < 1000 for v in seen) and seen[-1] == 1000
    view.layout_combo.setCurrentIndex(view.layout_combo.findData("pca"))
    assert view.live_point is not None and sum(len(i.getData()[0]) for i in view.plot.class_items) == 400
    view.shutdown()


def test_embedding_view_on_simplecnn_and_a_dataset_of_the_wrong_shape(qtbot, pretrained, simple, fake_cifar):
    view = make(qtbot, EmbeddingView)
    view.set_predictor(simple, (3, 32, 32))
    view.set_dataset("cifar10", fake_cifar)
    compute(qtbot, view)
    assert view.result is not None and view.result.features.features.shape == (150, 64)
    with qtbot.waitSignal(view.imageChosen) as signal:
        view.choose(3)
    assert signal.args[0].shape == (3, 32, 32)

    view.set_predictor(pretrained, (1, 28, 28))  # the canvas model against CIFAR-10
    compute(qtbot, view)
    assert view.result is None
    assert view.status.text().startswith("Could not compute: these weights read 1x28x28 images")
    view.shutdown()


def test_the_embedding_legend_never_widens_the_tab(qtbot, pretrained):
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.gui.analysis.embedding_view import EmbeddingView

    view = EmbeddingView()
    qtbot.addWidget(view)
    view.set_predictor(pretrained, (1, 28, 28))
    view.set_dataset("mnist", load_dataset("mnist").subset(0, 300))
    view.show()
    before = view.minimumSizeHint().width()
    view.compute()
    qtbot.waitUntil(lambda: "mistakes" in view.status.text(), timeout=60000)
    assert view.legend.text() and view.minimumSizeHint().width() <= max(before, 320)


def test_the_input_and_its_map_are_drawn_the_same_size(qtbot, pretrained, mnist):
    pytest.importorskip("captum")
    view = make(qtbot, ExplainView)
    view.resize(600, 460)
    view.show()
    view.set_predictor(pretrained)
    view.set_image(digit_of(mnist, 0), "test image #124: true 7, predicted 4, a long caption that once took "
                                       "the input's column all the width it wanted")
    view.refresh()
    qtbot.waitUntil(lambda: view.result is not None, timeout=10000)
    qtbot.wait(50)
    assert view.input_image.width() == view.map_image.width()
