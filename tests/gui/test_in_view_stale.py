"""No stale words: what the training panel and the status bar say describes the weights shown now.

- "Done: 1 epoch … test 97.7 %" (and its full bar) goes when other weights replace the run's:
  the pretrained ones, a file, a re-initialisation, another model. A run's own end keeps it.
- How the last run ended is news: "Last run: failed" shows for a while in the status bar;
  the permanent label on the right says the state ("Idle"), never "Idle: failed" for minutes.
"""

import pytest
from PySide6.QtWidgets import QApplication

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import FitEnded
from cnn_gui.gui import main_window as main_window_mod
from cnn_gui.gui.panels.training_panel import IDLE_TEXT

DONE = FitEnded("completed", 1, 600, 21.0, 0.977)


def settle(qtbot, ms=40):
    for _ in range(4):
        QApplication.processEvents()
        qtbot.wait(ms // 4)


@pytest.fixture
def window(make_window, mnist_small):
    return make_window(data_override=mnist_small)


def show_a_finished_run(window):
    panel = window.training_panel
    panel.progress_bar.setRange(0, 600)
    panel.progress_bar.setValue(600)
    panel.show_finished(DONE)
    assert panel.progress_label.text().startswith("Done: 1 epoch") and "97.7%" in panel.progress_label.text()


def assert_fresh(panel, after: str):
    assert panel.progress_label.text() == IDLE_TEXT, after
    assert panel.progress_bar.value() in (0, -1), after


@pytest.mark.parametrize("how", ["pretrained", "reinitialise", "other model", "checkpoint"])
def test_other_weights_clear_the_last_runs_result(window, qtbot, tmp_path, how):
    saved = window.save_checkpoint(tmp_path / "w.safetensors") if how == "checkpoint" else None
    show_a_finished_run(window)
    if how == "pretrained":
        assert window.use_pretrained(ask=False)
    elif how == "reinitialise":
        assert window.reinitialize("kaiming-normal")
    elif how == "other model":
        assert window.request_model("simple-cnn")
    else:
        window.open_checkpoint(saved, background=False)
    settle(qtbot)
    assert not window.errors
    assert_fresh(window.training_panel, how)


def test_a_label_change_keeps_the_runs_result(window, qtbot, tmp_path):
    """Saving the run's weights changes only their label: the result still describes them."""
    show_a_finished_run(window)
    window.save_checkpoint(tmp_path / "kept.safetensors")
    settle(qtbot)
    assert window.training_panel.progress_label.text().startswith("Done: 1 epoch")


def test_how_the_last_run_ended_is_news_not_state(window, qtbot, monkeypatch):
    monkeypatch.setattr(main_window_mod, "RUN_NEWS_MS", 300)
    bar = window.statusBar()
    for said, news in (("Idle: failed", "Last run: failed"), ("Idle: run completed", "Last run: completed"),
                       ("Idle: stopped", "Last run: stopped")):
        bar.clearMessage()
        window.set_run_state(said)
        assert window.state_status.text() == "Idle"
        assert bar.currentMessage() == news
        qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=3000)  # it times out
        assert window.state_status.text() == "Idle"
    window.set_run_state("Training: epoch 1/3")  # a state stays as it is
    assert window.state_status.text() == "Training: epoch 1/3"


def test_a_message_that_says_more_is_not_replaced(window):
    bar = window.statusBar()
    bar.showMessage("Stopped before an epoch ended: the canvas keeps its tested weights", 15000)
    window.set_run_state("Idle: stopped")
    assert window.state_status.text() == "Idle"
    assert bar.currentMessage().startswith("Stopped before an epoch ended")


@pytest.mark.slow
def test_after_a_real_run_the_result_stays_until_other_weights_come(window, qtbot):
    window.training_panel.set_config(TrainConfig(epochs=1, max_batches=3, batch_size=50))
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        assert window.start_training()
    settle(qtbot)
    panel = window.training_panel
    assert panel.progress_label.text().startswith("Done: 1 epoch")
    assert window.state_status.text() == "Idle"
    assert window.use_pretrained(ask=False)
    settle(qtbot)
    assert_fresh(panel, "pretrained after a run")
