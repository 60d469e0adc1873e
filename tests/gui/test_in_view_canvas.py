"""The canvas stays where it is: nothing above it changes height when training starts,
pauses, stops or finishes, or when the weights label changes (a stroke begun before Train
must not land 14 px off, and a click on Clear must not draw)."""

import pytest
from PySide6.QtWidgets import QApplication

from cnn_gui.core.config import TrainConfig

LABELS = ("Weights: pretrained (99.4 % test)",
          "Weights: trained now, stopped at step 263 (no full epoch, 97.7 % test)",
          "Weights: file " + "a-rather-long-checkpoint-name-" * 3 + ".safetensors (99.1 % test)",
          "Weights: untrained")


def settle(qtbot, ms=40):
    for _ in range(4):
        QApplication.processEvents()
        qtbot.wait(ms // 4)


def canvas_top(window) -> int:
    return window.canvas.mapToGlobal(window.canvas.rect().topLeft()).y()


@pytest.fixture
def window(make_window, mnist_small, qtbot):
    w = make_window(data_override=mnist_small)
    w.resize(1280, 720)
    settle(qtbot)
    return w


def test_the_canvas_does_not_move_when_training_starts_or_the_label_changes(window, qtbot):
    top = canvas_top(window)
    seen = {}
    for training in (True, False):
        window.canvas_panel.set_training(training)  # what Train and the run's end do
        settle(qtbot)
        seen[f"training={training}"] = canvas_top(window)
        for text in LABELS:
            window.set_weights_text(text)
            settle(qtbot)
            seen[f"training={training}, {text[:30]}"] = canvas_top(window)
    assert {k: v for k, v in seen.items() if v != top} == {}, f"canvas top was {top}"


@pytest.mark.slow
def test_the_canvas_does_not_move_during_a_short_run(window, qtbot):
    top = canvas_top(window)
    tops = []
    window.controller.started.connect(lambda *_: tops.append(("started", canvas_top(window))))
    window.controller.progress.connect(lambda *_: tops.append(("progress", canvas_top(window))))
    window.training_panel.set_config(TrainConfig(epochs=1, max_batches=3, batch_size=50))
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        assert window.start_training()
    settle(qtbot)
    tops.append(("finished", canvas_top(window)))
    assert [t for t in tops if t[1] != top] == [], f"canvas top was {top}"


def test_the_canvas_keeps_its_size_whatever_is_written_below_it(make_window, qtbot, tmp_path):
    """The caption and the note below the canvas: new weights of another kind (digits, drawings,
    photos), a long message, a note coming and going never resize or move the canvas."""
    from PIL import Image

    from cnn_gui.core.analysis.predictor import Predictor
    from cnn_gui.core.inputs.preparation import Preparation
    from cnn_gui.core.model.models import get_spec

    window = make_window()
    window.resize(1280, 720)
    settle(qtbot)
    panel = window.canvas_panel
    geometry = (canvas_top(window), window.canvas.height(), panel.clear_button.y())
    seen = {}
    spec = get_spec("mnist-cnn").with_classes(3)
    for ink in ("light", "dark", ""):
        prep = Preparation("fit", ink)
        panel.set_predictor(Predictor(spec.factory(), (0.5,), (0.5,), ("circle", "square", "triangle"),
                                      input_shape=(1, 28, 28), preparation=prep))
        settle(qtbot)
        seen[f"ink={ink!r}"] = (canvas_top(window), window.canvas.height(), panel.clear_button.y())
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    panel.open_picture(str(tmp_path / "broken.png"))
    qtbot.waitUntil(lambda: panel.note.isVisible(), timeout=10000)
    settle(qtbot)
    seen["a file that cannot be read"] = (canvas_top(window), window.canvas.height(), panel.clear_button.y())
    window.prediction_view.show_input_only(None, "A rather long message " * 6)
    settle(qtbot)
    seen["a long caption"] = (canvas_top(window), window.canvas.height(), panel.clear_button.y())
    assert {k: v for k, v in seen.items() if v != geometry} == {}, f"the canvas was {geometry}"
