"""One rule, one place: the CLI and the window open the same checkpoint into the same
weights, dataset and normalisation, and plan the same resumed run (epochs = the total)."""

import pytest
import torch

from cnn_gui import cli
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.files.checkpoints import CheckpointMeta, save_checkpoint
from cnn_gui.core.model.models import get_spec
from cnn_gui.core.training.plan import load_run_data
from cnn_gui.core.inputs.preparation import Preparation
from cnn_gui.core.weights import Normalization

FASHION = Preparation("fit", "light")  # fashion-mnist's: a file from before preparation was recorded

SPEC = get_spec("mnist-cnn")
CLASSES = [f"shape {i}" for i in range(10)]


def session_file(path, *, epoch=2, epochs=3):
    """A resumable session of a random MNIST CNN trained on Fashion-MNIST with its own statistics."""
    torch.manual_seed(5)
    model = SPEC.factory()
    history = [dict(epoch=e, train_loss=0.3, train_accuracy=0.8, test_loss=0.3, test_accuracy=0.8 + e / 100,
                    seconds=1.0, samples_per_sec=100.0, lr=1e-3) for e in range(1, epoch + 1)]
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=0.002, dataset="fashion-mnist", max_batches=2).to_dict()
    meta = CheckpointMeta("mnist-cnn", (1, 28, 28), CLASSES, [0.25], [0.5], "fashion-mnist", epoch=epoch,
                          history=history, config=cfg, training={"epoch": epoch, "step": 2 * epoch})
    save_checkpoint(path, model, meta)
    return path


def window_plan(window):
    """The plan the window's Train button hands to the training thread (captured, not trained)."""
    plans = []
    window.controller.start = lambda plan, data=None, callbacks=(), watch=(): plans.append(plan)
    assert window.start_training()
    return plans[0]


def cli_args(*argv):
    return cli.build_parser().parse_args(list(argv))


@pytest.mark.parametrize("epochs", [None, 6])
def test_cli_and_window_open_and_resume_a_checkpoint_alike(make_window, tmp_path, epochs):
    path = session_file(tmp_path / "s.safetensors")
    # The CLI: evaluate/predict/explain/export open weights so; train --resume plans so.
    opened = cli.open_from_args(cli_args("evaluate", "--checkpoint", str(path)))
    extra = [] if epochs is None else ["--epochs", str(epochs)]
    cli_plan = cli.plan_from_args(cli_args("train", "--resume", str(path), *extra))

    window = make_window()
    window.open_checkpoint(path, background=False)
    s = window.session
    assert s.provenance.detail == "s.safetensors" and s.resumable
    assert s.spec is opened.spec is cli_plan.spec
    ours, theirs = s.model.state_dict(), opened.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert s.dataset == opened.dataset == "fashion-mnist"
    assert s.normalization == opened.normalization == Normalization((0.25,), (0.5,), tuple(CLASSES), FASHION)

    panel = window.training_panel
    assert panel.resuming() and panel.epochs_spin.minimum() == 3  # a total above the 2 epochs done
    if epochs is not None:
        panel.epochs_spin.setValue(epochs)
    gui_plan = window_plan(window)
    assert gui_plan.checkpoint.path == cli_plan.checkpoint.path == path
    assert gui_plan.config.epochs == cli_plan.config.epochs == (epochs or 3)
    keep = ("epochs", "batch_size", "lr", "dataset", "model", "optimizer", "schedule", "seed")
    assert {k: getattr(gui_plan.config, k) for k in keep} == {k: getattr(cli_plan.config, k) for k in keep}


def test_a_total_already_reached_is_refused_by_the_cli_and_impossible_in_the_window(make_window, tmp_path, capsys):
    path = session_file(tmp_path / "done.safetensors", epoch=3, epochs=3)
    assert cli.main(["train", "--resume", str(path), "--epochs", "3", "--no-runs"]) == 2
    assert "above 3" in capsys.readouterr().err
    window = make_window()
    window.open_checkpoint(path, background=False)
    spin = window.training_panel.epochs_spin
    assert spin.value() == 4 and spin.minimum() == 4  # finished: one more epoch unless told more
    spin.setValue(2)
    assert spin.value() == 4
    assert window.training_panel.continue_check.text() == "Continue session (epoch 3 → 4)"
    window.training_panel.continue_check.setChecked(False)  # a new run: any count again
    spin.setValue(2)
    assert spin.value() == 2 and not window.training_panel.resuming()


def test_train_with_new_weights_keeps_the_trees_selection_and_shows_the_new_model(make_window):
    window = make_window()
    assert window.structure.select("layer2.0")
    window.training_panel.start_combo.setCurrentIndex(window.training_panel.start_combo.findData("fresh"))
    plan = window_plan(window)
    assert plan.fresh and plan.model is window.session.model
    assert window.structure.selected_module_name() == "layer2.0"
    assert window.structure.module_for("layer2.0") is plan.model.layer2[0]  # the tree's Train boxes act on it


def test_a_failed_resumed_run_keeps_the_epochs_the_user_chose(make_window, tmp_path):
    from cnn_gui.core.events import FitEnded

    window = make_window()
    window.open_checkpoint(session_file(tmp_path / "s.safetensors"), background=False)
    window.training_panel.epochs_spin.setValue(7)
    window_plan(window)
    window.session.finish_run(None, FitEnded("failed", 0, 0, 0.1, None), None)  # as the run flow hears it
    panel = window.training_panel
    assert window.session.resumable and panel.resuming() and panel.epochs_spin.value() == 7


def test_train_names_a_folder_datasets_checkpoint_after_the_folder(tmp_path, monkeypatch):
    """``--dataset folder:.`` writes <model>-<folder name>.safetensors, not a name made of the dot."""
    from PIL import Image

    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / "shapes" / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("L", (28, 28), 40 * i + (100 if cls == "a" else 0)).save(
                    tmp_path / "shapes" / split / cls / f"{i}.png")
    monkeypatch.chdir(tmp_path / "shapes")
    args = cli_args("train", "--dataset", "folder:.", "--no-runs")
    plan = cli.plan_from_args(args)
    data = load_run_data(plan)
    assert cli.checkpoint_out(args, plan, data).name == "mnist-cnn-shapes.safetensors"
