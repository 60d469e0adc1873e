"""Texts that follow what is shown (issue 17, "Consistent and current"): the embedding's star,
Explain's class and combos, a run's weights named by their run, the curves after a stop."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.resources import pretrained_checkpoint
from cnn_gui.gui.analysis.embedding_view import EmbeddingView
from cnn_gui.gui.analysis.explain_view import ANSWER_TEXT, ExplainView

pytestmark = pytest.mark.usefixtures("serial_torch")
CANVAS = "the drawing on the canvas"


@pytest.fixture(scope="module")
def mnist():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").subset(0, 200)


def digit(mnist, i):
    return mnist.test_images[i, 0].numpy().astype(np.float32) / 255.0


def make(qtbot, cls, width=900, height=640):
    view = cls()
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_the_star_says_drawing_again_once_you_draw_after_a_test_image(qtbot, pretrained, mnist):
    view = make(qtbot, EmbeddingView)
    view.set_predictor(pretrained)
    view.set_dataset("mnist", mnist)
    assert view.compute()
    qtbot.waitUntil(lambda: view.result is not None, timeout=30000)
    view.set_image(digit(mnist, 5), "test image #5: true 1, read as 1")
    assert "test image #5" in view.legend.text()
    view.set_live_image(digit(mnist, 6))  # the canvas: the user drew
    assert "test image #5" not in view.legend.text() and CANVAS in view.legend.text()
    view.shutdown()


def test_explain_follows_a_new_image_s_answer_unless_the_class_was_picked_for_it(qtbot, pretrained, mnist):
    view = make(qtbot, ExplainView)
    view.set_predictor(pretrained)
    view.set_image(digit(mnist, 0), "test image #0")
    view.select_class(9)
    view.set_image(digit(mnist, 0), "test image #0")  # the same image again: the pick stays
    assert view.class_combo.currentData() == 9
    view.set_image(digit(mnist, 1), "test image #1")  # another image: its own answer
    assert view.class_combo.currentIndex() == 0 and view.class_combo.currentText() == ANSWER_TEXT
    view.set_image(digit(mnist, 2), CANVAS)
    view.select_class(3)
    view.set_image(digit(mnist, 3), CANVAS)  # one more stroke of the same drawing
    assert view.class_combo.currentData() == 3
    view.set_image(None, CANVAS)  # cleared: the next drawing is another image
    view.set_image(digit(mnist, 4), CANVAS)
    assert view.class_combo.currentIndex() == 0
    view.shutdown()


@pytest.mark.parametrize("width", [420, 900])
def test_explain_s_choices_are_never_clipped(qtbot, pretrained, width):
    view = make(qtbot, ExplainView, width, 600)
    view.set_predictor(pretrained)
    qtbot.wait(50)
    for combo in (view.method_combo, view.class_combo, view.layer_combo):
        fm = combo.fontMetrics()
        longest = max(fm.horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
        assert combo.sizeHint().width() > longest, (combo.toolTip(), combo.sizeHint().width(), longest)
        if combo.isVisible():
            assert combo.width() >= combo.sizeHint().width(), combo.toolTip()
    assert view.class_combo.itemData(0, Qt.ItemDataRole.ToolTipRole)  # what "its answer" means
    view.shutdown()


def _run_folder(root, name="shapes, third try"):
    folder = root / "20261204-171923-mnist-cnn-mnist"
    folder.mkdir(parents=True)
    shutil.copy(pretrained_checkpoint(), folder / "checkpoint.safetensors")
    (folder / "run.json").write_text(json.dumps({
        "format": "cnn-gui-run", "format_version": 1, "name": name, "status": "finished",
        "started": "2026-12-04T17:19:23+00:00", "model": "mnist-cnn", "dataset": "mnist"}))
    return folder / "checkpoint.safetensors"


def test_a_run_s_weights_are_labelled_by_the_run_not_checkpoint_safetensors(make_window, tmp_path):
    from cnn_gui.gui.flows.checkpoint_flow import run_name_of

    path = _run_folder(tmp_path)
    assert run_name_of(path) == "shapes, third try"
    assert run_name_of(pretrained_checkpoint()) is None
    window = make_window()
    window.open_checkpoint(str(path), background=False)
    label = window.weights_label.text()
    assert "run shapes, third try" in label and "checkpoint.safetensors" not in label, label
    window.open_checkpoint(str(pretrained_checkpoint()), background=False)  # a file elsewhere: its name
    assert "run shapes" not in window.weights_label.text()
    assert not window.errors


@pytest.mark.slow
def test_a_stop_before_the_first_epoch_shows_the_stopped_run_in_both_plots(qtbot, make_window, mnist_large):
    window = make_window()
    window.data_override = mnist_large
    window.training_panel.set_config(TrainConfig(epochs=3, batch_size=50))
    assert window.plots.epoch_series()["epoch"].size > 0  # the pretrained weights' own history
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        window.training_panel.train_button.click()
    with qtbot.waitSignal(window.controller.finished, timeout=15000) as blocker:
        window.training_panel.stop_button.click()
    assert blocker.args[0].reason == "stopped" and blocker.args[0].epochs_completed == 0
    window.plots.flush()
    assert window.plots.batch_series()["step"].size > 0  # the steps it trained
    assert window.plots.epoch_series()["epoch"].size == 0  # no epoch of it was tested
    assert window.weights_label.text().startswith("Weights: pretrained")  # the tested weights stay
