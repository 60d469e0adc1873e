"""Freezing survives save -> reopen -> resume: a module unticked in the tree's Train column
is recorded in the checkpoint (``frozen``), shown unticked when the file is opened in a
fresh window, and kept frozen (its weights and BatchNorm statistics unchanged) by a resumed
run, in the window and through ``cnn-gui train --resume``."""

import pytest
import torch
from PySide6.QtCore import Qt

from cnn_gui.cli import main
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.files.checkpoints import load_checkpoint

QUICK = TrainConfig(epochs=1, max_batches=4, batch_size=50, device="cpu")
FROZEN = "layer1"
FROZEN_PARAMS = ["layer1.0.weight", "layer1.0.bias", "layer1.1.weight", "layer1.1.bias"]


def part(state, prefix):
    return {k: v.detach().clone().cpu() for k, v in state.items() if k.startswith(prefix + ".")}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].cpu()) for k in a)


def train_box(window, name):
    return window.structure.model.index_for_name(name).data(Qt.ItemDataRole.CheckStateRole)


def train(qtbot, window):
    with qtbot.waitSignal(window.controller.finished, timeout=60000) as blocker:
        assert window.start_training()
    assert blocker.args[0].reason == "completed" and not window.errors


def open_in(qtbot, window, path):
    with qtbot.waitSignal(window.openFinished, timeout=30000) as blocker:
        window.open_checkpoint(path)
    assert blocker.args == [True], window.errors


@pytest.fixture
def fresh_window(make_window, mnist_small, tmp_path):
    def make():
        w = make_window(data_override=mnist_small)
        w.runs_view.set_runs_dir(tmp_path / "runs")
        return w
    return make


def frozen_in_window(qtbot, fresh_window, tmp_path, *, train_first):
    """Freeze layer1 in a window, (train one short epoch,) save; the file."""
    window = fresh_window()
    window.training_panel.set_config(QUICK)
    assert window.structure.set_trainable(FROZEN, False)
    assert train_box(window, FROZEN) == Qt.CheckState.Unchecked
    if train_first:  # new weights from the seed, the frozen module never trained
        torch.manual_seed(QUICK.seed)
        seeded = part(window.spec.factory().state_dict(), FROZEN)
        train(qtbot, window)
        assert same(seeded, part(window.model.state_dict(), FROZEN))  # the run kept it frozen
    path = window.save_checkpoint(tmp_path / "frozen.safetensors")
    assert load_checkpoint(path).meta.frozen == FROZEN_PARAMS
    return path


@pytest.mark.slow
def test_freezing_survives_save_reopen_and_resume_in_the_window(qtbot, fresh_window, tmp_path):
    path = frozen_in_window(qtbot, fresh_window, tmp_path, train_first=True)

    window = fresh_window()  # another window: nothing of the first one's model object
    assert train_box(window, FROZEN) == Qt.CheckState.Checked
    open_in(qtbot, window, path)
    assert train_box(window, FROZEN) == Qt.CheckState.Unchecked  # the tree shows the file's choice
    assert train_box(window, "layer2") == Qt.CheckState.Checked
    assert [n for n, p in window.model.named_parameters() if not p.requires_grad] == FROZEN_PARAMS
    assert "frozen: layer1" in window.structure.totals_label.text()

    panel = window.training_panel
    assert window.session.resumable and panel.resuming()  # Continue session
    panel.set_config(panel.config().with_(epochs=2, max_batches=4))
    before = window.model.state_dict()
    frozen_before, trained_before = part(before, FROZEN), part(before, "layer2")
    train(qtbot, window)
    after = window.model.state_dict()
    assert [h["epoch"] for h in window.session.history] == [1, 2]
    assert same(frozen_before, part(after, FROZEN))  # not one value of the frozen module moved
    assert not same(trained_before, part(after, "layer2"))
    assert train_box(window, FROZEN) == Qt.CheckState.Unchecked  # and the tree still says so
    resaved = window.save_checkpoint(tmp_path / "resumed.safetensors")
    assert load_checkpoint(resaved).meta.frozen == FROZEN_PARAMS


def test_untrained_frozen_weights_reopen_frozen(qtbot, fresh_window, tmp_path):
    path = frozen_in_window(qtbot, fresh_window, tmp_path, train_first=False)
    window = fresh_window()
    open_in(qtbot, window, path)
    assert train_box(window, FROZEN) == Qt.CheckState.Unchecked
    # Weights of the same network opened over frozen ones: the file's choice, not the window's.
    window.structure.set_trainable("layer2", False)
    open_in(qtbot, window, path)
    assert train_box(window, "layer2") == Qt.CheckState.Checked
    assert train_box(window, FROZEN) == Qt.CheckState.Unchecked


@pytest.mark.slow
def test_cli_resume_keeps_the_frozen_modules(qtbot, fresh_window, tmp_path, capsys):
    path = frozen_in_window(qtbot, fresh_window, tmp_path, train_first=True)
    before = load_checkpoint(path).weights
    out = tmp_path / "cli.safetensors"
    assert main(["train", "--resume", str(path), "--epochs", "2", "--max-batches", "4", "--quiet",
                 "--out", str(out), "--runs-dir", str(tmp_path / "cli-runs")]) == 0
    saved = load_checkpoint(out)
    assert saved.meta.epoch == 2 and saved.meta.frozen == FROZEN_PARAMS
    assert same(part(before, FROZEN), part(saved.weights, FROZEN))
    assert not same(part(before, "layer2"), part(saved.weights, "layer2"))
