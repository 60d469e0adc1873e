"""The window's run that fails before it trains (an image folder that cannot be read, a model
that cannot take the data) leaves its run folder, status *failed* and why, and the Runs tab
lists it so: the reason in the Status cell's tooltip. No checkpoint; the weights stay."""

import json

import pytest
from PySide6.QtCore import Qt

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.runs.layout import RUN_FILE


@pytest.fixture
def window(make_window, tmp_path):
    w = make_window()  # no data override: the run loads its own data, as a user's does
    w.runs_view.set_runs_dir(tmp_path / "runs")
    return w


def failed_run(qtbot, window, config):
    label = window.weights_label.text()
    window.training_panel.set_config(config)
    with qtbot.waitSignal(window.controller.finished, timeout=30000) as blocker:
        assert window.start_training()
    assert blocker.args[0].reason == "failed"
    assert window.errors and window.errors[-1][0] == "Training failed"
    assert window.weights_label.text() == label  # the weights from before the run stay
    view = window.runs_view
    window.tabs.setCurrentWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: len(view.runs()) == 1 and not view.busy(), timeout=5000)
    (run,) = view.runs()
    assert run.status == "failed" and run.source == "gui"
    assert sorted(p.name for p in run.folder.iterdir()) == [RUN_FILE]  # nothing trained: no checkpoint
    status = view.proxy.index(0, view.model.COLUMNS.index("Status"))
    assert status.data() == "failed" and status.data(Qt.ItemDataRole.ToolTipRole) == run.error
    assert run.error and run.error in window.errors[-1][1]
    view.select_runs([run.folder])
    assert not view.load_action.isEnabled()
    return json.loads((run.folder / RUN_FILE).read_text())


def test_an_image_folder_that_cannot_be_read_leaves_a_failed_run(qtbot, window, tmp_path):
    empty = tmp_path / "my-images"
    empty.mkdir()
    doc = failed_run(qtbot, window, TrainConfig(dataset=f"folder:{empty}", epochs=1, max_batches=2))
    assert doc["status"] == "failed" and doc["epochs_completed"] == 0


def test_a_model_that_cannot_take_the_data_leaves_a_failed_run(qtbot, window):
    assert window.request_model("simple-cnn")
    doc = failed_run(qtbot, window, TrainConfig(model="simple-cnn", dataset="mnist", epochs=1, max_batches=2))
    assert "3x32x32" in doc["error"]["message"] and doc["model"] == "simple-cnn"
