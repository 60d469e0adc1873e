"""Nothing lost: weights whose only file is deleted (a run folder in the Runs tab, a file by
hand) read as unsaved, so the window asks before replacing them (cnn_gui/core/session.py:
``unsaved``, ``kept_only_in``, ``files_removed``, ``run_renamed``). No Qt, no threads."""

import shutil

import pytest
import torch

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.events import EpochEnded
from cnn_gui.core.files.checkpoints import CheckpointMeta, load_checkpoint, save_checkpoint
from cnn_gui.core.model.models import get_spec
from cnn_gui.core.resources import pretrained_checkpoint
from cnn_gui.core.session import Session, SessionChange
from cnn_gui.core.training.plan import build_trainer
from cnn_gui.core.weights import Source, weights_from

SPEC = get_spec("mnist-cnn")
TINY = TrainConfig(epochs=1, max_batches=2, batch_size=10, device="cpu", amp=False)
EPOCH = EpochEnded(epoch=1, train_loss=0.1, train_accuracy=0.98, test_loss=0.02, test_accuracy=0.994, seconds=1.0,
                   samples_per_sec=100.0, lr=1e-3).to_dict()


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist").subset(200, 100)


def write_checkpoint(path):
    torch.manual_seed(3)
    model = SPEC.factory()
    meta = CheckpointMeta("mnist-cnn", (1, 28, 28), [str(i) for i in range(10)], [0.1307], [0.3081], "mnist",
                          epoch=1, history=[EPOCH], config=TINY.to_dict(),
                          training={"epoch": 1, "step": 2})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, meta)
    return load_checkpoint(path)


def opened_from(path, detail=None):
    session = Session(SPEC, SPEC.factory())
    session.open(weights_from(write_checkpoint(path), SPEC), detail=detail)
    return session


def changes(session):
    seen = []
    session.changed.connect(seen.append)
    return seen


def test_weights_opened_from_a_run_are_unsaved_once_the_run_is_deleted(tmp_path):
    run = tmp_path / "runs" / "20250101-120000-mnist-cnn-mnist"
    session = opened_from(run / "checkpoint.safetensors", detail="run best")
    assert not session.unsaved
    assert session.kept_only_in([run]) and not session.kept_only_in([tmp_path / "runs" / "other"])
    seen = changes(session)
    shutil.rmtree(run)
    assert session.unsaved  # the file is gone: the only copy is on the canvas, before anyone says so
    assert session.files_removed([run]) is True
    assert session.provenance.kept_in is None and session.unsaved
    assert session.provenance.detail == "run best, deleted" and "run best, deleted" in session.provenance.label()
    assert seen == [SessionChange(label=True, resume=False)]
    assert session.resumable  # the loaded session is still in memory: Save writes it whole
    saved = session.save(tmp_path / "kept.safetensors", TrainConfig())
    assert not session.unsaved and session.provenance.kept_in == str(saved)
    assert session.provenance.detail == "kept.safetensors"  # labelled by the file that keeps them now
    assert load_checkpoint(saved).meta.epoch == 1


def test_trained_weights_kept_in_a_deleted_run_folder_are_unsaved(tmp_path, data):
    session = Session(SPEC, SPEC.factory())
    plan = session.plan_run(TINY, fresh=True, data=data)
    trainer = build_trainer(plan, data)
    end = trainer.fit()
    run = tmp_path / "run"
    kept = trainer.save_checkpoint(run / "checkpoint.safetensors") or run / "checkpoint.safetensors"
    assert session.finish_run(trainer, end, str(kept))
    assert not session.unsaved and session.provenance.source is Source.TRAINED
    assert session.kept_only_in([run])
    shutil.rmtree(run)
    assert session.unsaved
    assert session.files_removed([run]) and session.provenance.kept_in is None


@pytest.mark.parametrize("how", ["deleted", "moved", "replaced by a folder"])
def test_a_file_gone_by_hand_is_not_trusted(tmp_path, how):
    path = tmp_path / "mine.safetensors"
    session = opened_from(path)
    assert not session.unsaved
    if how == "deleted":
        path.unlink()
    elif how == "moved":  # a run folder renamed by hand reads so too: nothing follows it
        path.rename(tmp_path / "elsewhere.safetensors")
    else:
        path.unlink()
        path.mkdir()
    assert session.unsaved
    assert session.provenance.kept_in == str(path)  # nobody told the session: only the check on use sees it


def test_a_delete_that_failed_changes_nothing(tmp_path):
    run = tmp_path / "run"
    session = opened_from(run / "checkpoint.safetensors")
    before = session.provenance
    seen = changes(session)
    assert session.files_removed([run]) is False  # the folder is still there
    assert session.files_removed([tmp_path / "another-run"]) is False
    assert session.provenance == before and not session.unsaved and seen == []


def test_weights_a_run_gives_back_are_unsaved_when_their_run_was_deleted_meanwhile(tmp_path, data):
    run = tmp_path / "run"
    session = opened_from(run / "checkpoint.safetensors")
    session.plan_run(TINY, fresh=False, data=data)  # trains these very weights
    shutil.rmtree(run)
    assert session.files_removed([run]) is False  # the current weights are the run's
    session.run_failed()  # the run failed: the weights from before it come back
    assert session.provenance.source is Source.FILE and session.provenance.kept_in is None
    assert session.unsaved


def test_pretrained_and_untrained_weights_are_never_unsaved(tmp_path):
    session = Session(SPEC, SPEC.factory())
    assert not session.unsaved and not session.kept_only_in([tmp_path])
    session.use_pretrained(weights_from(load_checkpoint(pretrained_checkpoint()), SPEC))
    assert not session.unsaved
    assert not session.kept_only_in([pretrained_checkpoint().parent])  # shipped: never a run's only copy


def test_a_renamed_run_renames_the_weights_label(tmp_path):
    run = tmp_path / "run"
    session = opened_from(run / "checkpoint.safetensors", detail="run first try")
    assert "run first try" in session.provenance.label()
    session.run_renamed(str(tmp_path / "another"), "not this one")
    assert session.provenance.detail == "run first try"
    session.run_renamed(str(run), "best so far")
    assert session.provenance.detail == "run best so far" and "run best so far" in session.provenance.label()
    assert not session.unsaved  # the folder keeps its name: the file is where it was
