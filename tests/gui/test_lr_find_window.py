"""The learning-rate finder in the window: Find… beside the LR box, the dialog, Use."""

import pytest
import torch
from PySide6.QtCore import Qt


@pytest.fixture
def window(make_window, mnist_small, tmp_path):
    w = make_window(data_override=mnist_small, runs_dir=tmp_path / "runs")
    w.training_panel.batch_spin.setValue(20)  # 100 small batches: a few seconds on a CPU
    return w


@pytest.mark.slow
def test_find_suggests_a_rate_use_puts_it_in_the_box_and_the_weights_stay(qtbot, window):
    before = {k: v.clone() for k, v in window.session.model.state_dict().items()}
    weights = window.session.model, window.session.provenance.label()
    panel = window.training_panel
    qtbot.mouseClick(panel.find_lr_button, Qt.MouseButton.LeftButton)
    dialog = window.lr_find.dialog
    assert dialog is not None and dialog.isVisible() and dialog.running
    qtbot.waitUntil(lambda: window.lr_find.found is not None, timeout=120000)
    found = window.lr_find.found
    assert found.suggestion is not None and len(found.rates) > 10
    assert dialog.marker.isVisible() and dialog.use_button.isEnabled()
    assert dialog.status.text().startswith("Suggested learning rate: ")
    assert len(dialog.loss_curve.getData()[0]) > 10  # the curve is drawn
    assert all(torch.equal(before[k], v) for k, v in window.session.model.state_dict().items())
    assert (window.session.model, window.session.provenance.label()) == weights  # no run was begun
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert panel.lr_spin.value() == pytest.approx(max(found.suggestion, panel.lr_spin.minimum()), abs=1e-6)
    assert panel.config().lr == pytest.approx(panel.lr_spin.value())
    assert window.errors == []


@pytest.mark.slow
def test_cancel_stops_the_test_and_changes_nothing(qtbot, window):
    lr = window.training_panel.lr_spin.value()
    assert window.lr_find.start()
    dialog = window.lr_find.dialog
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text() == "Cancelled." and not dialog.running
    assert window.lr_find.jobs.join(30)
    qtbot.wait(100)
    assert window.lr_find.found is None  # a cancelled job delivers nothing
    assert window.training_panel.lr_spin.value() == lr
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)  # now "Close"
    assert not dialog.isVisible()


def test_find_is_off_while_a_resumed_session_keeps_its_recipe_or_a_run_trains(window):
    panel = window.training_panel
    assert panel.find_lr_button.isEnabled()
    panel.set_state("running")
    assert not panel.find_lr_button.isEnabled()
    panel.set_state("idle")
    assert panel.find_lr_button.isEnabled()


@pytest.mark.slow
def test_a_rate_typed_during_a_run_applies_is_marked_and_recorded(qtbot, window, tmp_path):
    import json

    panel = window.training_panel
    # 500 batches, far more than it takes to change the rate; stopped once it has changed
    config = panel.config().with_(epochs=5, batch_size=20, lr=1e-3, schedule="constant")
    with qtbot.waitSignal(window.controller.progress, timeout=60000):
        assert window.start_training(config)
    assert panel.lr_spin.isEnabled() and not panel.find_lr_button.isEnabled()
    with qtbot.waitSignal(window.controller.rateChanged, timeout=60000) as changed:
        panel.lr_spin.setValue(0.0005)
        panel.lr_spin.editingFinished.emit()
    ev = changed.args[0]
    assert ev.lr == 0.0005 and ev.previous == 0.001 and ev.step > 0
    marks = window.plots.batches.rate_marks
    assert len(marks) == 1 and marks[0].value() == ev.step and "lr 0.0005" in marks[0].label.toPlainText()
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        window.stop_training()
    record = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert record["rate_changes"] == [{"step": ev.step, "lr": 0.0005, "previous": 0.001,
                                       "time": record["rate_changes"][0]["time"]}]
    assert window.controller.last_trainer.config.lr == 0.0005  # Save writes the rate it ended with
    assert panel.lr_spin.value() == 0.0005
