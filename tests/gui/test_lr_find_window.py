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
