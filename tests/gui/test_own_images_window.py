"""Your own images in the window: the network built for the folder's classes, the canvas bars
named after them, drawings prepared as the folder's images, and image files opened or dropped
on the canvas panel (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.data import image_folder
from cnn_gui.core.inputs.preparation import prepare_file
from tests.core.test_own_images import SHAPES, draw_doodles


@pytest.fixture(scope="module")
def doodles(tmp_path_factory):
    image_folder.clear_cache()
    return draw_doodles(tmp_path_factory.mktemp("own-window") / "doodles", train=24, test=6)


def drop(widget, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def a_seven(path):
    im = Image.new("L", (200, 200), 235)
    ImageDraw.Draw(im).line([(40, 40), (160, 40), (90, 170)], fill=20, width=14)
    im.save(path)
    return path


def a_photo(path, rgb=(200, 40, 40)):
    im = Image.new("RGB", (64, 48), (30, 90, 160))
    ImageDraw.Draw(im).ellipse([12, 8, 52, 40], fill=rgb)
    im.save(path)
    return path


@pytest.mark.slow
def test_a_folder_run_gives_a_network_of_its_classes_and_the_canvas_names_them(make_window, qtbot, doodles):
    window = make_window()  # the folder chosen in the panel, loaded by the run itself
    window.training_panel.set_config(TrainConfig(dataset=f"folder:{doodles}", epochs=2, batch_size=16, lr=0.002))
    assert window.training_panel.config().dataset == f"folder:{doodles}"
    sizes, snapshots = [], []
    window.controller.started.connect(lambda *_: sizes.append(window.structure.tree.children[-1].children[-1].params[0].shape))
    # Each epoch's weights on the canvas read as the folder's, during the run too (not MNIST's 0-9).
    window.controller.weightsSnapshot.connect(
        lambda *_: snapshots.append((window.predictor.classes, window.predictor.preparation.ink)))
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training()
    qtbot.waitUntil(lambda: window.predictor is not None and window.predictor.classes == SHAPES, timeout=10000)
    assert sizes == [(3, 128)]  # the tree showed the 3-output network as soon as the run started
    assert snapshots == [(SHAPES, "dark")] * 2
    assert window.session.spec.num_classes == 3 and window.session.model.fc[-1].out_features == 3
    fc3 = [p for p in window.structure.tree.all_params() if p.name == "fc.3.weight"][0]
    assert fc3.shape == (3, 128)  # the tree shows the network as trained
    assert window.predictor.preparation.to_dict() == {"method": "fit", "ink": "dark"}
    assert window.canvas_dock.windowTitle() == "Draw, or open an image"

    bars = window.prediction_view.bars
    assert len(bars.values()) == 3 and not bars.bars_visible()  # labelled with its classes before a reading
    assert window.prediction_view.caption_text() == "Draw, or open an image, to see a prediction"
    # A drawing (white on the canvas's black) is read as the folder's dark-on-light images.
    canvas = window.canvas
    assert canvas.drawing_allowed()
    with qtbot.waitSignal(window.canvas_panel.controller.predicted, timeout=5000):
        from tests.gui.test_canvas import draw
        draw(canvas, [(60, 60), (220, 60), (220, 220), (60, 220), (60, 60)])
    assert bars.bars_visible() and len(bars.values()) == 3
    assert window.prediction_view.caption_text().split(":")[1].split()[0] in SHAPES + ("maybe",)

    # An image file dropped on the panel is read exactly as `cnn-gui predict` reads it.
    path = sorted((doodles / "test" / "triangle").glob("*.png"))[0]
    with qtbot.waitSignal(window.canvas_panel.controller.predicted, timeout=10000) as got:
        drop(window.canvas_panel, path)
    expected = window.predictor.predict(prepare_file(path, window.predictor.preparation, (1, 28, 28)))
    assert got.args[0] == int(np.argmax(expected)) and got.args[1] == pytest.approx(float(expected.max()), abs=1e-6)
    assert canvas.has_picture()
    canvas.clear()
    assert not canvas.has_picture() and not bars.bars_visible()


def test_weights_for_photos_read_an_opened_image_file(make_window, qtbot, tmp_path):
    window = make_window()
    assert window.request_model("simple-cnn")
    panel = window.canvas_panel
    assert not window.canvas.drawing_allowed() and "image file" in panel.note.text()
    assert "Drop an image file" in window.canvas.hint() and window.canvas_dock.windowTitle() == "Open an image"
    assert window.prediction_view.caption_text() == "Open or drop an image to see a prediction"
    with qtbot.waitSignal(panel.controller.predicted, timeout=10000):
        panel.open_picture(str(a_photo(tmp_path / "photo.png")))
    assert window.canvas.has_picture()
    bars = window.prediction_view.bars
    assert bars.bars_visible() and len(bars.values()) == 10
    assert window.prediction_view.input_title.text() == "Network input (32x32)"
    # A file that is not an image: one line under the canvas, nothing else changes.
    (tmp_path / "notes.png").write_text("not an image")
    panel.open_picture(str(tmp_path / "notes.png"))
    qtbot.waitUntil(lambda: panel.note.isVisible() and "Cannot read notes.png" in panel.note.text(), timeout=10000)


def test_a_photo_opened_for_mnist_weights_is_read_as_a_digit(make_window, qtbot, tmp_path):
    window = make_window()
    qtbot.waitUntil(lambda: window.predictor is not None, timeout=10000)
    path = a_seven(tmp_path / "seven.png")
    with qtbot.waitSignal(window.canvas_panel.controller.predicted, timeout=10000) as got:
        window.canvas_panel.open_picture(str(path))
    assert got.args[0] == 7


def test_an_opened_file_is_never_shown_as_read_by_other_weights(make_window, qtbot, tmp_path):
    """Switching to weights that prepare images another way reads the file again for them; until
    then nothing prepared for the old weights is shown as theirs. Clear during a read wins."""
    window = make_window()
    qtbot.waitUntil(lambda: window.predictor is not None, timeout=10000)
    panel = window.canvas_panel
    photo = str(a_seven(tmp_path / "photo.png"))
    with qtbot.waitSignal(panel.controller.predicted, timeout=10000):
        panel.open_picture(photo)
    assert window.prediction_view.input_title.text() == "Network input (28x28)"
    assert panel.source_text() == "photo.png, opened on the canvas"
    reread = []
    panel.controller.predicted.connect(lambda *a: reread.append(window.prediction_view.input_title.text()))
    assert window.request_model("simple-cnn")  # 3x32x32 photos: the file is read again for them
    assert not window.prediction_view.bars.bars_visible() or reread  # never the 28x28 reading under new weights
    qtbot.waitUntil(lambda: reread == ["Network input (32x32)"], timeout=10000)
    assert window.canvas.has_picture()

    # A stroke on weights that read photos does nothing; Clear during a read cancels it.
    from tests.gui.test_canvas import draw

    window.canvas.clear()
    draw(window.canvas, [(60, 60), (200, 200)])
    assert window.canvas.is_empty() and not window.canvas.has_picture()
    panel.open_picture(photo)
    window.canvas.clear()
    qtbot.wait(600)
    assert not window.canvas.has_picture() and panel.source_text() is None


def test_quitting_asks_about_weights_that_exist_nowhere_else(make_window, tmp_path):
    from cnn_gui.core.weights import Provenance, Source, Weights

    window = make_window()
    s = window.session  # trained weights whose only file was deleted since
    s.current = Weights(s.spec, s.model, Provenance(Source.TRAINED, "run 1", epoch=1,
                                                    kept_in=str(tmp_path / "gone.safetensors")))
    assert window.session.unsaved
    window.ask_discard = lambda what: window.discard_asked.append(what) or "cancel"
    assert not window.close() and window.isVisible()
    assert window.discard_asked == ["Quitting"]
    window.ask_discard = lambda what: "discard"
    assert window.close()


@pytest.mark.slow
def test_a_run_says_what_loading_its_folder_left_out(make_window, qtbot, tmp_path):
    from generated import shapes_folder

    folder = shapes_folder(tmp_path / "shapes")  # holds one damaged image
    window = make_window()
    window.training_panel.set_config(TrainConfig(dataset=f"folder:{folder}", epochs=1, batch_size=16))
    said = []
    window.controller.started.connect(lambda *_: said.append(window.statusBar().currentMessage()))
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training()
    assert len(said) == 1 and "skipped 1 unreadable image" in said[0]


def test_save_and_export_suggest_the_model_and_the_folders_name(make_window, tmp_path):
    from cnn_gui.core.weights import weights_file_stem

    window = make_window()
    spec = window.session.spec
    assert weights_file_stem(spec, "mnist") == "mnist-cnn-mnist"
    assert weights_file_stem(spec, f"folder:{tmp_path}/my shapes") == "mnist-cnn-my shapes"
    asked = []
    window.ask_save_path = lambda title, name, filters: asked.append(name) or ""
    window.files.ask_save()
    assert asked == [f"{weights_file_stem(spec, window.session.dataset)}.safetensors"] == ["mnist-cnn-mnist.safetensors"]
