"""Issue 17's trial: a resumed run's closing line names the epochs it trained ("Done: 10 epochs
in 0:02" meant 2), and the Maps tab names an image file opened on the canvas."""

import numpy as np
import pytest

from cnn_gui.core.events import FitEnded
from cnn_gui.gui.panels.training_texts import finished_text


@pytest.mark.parametrize("end, start, text", [
    (FitEnded("completed", 10, 20, 2.0, 0.97), 9, "Done: epochs 9–10 (resumed) in 0:02 · test 97.0%"),
    (FitEnded("completed", 10, 10, 1.0, None), 10, "Done: epoch 10 (resumed) in 0:01"),
    (FitEnded("stopped", 9, 1234, 3.0, 0.9), 8, "Stopped after epochs 8–9 (resumed), at step 1,234"),
    (FitEnded("stopped", 7, 1300, 3.0, 0.9), 8, "Stopped before epoch 8 ended (resumed in it), at step 1,300"),
    (FitEnded("completed", 10, 600, 21.0, 0.9922), 1, "Done: 10 epochs in 0:21 · test 99.2%"),  # not resumed
])
def test_a_resumed_run_says_which_epochs_it_trained(end, start, text):
    assert finished_text(end, start) == text


def test_the_panel_shows_the_resumed_text(qtbot):
    from cnn_gui.gui.panels.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.show_finished(FitEnded("completed", 10, 20, 2.0, 0.97), 9)
    assert panel.progress_label.text().startswith("Done: epochs 9–10 (resumed)")


def test_maps_name_an_image_file_opened_on_the_canvas(qtbot, pretrained):
    from PySide6.QtWidgets import QTabWidget

    from cnn_gui.gui.analysis.tabs import CANVAS_TEXT, AnalysisTabs

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    analysis = AnalysisTabs(tabs)
    analysis.set_weights(pretrained, (1, 28, 28), "mnist", None, "pretrained")
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1.0
    analysis.set_canvas_image(image, "seven.png, opened on the canvas")
    maps = analysis.feature_maps
    assert maps.source == "seven.png, opened on the canvas"
    maps.refresh()
    assert "for seven.png, opened on the canvas." in maps.caption.text()
    assert "drawing" not in maps.caption.text()
    analysis.set_canvas_image(image)  # a drawing again
    assert maps.source == CANVAS_TEXT
    assert analysis.shutdown(5.0)
