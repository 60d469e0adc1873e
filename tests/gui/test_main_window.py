"""The main window end to end: tree, training through the real buttons, stop/close mid-run,
weight snapshots reaching the canvas, checkpoints (corrupt, pickle, round trip, resume)."""

import pickle

import pytest
from shipped import pretrained_label
import torch
from PySide6.QtCore import Qt

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.resources import pretrained_checkpoint

QUICK = TrainConfig(epochs=2, max_batches=5, batch_size=50)


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def weights(model):
    return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def window(make_window, mnist_small):
    w = make_window(data_override=mnist_small)
    w.training_panel.set_config(QUICK)
    return w


def test_window_opens_without_loading_a_dataset(make_window, monkeypatch):
    import cnn_gui.core.data.datasets as data

    def forbidden(*_a, **_k):
        raise AssertionError("creating the window must not load a dataset")

    monkeypatch.setattr(data, "load_dataset", forbidden)
    w = make_window()
    assert w.windowTitle() == "cnn-gui"
    tree = w.structure.tree
    assert tree is not None and tree.type_name == "CNN"
    assert [c.name for c in tree.children] == ["layer1", "layer2", "layer3", "layer4", "fc"]
    assert w.structure.proxy.rowCount() == 1
    assert "2,328,298" in w.structure.totals_label.text()
    assert pretrained_checkpoint().is_file()  # it ships with the app
    assert w.weights_label.text().startswith("Weights: pretrained (")
    assert w.plots.epoch_series()["epoch"].size > 0  # the pretrained run's history
    assert w.predictor is not None and w.canvas.drawing_allowed()
    panel = w.training_panel
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert not panel.pause_button.isEnabled()
    assert w.controller.is_running() is False


def test_the_gui_thread_runs_torch_serially(make_window):
    """Its torch ops are single images; a team of OpenMP threads here slows training down
    (cnn_gui.core.training.cpu_threads)."""
    import torch

    torch.set_num_threads(2)
    make_window(load_pretrained=False)
    assert torch.get_num_threads() == 1


def test_untrained_label_without_pretrained(make_window):
    w = make_window(load_pretrained=False)
    assert w.weights_label.text() == "Weights: untrained"


@pytest.mark.slow
def test_train_click_runs_twice_and_updates_everything(qtbot, window):
    progress = []
    window.controller.progress.connect(progress.append)
    before = window.predictor
    panel = window.training_panel
    with qtbot.waitSignal(window.controller.finished, timeout=60000) as blocker:
        click(qtbot, panel.train_button)
        assert panel.state == "running"
        assert not panel.train_button.isEnabled() and panel.stop_button.isEnabled()
        assert not window.save_action.isEnabled()
    assert blocker.args[0].reason == "completed"
    assert progress, "no progress signal arrived"
    window.plots.flush()
    # The per-batch plot's step axis spans the planned run (2 epochs) from the start.
    planned = 2 * progress[-1].batches_per_epoch
    assert window.plots.batch_plot.vb.viewRange()[0] == pytest.approx([0, planned])
    assert window.plots.epoch_series()["epoch"].tolist() == [1.0, 2.0]
    assert window.plots.batch_series()["step"].size > 0
    assert window.plots.train_acc_curve.getData()[0] is not None
    assert len(window.plots.train_acc_curve.getData()[0]) == 2
    assert panel.state == "idle" and panel.train_button.isEnabled()
    assert not panel.stop_button.isEnabled() and window.save_action.isEnabled()
    assert panel.progress_bar.value() == panel.progress_bar.maximum()
    # weightsSnapshot reached the canvas: a new predictor, and the label says so.
    assert window.predictor is not None and window.predictor is not before
    assert window.weights_label.text().startswith("Weights: trained now, epoch 2 (")
    assert len(window.history) == 2

    # Train works again after a run.
    with qtbot.waitSignal(window.controller.finished, timeout=60000) as blocker:
        click(qtbot, panel.train_button)
    assert blocker.args[0].reason == "completed"
    assert len(window.history) == 2  # a new run from scratch, not appended


@pytest.mark.slow
def test_snapshot_replaces_predictor_after_each_epoch(qtbot, window):
    predictors = []
    window.controller.weightsSnapshot.connect(lambda _arrays: predictors.append(window.predictor))
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        window.start_training()
    # Each snapshot slot ran before the recorder (connected later), so each saw a fresh predictor.
    assert len(predictors) == 2 and predictors[0] is not predictors[1]
    # The snapshot is a copy: the predictor's weights equal the trained model's, not shared.
    live = window.model.state_dict()
    frozen = window.predictor.model.state_dict()
    for k in live:
        assert torch.equal(live[k].cpu(), frozen[k])
        assert live[k].data_ptr() != frozen[k].data_ptr()


@pytest.mark.slow
def test_stop_mid_run(qtbot, window, mnist_large):
    window.data_override = mnist_large
    window.training_panel.set_config(TrainConfig(epochs=3, batch_size=50))
    panel = window.training_panel
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        click(qtbot, panel.train_button)
    with qtbot.waitSignal(window.controller.finished, timeout=5000) as blocker:
        click(qtbot, panel.stop_button)
    assert blocker.args[0].reason == "stopped"
    assert panel.state == "idle" and panel.train_button.isEnabled()
    # Stopped before its first epoch was tested: the canvas keeps the tested (pretrained)
    # weights, and the stopped ones wait in the run folder.
    assert window.weights_label.text().startswith("Weights: pretrained")
    assert "Runs tab" in window.statusBar().currentMessage()
    assert not window.errors


@pytest.mark.slow
def test_pause_button_toggles(qtbot, window, mnist_large):
    window.data_override = mnist_large
    window.training_panel.set_config(TrainConfig(epochs=3, batch_size=50))
    panel = window.training_panel
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        click(qtbot, panel.train_button)
    click(qtbot, panel.pause_button)
    assert panel.pause_button.text() == "Resume" and window.controller.is_paused()
    click(qtbot, panel.pause_button)
    assert panel.pause_button.text() == "Pause" and not window.controller.is_paused()
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        click(qtbot, panel.stop_button)


@pytest.mark.slow
def test_close_mid_run_joins_worker(qtbot, window, mnist_large):
    window.data_override = mnist_large
    window.training_panel.set_config(TrainConfig(epochs=3, batch_size=50))
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        click(qtbot, window.training_panel.train_button)
    window.close()
    assert not window.controller.is_running()
    assert not window.controller.threads_alive()


def test_weights_label_and_predictor_for_models_that_read_photos(qtbot, window):
    assert window.request_model("simple-cnn")
    panel = window.training_panel
    assert window.structure.tree.type_name == "SimpleCNN"
    # CIFAR-10's photos: no drawing, but an image file can be opened or dropped for it.
    assert window.predictor is not None and window.predictor.preparation.method == "fit"
    assert not window.predictor.preparation.reads_drawings and not window.canvas.drawing_allowed()
    assert window.canvas_note.isVisible() and "image file" in window.canvas_note.text()
    assert window.canvas_panel.open_button.isEnabled()
    assert window.weights_label.text() == "Weights: untrained"
    assert not panel.dataset_enabled("mnist") and panel.dataset_enabled("cifar10")
    assert panel.config().dataset == "cifar10"
    pos = panel.dataset_combo.findData("mnist")
    tip = panel.dataset_combo.itemData(pos, Qt.ItemDataRole.ToolTipRole)
    assert "3x32x32" in tip and "1x28x28" in tip
    # Back to the MNIST CNN: the canvas works again.
    assert window.request_model("mnist-cnn")
    assert window.predictor is not None and window.canvas.drawing_allowed()
    assert panel.dataset_enabled("mnist") and not panel.dataset_enabled("cifar10")


def test_your_own_model_file_loads_off_the_gui_thread_from_the_chooser(qtbot, window, tmp_path):
    script = tmp_path / "mine.py"
    script.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                      "        super().__init__()\n        self.fc = nn.Linear(784, 10)\n"
                      "    def forward(self, x):\n        return self.fc(x.flatten(1))\n")
    ref = f"{script}:Net"
    combo = window.structure.model_combo
    window.structure.ask_user_model = lambda: ref
    with qtbot.waitSignal(window.modelSwitched, timeout=10000) as outcome:
        combo.setCurrentIndex(combo.count() - 1)  # "Your own model from a .py file…"
        assert window.structure.loading and not combo.isEnabled()  # loading, the window still answering
        assert window.spec.name == "mnist-cnn"
    assert outcome.args == [True] and not window.errors
    assert window.spec.name == ref and window.structure.tree.type_name == "Net"
    assert window.structure.current_model_name() == ref and combo.isEnabled()


def test_bad_model_leaves_the_current_one(window):
    model = window.model
    assert not window.request_model("no-such-model")
    assert window.errors and "no-such-model" in window.errors[-1][1]
    assert window.model is model and window.structure.current_model_name() == "mnist-cnn"


def test_reinitialise(window):
    before = window.predictor
    assert window.reinitialize("kaiming-normal")
    assert window.weights_label.text() == "Weights: re-initialised (kaiming-normal)"
    assert window.predictor is not before
    assert window.plots.epoch_series()["epoch"].size == 0


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.openFinished, timeout=30000) as blocker:
        window.open_checkpoint(path)
    return blocker.args[0]


@pytest.mark.parametrize("kind", ["random", "pickle"])
def test_bad_checkpoint_changes_nothing(qtbot, window, tmp_path, kind):
    path = tmp_path / ("bad.safetensors" if kind == "random" else "model.pt")
    if kind == "random":
        path.write_bytes(bytes(range(256)) * 40)
    else:
        path.write_bytes(pickle.dumps({"state_dict": {"w": [1, 2, 3]}}))
    before = weights(window.model)
    model, label, predictor = window.model, window.weights_label.text(), window.predictor
    epochs = window.plots.epoch_series()["epoch"].tolist()
    assert _open(qtbot, window, path) is False
    assert len(window.errors) == 1
    title, text = window.errors[0]
    assert "checkpoint" in title.lower() and path.name in text
    assert window.model is model and same_weights(before, weights(window.model))
    assert window.weights_label.text() == label and window.predictor is predictor
    assert window.plots.epoch_series()["epoch"].tolist() == epochs


def test_mismatched_checkpoint_changes_nothing(qtbot, window, tmp_path):
    from cnn_gui.core.files.checkpoints import CheckpointMeta, save_checkpoint
    from cnn_gui.core.model.models import build_model

    path = tmp_path / "other.safetensors"
    meta = CheckpointMeta("simple-cnn", (3, 32, 32), [str(i) for i in range(10)], [0.5] * 3, [0.5] * 3, "cifar10")
    model = build_model("simple-cnn")
    save_checkpoint(path, model, meta)
    # Claim it is the MNIST CNN: the shapes cannot fit.
    import json

    from safetensors.torch import load_file, save_file

    tensors = load_file(path)
    meta.architecture = "mnist-cnn"
    meta.input_shape = (1, 28, 28)
    meta.mean, meta.std = [0.5], [0.5]
    save_file(tensors, path, metadata={"cnn_gui": json.dumps({**meta.to_dict(), "optimizer": None})})
    before = weights(window.model)
    label = window.weights_label.text()
    assert _open(qtbot, window, path) is False
    assert window.errors and "does not fit" in window.errors[-1][1]
    assert same_weights(before, weights(window.model)) and window.weights_label.text() == label


@pytest.mark.slow
def test_save_open_round_trip_and_resume(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        window.start_training()
    history = [dict(h) for h in window.history]
    trained = weights(window.model)
    path = tmp_path / "session.safetensors"
    window.save_checkpoint(path)

    # Something else first, so the open has to restore everything.
    window.request_model("simple-cnn")
    window.plots.clear()
    assert _open(qtbot, window, path) is True
    assert not window.errors
    assert window.weights_label.text().startswith("Weights: file session.safetensors (")  # with its test accuracy
    assert window.structure.tree.type_name == "CNN"
    assert same_weights(trained, weights(window.model))
    series = window.plots.epoch_series()
    assert series["epoch"].tolist() == [1.0, 2.0]
    assert series["test_accuracy"].tolist() == pytest.approx([100 * h["test_accuracy"] for h in history])
    assert window.predictor is not None

    # The next Train resumes the loaded session: epochs 3 only, history kept.
    panel = window.training_panel
    assert panel.continue_check.isVisible() and panel.continue_check.isChecked()
    panel.epochs_spin.setValue(3)
    assert panel.train_button.text() == "Resume from epoch 2"
    with qtbot.waitSignal(window.controller.finished, timeout=60000) as blocker:
        click(qtbot, panel.train_button)
    assert blocker.args[0].reason == "completed" and blocker.args[0].epochs_completed == 3
    assert [h["epoch"] for h in window.history] == [1, 2, 3]
    assert window.history[:2] == history
    assert window.plots.epoch_series()["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert not panel.continue_check.isVisible()


def test_foreign_plain_weights_load_into_the_current_architecture(qtbot, window, tmp_path):
    from safetensors.torch import save_file

    from cnn_gui.core.model.models import build_model

    torch.manual_seed(1)
    other = build_model("mnist-cnn")
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, path)
    assert _open(qtbot, window, path) is True
    assert same_weights(weights(other), weights(window.model))
    assert window.weights_label.text() == "Weights: file plain.safetensors"
    assert not window.training_panel.continue_check.isVisible()


def test_settings_persist_between_windows(make_window, _private_settings):
    w = make_window(load_pretrained=False)
    w.training_panel.epochs_spin.setValue(7)
    w.training_panel.lr_spin.setValue(0.002)
    w.close()
    assert (_private_settings / "cnn-gui.ini").is_file()
    w2 = make_window(load_pretrained=False)
    cfg = w2.training_panel.config()
    assert cfg.epochs == 7 and cfg.lr == pytest.approx(0.002)


def test_preset_fills_fields_and_edits_stick(window):
    panel = window.training_panel
    panel.apply_preset("fast")
    cfg = panel.config()
    assert (cfg.epochs, cfg.batch_size, cfg.schedule) == (1, 128, "onecycle")
    panel.batch_spin.setValue(64)
    assert panel.config().batch_size == 64 and panel.config().schedule == "onecycle"
    panel.apply_preset("tutorial")
    assert (panel.config().epochs, panel.config().batch_size, panel.config().schedule) == (3, 100, "constant")


def test_about_text_lists_versions(window):
    text = window.about_text()
    assert "torch" in text and "PySide6" in text and "pyqtgraph" in text and "CPU" in text


@pytest.mark.slow
def test_failed_run_shows_the_error_and_returns_to_idle(qtbot, window):
    # SimpleCNN with the MNIST override: the trainer refuses the shapes inside the worker.
    assert window.request_model("simple-cnn")
    with qtbot.waitSignal(window.controller.finished, timeout=30000) as blocker:
        click(qtbot, window.training_panel.train_button)
    assert blocker.args[0].reason == "failed"
    assert len(window.errors) == 1
    title, text = window.errors[0]
    assert title == "Training failed" and "3x32x32" in text
    assert window.training_panel.state == "idle" and window.training_panel.train_button.isEnabled()
    assert window.structure.model_combo.isEnabled() and window.open_action.isEnabled()


@pytest.mark.slow
def test_model_changes_are_blocked_while_training(qtbot, window, mnist_large):
    window.data_override = mnist_large
    window.training_panel.set_config(TrainConfig(epochs=3, batch_size=50))
    with qtbot.waitSignal(window.controller.progress, timeout=30000):
        click(qtbot, window.training_panel.train_button)
    model = window.model
    assert not window.structure.model_combo.isEnabled()
    assert not window.request_model("simple-cnn") and window.model is model
    assert not window.reinitialize("kaiming-normal")
    assert not window.open_action.isEnabled() and not window.save_action.isEnabled()
    with pytest.raises(CnnGuiError, match="Pause or stop training"):
        window.save_checkpoint("never.safetensors")
    with qtbot.waitSignal(window.controller.finished, timeout=5000):
        window.stop_training()


def test_file_menu_actions_write_files(qtbot, window, tmp_path):
    targets = {"Save checkpoint": tmp_path / "menu.safetensors", "Export metrics": tmp_path / "m.csv",
               "Export plot": tmp_path / "p.png"}
    window.ask_save_path = lambda title, name, file_filter: str(targets[title])
    window.save_action.trigger()
    window.export_csv_action.trigger()
    window.export_png_action.trigger()
    assert not window.errors
    for path in targets.values():
        assert path.is_file() and path.stat().st_size > 0, path
    from cnn_gui.core.files.checkpoints import read_meta

    meta = read_meta(targets["Save checkpoint"])
    assert meta.architecture == "mnist-cnn" and meta.history == window.history
    # File > Open goes through open_checkpoint, off the GUI thread.
    window.ask_open_path = lambda: str(targets["Save checkpoint"])
    with qtbot.waitSignal(window.openFinished, timeout=30000) as blocker:
        window.open_action.trigger()
    assert blocker.args == [True]
    assert window.weights_label.text() == pretrained_label().replace("pretrained", "file menu.safetensors")


@pytest.mark.parametrize("start", ["fresh", "current"])
@pytest.mark.slow
def test_train_starts_from_new_or_current_weights(qtbot, make_window, mnist_small, start):
    w = make_window(data_override=mnist_small)
    panel = w.training_panel
    panel.set_config(TrainConfig(epochs=1, max_batches=1, batch_size=50))
    panel.start_combo.setCurrentIndex(panel.start_combo.findData(start))
    original = w.model
    pretrained = weights(original)
    shown = []
    w.controller.started.connect(lambda ev: shown.append(w.device_status.text()))
    with qtbot.waitSignal(w.controller.finished, timeout=60000):
        click(qtbot, panel.train_button)
    assert shown and "CPU" in shown[0] and ("fp32" in shown[0] or "bf16" in shown[0])  # device and precision
    if start == "fresh":
        # A new network learns from scratch; the pretrained one is left as it was.
        assert w.model is not original and same_weights(weights(original), pretrained)
        torch.manual_seed(0)
        from cnn_gui.core.model.models import CNN

        init = CNN().state_dict()
        assert not same_weights(weights(w.model), init)  # one step taken from the seeded start
        assert w.structure.conv_layers_text().count("Conv2d(") == 4
    else:
        assert w.model is original and not same_weights(weights(original), pretrained)


def test_view_menu_switches_tabs_with_ctrl_digits(window):
    names = [a.text() for a in window.tab_actions]
    assert names == ["Curves", "Health", "Watch", "Maps", "Test set", "Explain", "Robustness", "Embedding", "Layer",
                     "Runs"]
    assert names == [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert [a.shortcut().toString() for a in window.tab_actions] == [f"Ctrl+{(i + 1) % 10}" for i in range(10)]
    window.tab_actions[4].trigger()
    assert window.tabs.currentWidget() is window.confusion
    window.tab_actions[1].trigger()
    assert window.tabs.currentWidget() is window.health_view
    window.tab_actions[0].trigger()
    assert window.tabs.currentWidget() is window.plots


def test_view_menu_hides_and_shows_the_panels(window):
    for dock in (window.structure_dock, window.canvas_dock):
        action = dock.toggleViewAction()
        assert action.isEnabled() and action.isChecked()
        action.trigger()
        assert not dock.isVisible()
        action.trigger()
        assert dock.isVisible()


def test_export_model_writes_a_checked_torchscript_file(qtbot, make_window, tmp_path):
    window = make_window()
    target = tmp_path / "exported.pt"
    window.ask_save_path = lambda *_a: str(target)
    window.export_model_action.trigger()
    qtbot.waitUntil(lambda: "same top class" in window.statusBar().currentMessage(), timeout=60000)
    assert target.is_file() and window.errors == []
    assert "100.00%" in window.statusBar().currentMessage()


def test_an_image_folder_can_be_chosen_as_the_dataset(make_window, tmp_path):
    window = make_window(load_pretrained=False)
    panel = window.training_panel
    panel.ask_image_folder = lambda: str(tmp_path)
    combo = panel.dataset_combo
    combo.activated.emit(combo.count() - 1)  # "Image folder…"
    assert panel.config().dataset == f"folder:{tmp_path.resolve()}"
    assert combo.currentText() == f"Folder: {tmp_path.name}"
    panel.ask_image_folder = lambda: None  # cancelled: the choice stays
    combo.activated.emit(combo.count() - 1)
    assert panel.config().dataset == f"folder:{tmp_path.resolve()}"


@pytest.mark.slow
def test_training_on_an_image_folder_names_the_canvas_bars(qtbot, make_window, tmp_path):
    from generated import shapes_folder

    from cnn_gui.core.data.datasets import load_dataset

    folder = shapes_folder(tmp_path / "shapes")
    data = load_dataset(f"folder:{folder}", input_shape=(1, 28, 28))
    window = make_window(data_override=data)
    window.training_panel.set_config(TrainConfig(epochs=2, batch_size=16, dataset=data.name))
    with qtbot.waitSignal(window.controller.finished, timeout=120000) as blocker:
        assert window.start_training()
    assert blocker.args[0].reason == "completed" and not window.errors
    assert window.predictor.classes[:3] == ("circle", "square", "triangle")
    from test_canvas import draw  # a real stroke on the canvas, as a user draws it

    canvas = window.canvas
    w, h = canvas.width(), canvas.height()
    draw(canvas, [(int(w * x), int(h * y)) for x, y in ((0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.3))])
    qtbot.waitUntil(lambda: window.prediction_view.bars.bars_visible(), timeout=5000)
    assert window.prediction_view.bars._classes[:3] == ("circle", "square", "triangle")
