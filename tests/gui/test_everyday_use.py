"""The window in everyday use: the weights a user chose stay chosen, nothing trained is lost
without a question, saves and exports say where the files went, every view follows the
current model, and the window still fits a 1280x720 screen after each of these."""

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from shipped import pretrained_label

from cnn_gui.core.files.checkpoints import load_checkpoint, read_meta
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.resources import pretrained_checkpoint

QUICK = TrainConfig(epochs=2, max_batches=5, batch_size=50)
LONG = TrainConfig(epochs=1, batch_size=50)  # 400 batches of mnist_large: stops and pauses land mid-epoch
SCREEN = (1280, 720)
PRETRAINED_LABEL = pretrained_label()



def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def weights(model):
    return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].cpu()) for k in a)


def pretrained_weights():
    return load_checkpoint(pretrained_checkpoint()).weights


def assert_fits(window, what):
    for _ in range(3):
        QApplication.processEvents()
    hint = window.minimumSizeHint()
    assert hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1], f"after {what}: minimum size {hint.toTuple()}"


def train(qtbot, window, timeout=60000):
    with qtbot.waitSignal(window.controller.finished, timeout=timeout) as blocker:
        assert window.start_training()
    return blocker.args[0]


@pytest.fixture
def window(make_window, mnist_small, tmp_path):
    w = make_window(data_override=mnist_small)
    w.training_panel.set_config(QUICK)
    w.runs_view.set_runs_dir(tmp_path / "runs")  # this test's runs only
    return w


def test_the_pretrained_weights_can_always_be_chosen_again(window):
    assert window.request_model("simple-cnn")
    assert window.spec.name == "simple-cnn" and not window.predictor.preparation.reads_drawings  # photos: open a file
    assert_fits(window, "switching to SimpleCNN")
    window.pretrained_action.trigger()
    assert window.spec.name == "mnist-cnn" and window.structure.tree.type_name == "CNN"
    assert window.structure.current_model_name() == "mnist-cnn"
    file_weights = pretrained_weights()
    assert same_weights(file_weights, weights(window.model))
    assert window.weights_label.text() == PRETRAINED_LABEL
    assert window.predictor is not None and window.canvas.drawing_allowed()
    assert same_weights(file_weights, weights(window.predictor.model))
    # Again after a re-initialisation of the same model.
    assert window.reinitialize("kaiming-normal")
    assert not same_weights(file_weights, weights(window.model))
    window.pretrained_action.trigger()
    assert same_weights(file_weights, weights(window.model)) and window.weights_label.text() == PRETRAINED_LABEL
    assert not window.errors
    assert_fits(window, "Weights > Use the pretrained weights")


def test_a_stop_before_the_first_epoch_ends_keeps_the_tested_weights(qtbot, window, mnist_large):
    window.data_override = mnist_large
    panel = window.training_panel
    panel.set_config(LONG)
    assert panel.start_fresh()  # "New weights", the default
    assert window.weights_label.text() == PRETRAINED_LABEL
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        click(qtbot, panel.train_button)
    with qtbot.waitSignal(window.controller.finished, timeout=15000) as blocker:
        click(qtbot, panel.stop_button)
    end = blocker.args[0]
    assert end.reason == "stopped" and end.epochs_completed == 0
    assert window.weights_label.text().startswith("Weights: pretrained")
    file_weights = pretrained_weights()
    assert same_weights(file_weights, weights(window.predictor.model))
    assert same_weights(file_weights, weights(window.model))
    assert not window.session.unsaved and not window.errors
    # The Runs tab reads the run folder off the GUI thread: its listing follows.
    qtbot.waitUntil(lambda: [r.status for r in window.runs_view.runs()] == ["stopped"], timeout=5000)
    runs = window.runs_view.runs()
    assert len(runs) == 1 and runs[0].status == "stopped"
    assert runs[0].checkpoint is not None and runs[0].checkpoint.is_file()
    assert "Runs tab" in window.statusBar().currentMessage()
    assert_fits(window, "a stopped run")


def test_nothing_trained_is_lost_silently(qtbot, window, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("a file where the runs folder should be")
    window.runs_view.set_runs_dir(not_a_folder)  # the run folder cannot be made
    end = train(qtbot, window)
    assert end.reason == "completed"
    assert window.session.unsaved, "weights trained without a run folder must count as unsaved"
    assert "Run record" in window.statusBar().currentMessage()
    trained, label = weights(window.model), window.weights_label.text()
    assert label.startswith("Weights: trained now, epoch 2 (")
    assert_fits(window, "a run without a run folder")

    asked = []
    window.ask_discard = lambda what: asked.append(what) or "cancel"
    assert not window.reinitialize("kaiming-normal")
    assert len(asked) == 1
    assert same_weights(trained, weights(window.model)) and window.weights_label.text() == label
    assert window.session.unsaved

    saved_to = tmp_path / "kept"  # no extension: .safetensors is added
    window.ask_save_path = lambda title, name, file_filter: str(saved_to)
    window.ask_discard = lambda what: asked.append(what) or "save"
    assert window.reinitialize("kaiming-normal")
    assert len(asked) == 2
    kept = tmp_path / "kept.safetensors"
    assert kept.is_file() and same_weights(trained, load_checkpoint(kept).weights)
    assert read_meta(kept).epoch == 2
    assert window.weights_label.text() == "Weights: re-initialised (kaiming-normal)"
    assert not same_weights(trained, weights(window.model)) and not window.session.unsaved
    assert not window.errors
    assert_fits(window, "save, then re-initialise")


def test_the_weights_menu_asks_before_replacing_unsaved_weights(qtbot, window, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    window.runs_view.set_runs_dir(not_a_folder)
    train(qtbot, window)
    assert window.session.unsaved
    trained = weights(window.model)
    asked = []
    window.ask_discard = lambda what: asked.append(what) or "cancel"
    window.pretrained_action.trigger()
    assert asked and same_weights(trained, weights(window.model))


def test_every_way_to_replace_unsaved_weights_asks(qtbot, window, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    window.runs_view.set_runs_dir(not_a_folder)
    other = window.save_checkpoint(tmp_path / "pretrained-copy.safetensors")  # something to open
    train(qtbot, window)
    trained, label = weights(window.model), window.weights_label.text()
    assert window.session.unsaved
    asked = []
    window.ask_discard = lambda what: asked.append(what) or "cancel"
    assert not window.request_model("simple-cnn")
    assert window.structure.current_model_name() == "mnist-cnn"
    assert not window.use_pretrained()
    with qtbot.waitSignal(window.openFinished, timeout=30000) as blocker:
        window.open_checkpoint(other)
    assert blocker.args == [False]
    assert not window.start_training()  # "New weights" would replace them too
    assert len(asked) == 4
    assert same_weights(trained, weights(window.model)) and window.weights_label.text() == label
    assert not window.controller.is_running() and not window.errors


def save_while_paused(qtbot, window, data, path):
    """Train ``LONG`` on ``data``, pause after the first progress, save to ``path``, stop; the file."""
    window.data_override = data
    panel = window.training_panel
    panel.set_config(LONG)
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        click(qtbot, panel.train_button)
    click(qtbot, panel.pause_button)
    assert window.controller.is_paused() and window.save_action.isEnabled()
    assert window.save_checkpoint(path) == path
    with qtbot.waitSignal(window.controller.finished, timeout=15000) as blocker:
        click(qtbot, panel.stop_button)
    assert blocker.args[0].reason == "stopped" and not window.errors
    return load_checkpoint(path)


def test_save_while_paused_writes_a_session_that_resumes(qtbot, window, mnist_large, tmp_path):
    from cnn_gui.core.training.engine import Trainer

    ckpt = save_while_paused(qtbot, window, mnist_large, tmp_path / "paused.safetensors")
    meta, position = ckpt.meta, ckpt.meta.training
    assert position["batch"] > 0 and position["step"] == position["batch"]
    assert meta.epoch == position["epoch"] == 0 and meta.history == []
    assert ckpt.optimizer_state is not None and meta.train_config.epochs == 1
    # It resumes exactly there: one more batch, then the epoch's test.
    trainer = Trainer.from_checkpoint(ckpt, data=mnist_large, device="cpu", max_batches=position["batch"] + 1)
    assert trainer.position.batch == position["batch"]
    end = trainer.fit()
    assert end.reason == "completed" and end.step == position["step"] + 1 and len(trainer.history) == 1
    assert_fits(window, "save while paused")


def test_a_paused_save_keeps_the_epochs_running_sums(qtbot, window, mnist_large, tmp_path):
    position = save_while_paused(qtbot, window, mnist_large, tmp_path / "paused.safetensors").meta.training
    assert position["seen"] == position["batch"] * LONG.batch_size
    assert 0 < position["correct"] <= position["seen"] and position["loss_sum"] > 0


def test_exports_add_the_extension_and_say_where(window, tmp_path):
    window.ask_save_path = lambda title, name, file_filter: str(tmp_path / "metrics")
    window.export_csv_action.trigger()
    written = tmp_path / "metrics.csv"
    assert written.is_file() and written.read_text().startswith("kind,epoch,step,")
    assert str(written) in window.statusBar().currentMessage()
    assert not window.errors

    for action, what in ((window.export_csv_action, "metrics"), (window.export_png_action, "plot")):
        missing = tmp_path / "no-such-folder" / f"out-{what}"
        window.ask_save_path = lambda title, name, file_filter, missing=missing: str(missing)
        action.trigger()
        title, text = window.errors[-1]
        assert what in title.lower()
        assert "[Errno" not in text and str(missing) in text and "\n" not in text.strip()
    assert len(window.errors) == 2
    assert_fits(window, "exports")


def test_the_test_set_says_why_simple_cnn_cannot_run_on_mnist(qtbot, window):
    assert train(qtbot, window).reason == "completed"
    assert window.request_model("simple-cnn")
    confusion = window.confusion
    assert not confusion.compute_button.isEnabled()
    assert confusion.compute() is False  # says why instead of raising
    text = confusion.status.text()
    assert "3x32x32" in text and "1x28x28" in text
    assert "3x32x32" in confusion.compute_button.toolTip()
    assert confusion.result is None and not window.errors
    assert_fits(window, "SimpleCNN after MNIST")


def test_every_view_follows_a_model_switch(qtbot, window):
    from cnn_gui.gui.panels.structure.details import DETAILS_HINT
    from cnn_gui.gui.panels.training_panel import IDLE_TEXT

    assert window.structure.select("layer1")
    assert "layer1" in window.structure.details_label.text()
    assert train(qtbot, window).reason == "completed"
    panel = window.training_panel
    assert panel.progress_label.text() != IDLE_TEXT  # says how the run ended
    assert window.plots.epoch_series()["epoch"].size == 2
    assert window.request_model("simple-cnn")
    assert window.structure.details_label.text() == DETAILS_HINT
    assert panel.progress_label.text() == IDLE_TEXT
    assert panel.progress_bar.value() == 0
    assert window.plots.epoch_series()["epoch"].size == 0
    assert window.weights_label.text() == "Weights: untrained"
    assert_fits(window, "switching the model")
