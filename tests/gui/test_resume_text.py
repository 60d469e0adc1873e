"""The Train button says where a loaded session resumes: a run stopped at step 216 of its
first epoch offers "Resume from step 216", never "Resume from epoch 0" (issue 17)."""

import torch

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.files.checkpoints import CheckpointMeta, save_checkpoint
from cnn_gui.core.model.models import get_spec


def stopped_session(path, *, epoch, batch, step):
    torch.manual_seed(3)
    model = get_spec("mnist-cnn").factory()
    history = [dict(epoch=e, train_loss=0.3, train_accuracy=0.9, test_loss=0.3, test_accuracy=0.9,
                    seconds=1.0, samples_per_sec=100.0, lr=1e-3) for e in range(1, epoch + 1)]
    meta = CheckpointMeta("mnist-cnn", (1, 28, 28), [str(i) for i in range(10)], [0.5], [0.5], "mnist",
                          epoch=epoch, history=history, config=TrainConfig(epochs=3).to_dict(),
                          training={"epoch": epoch, "batch": batch, "step": step})
    save_checkpoint(path, model, meta)
    return path


def test_a_session_stopped_mid_epoch_resumes_from_its_step(make_window, tmp_path):
    window = make_window()
    window.open_checkpoint(stopped_session(tmp_path / "stopped.safetensors", epoch=0, batch=216, step=216),
                           background=False)
    button = window.training_panel.train_button
    assert button.text() == "Resume from step 216"
    assert "epoch 1 of 3, not finished" in button.toolTip()
    window.open_checkpoint(stopped_session(tmp_path / "two.safetensors", epoch=2, batch=0, step=1200),
                           background=False)
    assert button.text() == "Resume from epoch 2" and "the end of epoch 2" in button.toolTip()
    window.training_panel.continue_check.setChecked(False)
    assert button.text() == "Train"
