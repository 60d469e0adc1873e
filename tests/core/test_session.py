"""The session's rules (cnn_gui/core/session.py): provenance, labels, normalisation, what is
unsaved, the resume arithmetic, and which weights a run leaves behind. No Qt, no threads:
real tiny trainers on 300 MNIST images, fitted on the calling thread."""

import dataclasses
import math
import os
from pathlib import Path

import pytest
from shipped import pretrained_label
import torch

from cnn_gui.core.files.checkpoints import CheckpointMeta, load_checkpoint, load_weights_into, save_checkpoint
from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.registry import DATASETS
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded
from cnn_gui.core.model.models import get_spec
from cnn_gui.core.resources import pretrained_checkpoint
from cnn_gui.core.formatting import middle_elide, percent
from cnn_gui.core.session import Session
from cnn_gui.core.training.plan import build_trainer
from cnn_gui.core.inputs.preparation import Preparation
from cnn_gui.core.weights import Normalization, Provenance, Source, weights_from

SPEC = get_spec("mnist-cnn")
# Small batches, amp off (bf16 autocast costs seconds on its first calls in a process):
# a run takes well under a second, and the rules do not depend on either.
TINY = TrainConfig(epochs=1, max_batches=3, batch_size=10, device="cpu", amp=False)
# A run folder's checkpoint that exists: a kept_in whose file is gone reads as unsaved
# (tests/core/test_nothing_lost_session.py).
# Under the tests' own runs folder (tests/conftest.py), which is removed when they end.
RUN_DIR_CKPT = str(Path(os.environ["CNN_GUI_RUNS_DIR"]) / "test-session-run" / "checkpoint.safetensors")
Path(RUN_DIR_CKPT).parent.mkdir(parents=True, exist_ok=True)
Path(RUN_DIR_CKPT).touch()


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist").subset(300, 100)


@pytest.fixture(scope="module")
def pretrained():
    return load_checkpoint(pretrained_checkpoint())  # it ships with the app


def state(model):
    return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].cpu()) for k in a)


def epoch_record(epoch, test_accuracy=0.9, **kw):
    values = dict(epoch=epoch, train_loss=0.3, train_accuracy=0.88, test_loss=0.25, test_accuracy=test_accuracy,
                  seconds=1.5, samples_per_sec=1000.0, lr=1e-3)
    values.update(kw)
    return EpochEnded(**values)


def session_with_pretrained(pretrained):
    session = Session(SPEC, SPEC.factory())
    session.use_pretrained(weights_from(pretrained, SPEC))
    return session


DIGITS = Preparation("digit", "light")  # an "mnist" file from before preparation was recorded


def write_file(path, *, epoch=2, epochs=3, config=True, mean=(0.1307,), std=(0.3081,), classes=None,
               optimizer_state=None, **recipe):
    """A cnn-gui checkpoint of a random MNIST CNN: ``epoch`` epochs done of ``epochs`` planned."""
    torch.manual_seed(7)
    model = SPEC.factory()
    history = [epoch_record(e, 0.9 + e / 100).to_dict() for e in range(1, epoch + 1)]
    cfg = TINY.with_(epochs=epochs, **recipe).to_dict() if config else {}
    meta = CheckpointMeta("mnist-cnn", (1, 28, 28), list(classes or [str(i) for i in range(10)]), list(mean),
                          list(std), "mnist", epoch=epoch, history=history, config=cfg,
                          training={"epoch": epoch, "step": 3 * epoch} if config else {})
    save_checkpoint(path, model, meta, optimizer_state)
    return load_checkpoint(path), state(model)


def opened(path_ckpt):
    """A session that opened ``path_ckpt`` as the window does: a fresh model, the file's weights."""
    session = Session(SPEC, SPEC.factory())
    session.open(weights_from(path_ckpt, SPEC))
    return session


def fit(session, plan, data, *, stop_after_batches=None, stop_in_epoch=1, poison=False):
    """Run ``plan`` to its end on this thread; optionally stop (or NaN the weights) after a batch."""
    seen = []

    def on_event(ev):
        if isinstance(ev, BatchEnded) and ev.epoch == stop_in_epoch:
            seen.append(ev)
            if poison:
                with torch.no_grad():
                    next(trainer.model.parameters()).fill_(math.nan)
            elif stop_after_batches is not None and len(seen) >= stop_after_batches:
                trainer.stop()
        elif isinstance(ev, EpochEnded):
            session.record_epoch(ev)

    # a BatchEnded per batch: the stop lands where asked
    plan = dataclasses.replace(plan, config=plan.config.with_(report_interval=0.0, device="cpu"))
    trainer = build_trainer(plan, data, [on_event])
    return trainer, trainer.fit()


# --------------------------------------------------------------------------- labels


def test_percent_and_middle_elide():
    assert percent(0.99) == "99.0 %"
    for bad in (None, math.nan, math.inf, -math.inf, "0.9"):
        assert percent(bad) == "?"
    assert middle_elide("short.safetensors") == "short.safetensors"
    name = "a-very-long-run-name-" + "x" * 60 + "-final.safetensors"
    short = middle_elide(name)
    assert len(short) == 40 and "…" in short
    assert short.startswith("a-very-long-run") and short.endswith("final.safetensors"[-15:])
    assert len(middle_elide("y" * 41)) == 40 and middle_elide("y" * 40) == "y" * 40


@pytest.mark.parametrize("prov, text", [
    (Provenance(Source.UNTRAINED), "Weights: untrained"),
    (Provenance(Source.UNTRAINED, "pretrained file unreadable"), "Weights: untrained (pretrained file unreadable)"),
    (Provenance(Source.PRETRAINED, epoch=3, test_accuracy=0.9901), "Weights: pretrained (99.0 % test)"),
    (Provenance(Source.PRETRAINED), "Weights: pretrained"),
    (Provenance(Source.REINITIALISED, "kaiming-normal"), "Weights: re-initialised (kaiming-normal)"),
    (Provenance(Source.FILE, "m.safetensors", epoch=2, test_accuracy=0.981), "Weights: file m.safetensors (98.1 % test)"),
    (Provenance(Source.FILE, "plain.safetensors"), "Weights: file plain.safetensors"),
    (Provenance(Source.TRAINED, "run 1", epoch=2, test_accuracy=0.97), "Weights: trained now, epoch 2 (97.0 % test)"),
    (Provenance(Source.TRAINED, "run 1", epoch=None), "Weights: trained now, no full epoch"),
    (Provenance(Source.TRAINED, "run 1", epoch=1, step=25, test_accuracy=0.95),
     "Weights: trained now, stopped at step 25 (epoch 1, 95.0 % test)"),
    (Provenance(Source.TRAINED, "run 1", step=3), "Weights: trained now, stopped at step 3 (no full epoch)"),
])
def test_labels(prov, text):
    assert prov.label() == text


@pytest.mark.parametrize("source", list(Source))
@pytest.mark.parametrize("acc", [math.nan, math.inf])
def test_a_label_never_says_nan(source, acc):
    label = Provenance(source, "x.safetensors", epoch=1, step=4, test_accuracy=acc).label()
    assert "nan" not in label.lower() and "inf" not in label.lower()
    assert "? test" in label or source in (Source.UNTRAINED, Source.REINITIALISED)


def test_a_long_file_name_is_elided_in_the_label(tmp_path):
    name = "checkpoint-of-a-rather-long-experiment-about-learning-rates-epoch-0003.safetensors"
    label = Provenance(Source.FILE, name, test_accuracy=0.5).label()
    shown = label.removeprefix("Weights: file ").removesuffix(" (50.0 % test)")
    assert len(shown) <= 40 and shown.startswith("checkpoint-of") and shown.endswith(".safetensors")


# --------------------------------------------------------------------------- operations and provenance


def test_a_new_session_and_a_new_model_are_untrained():
    session = Session(SPEC, SPEC.factory())
    assert session.provenance.source is Source.UNTRAINED and session.provenance.label() == "Weights: untrained"
    assert not session.unsaved and not session.resumable and session.resume_epochs() is None
    simple = get_spec("simple-cnn")
    model = simple.factory()
    session.new_model(simple, model)
    assert session.spec is simple and session.model is model and session.history == []
    assert session.provenance == Provenance(Source.UNTRAINED)
    # Untrained weights go with the model's default dataset.
    info = DATASETS["cifar10"]
    assert session.dataset == "cifar10"
    assert session.normalization == Normalization(tuple(info.mean), tuple(info.std), tuple(info.classes))


def test_reinitialize_names_the_scheme_and_forgets_history_and_sessions(tmp_path, pretrained):
    session = session_with_pretrained(pretrained)
    assert session.history
    session.reinitialize("xavier-uniform")
    assert session.provenance == Provenance(Source.REINITIALISED, "xavier-uniform")
    assert session.provenance.label() == "Weights: re-initialised (xavier-uniform)"
    assert session.history == [] and not session.unsaved
    ckpt, _ = write_file(tmp_path / "s.safetensors")
    session = opened(ckpt)
    assert session.resumable
    session.reinitialize("kaiming-normal")
    assert not session.resumable and session.trainer is None


def test_adopt_pretrained(pretrained):
    session = session_with_pretrained(pretrained)
    meta = pretrained.meta
    prov = session.provenance
    assert prov.source is Source.PRETRAINED
    assert prov.test_accuracy == meta.history[-1]["test_accuracy"] and prov.epoch == meta.epoch
    assert prov.kept_in == str(pretrained.path)
    assert prov.label() == pretrained_label()
    assert session.history == meta.history and session.history is not meta.history
    assert not session.unsaved and not session.resumable  # shipped weights: not a session to continue


def test_pretrained_weights_bring_their_own_normalisation(tmp_path):
    classes = [f"class {i}" for i in range(10)]
    ckpt, _ = write_file(tmp_path / "p.safetensors", mean=(0.1307,), std=(0.3081,), classes=classes)
    session = Session(SPEC, SPEC.factory())
    session.use_pretrained(weights_from(ckpt, SPEC))
    assert session.normalization == Normalization((0.1307,), (0.3081,), tuple(classes), DIGITS)
    assert session.dataset == "mnist"


def test_a_session_file_is_resumable_and_keeps_its_history(tmp_path):
    ckpt, weights = write_file(tmp_path / "session.safetensors", epoch=2, epochs=3)
    session = opened(ckpt)
    prov = session.provenance
    assert prov.source is Source.FILE and prov.detail == "session.safetensors" and prov.epoch == 2
    assert prov.test_accuracy == pytest.approx(0.92) and prov.kept_in == str(ckpt.path)
    assert prov.label() == "Weights: file session.safetensors (92.0 % test)"
    assert session.resumable and session.checkpoint is ckpt and session.resume_epochs() == 2
    assert [h["epoch"] for h in session.history] == [1, 2]
    assert session.normalization == Normalization((0.1307,), (0.3081,), tuple(str(i) for i in range(10)), DIGITS)
    assert same(weights, state(session.model)) and not session.unsaved


def test_a_weights_only_file_is_not_resumable(tmp_path):
    ckpt, _ = write_file(tmp_path / "weights.safetensors", config=False)
    session = opened(ckpt)
    assert session.provenance.source is Source.FILE and not session.resumable
    assert session.resume_epochs() is None


def test_foreign_weights_keep_the_current_normalisation(tmp_path):
    from safetensors.torch import save_file

    ckpt, _ = write_file(tmp_path / "own.safetensors", mean=(0.2,), std=(0.4,))
    session = opened(ckpt)
    norm, dataset = session.normalization, session.dataset
    torch.manual_seed(3)
    other = SPEC.factory()
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, tmp_path / "plain.safetensors")
    foreign = load_checkpoint(tmp_path / "plain.safetensors")
    assert foreign.is_foreign
    session.open(weights_from(foreign, SPEC))
    assert session.normalization == norm and session.dataset == dataset
    assert session.provenance == Provenance(Source.FILE, "plain.safetensors", kept_in=str(foreign.path))
    assert session.provenance.label() == "Weights: file plain.safetensors"
    assert session.history == [] and not session.resumable


# --------------------------------------------------------------------------- planning a run


def test_a_planned_run_uses_its_datasets_normalisation(tmp_path, data):
    ckpt, _ = write_file(tmp_path / "p.safetensors", config=False, mean=(0.1307,), std=(0.3081,))
    session = opened(ckpt)
    plan = session.plan_run(TINY, fresh=True, data=data)
    assert session.normalization == Normalization.of_data(data) == Normalization.of_dataset("mnist")
    assert plan.fresh and plan.checkpoint is None and session.model is plan.model
    torch.manual_seed(TINY.seed)
    assert same(state(SPEC.factory()), state(plan.model))  # new weights from the seed
    assert session.provenance.source is Source.TRAINED and session.history == []


def test_a_run_from_the_current_weights_trains_that_model(pretrained):
    session = session_with_pretrained(pretrained)
    model = session.model
    plan = session.plan_run(TINY, fresh=False)
    assert plan.model is model and not plan.fresh


@pytest.mark.parametrize("done, planned, asked, total", [
    (2, 3, None, 3),  # stopped at epoch 2 of 3, no count given: the rest of its run
    (3, 3, None, 4),  # finished: one more epoch
    (2, 3, 3, 3),  # the count is the run's total, as for a new run
    (2, 3, 6, 6),  # more asked for: the total rises
    (3, 3, 5, 5),
])
def test_resume_epochs_count_the_whole_run(tmp_path, done, planned, asked, total):
    ckpt, _ = write_file(tmp_path / "s.safetensors", epoch=done, epochs=planned)
    session = opened(ckpt)
    assert session.default_resume_total() == (planned if planned > done else done + 1)
    plan = session.plan_resume(asked)
    assert plan.config.epochs == total and plan.start_epoch == done
    assert plan.checkpoint is ckpt and plan.model is None and not plan.fresh


@pytest.mark.parametrize("done, asked", [(2, 2), (3, 1), (3, 3)])
def test_resuming_to_a_total_already_reached_is_refused_and_changes_nothing(tmp_path, done, asked):
    ckpt, _ = write_file(tmp_path / "s.safetensors", epoch=done, epochs=3)
    session = opened(ckpt)
    before, runs = session.current, session.runs
    with pytest.raises(ConfigError, match=f"above {done}"):
        session.plan_resume(asked)
    assert session.current is before and session.runs == runs and session.resumable


def test_a_resumed_run_keeps_the_saved_recipe(tmp_path):
    ckpt, _ = write_file(tmp_path / "s.safetensors", epoch=2, epochs=3, lr=0.005, batch_size=64,
                         optimizer="sgd", schedule="onecycle", seed=11)
    session = opened(ckpt)
    plan = session.plan_resume(3, device="cpu", max_batches=2)
    cfg = plan.config
    assert (cfg.lr, cfg.batch_size, cfg.optimizer, cfg.schedule, cfg.seed) == (0.005, 64, "sgd", "onecycle", 11)
    assert cfg.epochs == 3 and cfg.device == "cpu" and cfg.max_batches == 2 and cfg.model == "mnist-cnn"
    assert session.normalization == Normalization.of_meta(ckpt.meta)


def test_without_a_loaded_session_there_is_nothing_to_resume(pretrained):
    session = session_with_pretrained(pretrained)
    with pytest.raises(ConfigError, match="no loaded session"):
        session.plan_resume(5)
    plan = session.plan_run(TINY, fresh=True)
    assert plan.checkpoint is None and plan.config.epochs == TINY.epochs and plan.fresh


# --------------------------------------------------------------------------- epochs of a run


def test_record_epoch_replaces_a_rerun_epoch(data):
    session = Session(SPEC, SPEC.factory())
    session.plan_run(TINY, fresh=True, data=data)
    session.record_epoch(epoch_record(1, 0.8))
    session.record_epoch(epoch_record(2, 0.85))
    session.record_epoch(epoch_record(2, 0.9, train_loss=0.1))  # epoch 2 again (resumed mid-epoch)
    assert [h["epoch"] for h in session.history] == [1, 2]
    assert session.history[1] == epoch_record(2, 0.9, train_loss=0.1).to_dict()
    prov = session.provenance
    assert prov.source is Source.TRAINED and prov.epoch == 2 and prov.test_accuracy == 0.9 and prov.step is None
    assert prov.label() == "Weights: trained now, epoch 2 (90.0 % test)"


# --------------------------------------------------------------------------- the end of a run


def test_a_completed_run_is_adopted_with_its_history(data, tmp_path):
    session = Session(SPEC, SPEC.factory())
    plan = session.plan_run(TINY, fresh=True, data=data)
    trainer, end = fit(session, plan, data)
    assert end.reason == "completed"
    assert session.finish_run(trainer, end, RUN_DIR_CKPT) is True
    prov = session.provenance
    assert session.model is trainer.model and session.trainer is trainer
    assert session.history == trainer.history and len(session.history) == 1
    assert prov.source is Source.TRAINED and prov.epoch == 1 and prov.step is None
    assert prov.test_accuracy == trainer.history[-1]["test_accuracy"] == end.final_test_accuracy
    assert prov.kept_in == RUN_DIR_CKPT and not session.unsaved
    assert prov.label() == f"Weights: trained now, epoch 1 ({percent(prov.test_accuracy)} test)"

    # Save writes the trainer's whole session: weights, optimizer, position, history.
    path = session.save(tmp_path / "after.safetensors", TrainConfig())
    saved = load_checkpoint(path)
    assert saved.meta.training == trainer.position.to_dict() and saved.meta.history == trainer.history
    assert saved.optimizer_state is not None and saved.meta.train_config == trainer.config.with_(model="mnist-cnn")
    assert same(saved.weights, state(trainer.model))
    assert session.provenance.kept_in == str(path)


def test_a_completed_run_without_a_run_folder_is_unsaved_until_saved(data, tmp_path):
    session = Session(SPEC, SPEC.factory())
    plan = session.plan_run(TINY, fresh=True, data=data)
    trainer, end = fit(session, plan, data)
    assert session.finish_run(trainer, end, None)
    assert session.unsaved
    session.save(tmp_path / "kept.safetensors", TrainConfig())
    assert not session.unsaved and session.provenance.kept_in == str(tmp_path / "kept.safetensors")


def test_stopped_before_a_tested_epoch_keeps_the_tested_weights(data, pretrained):
    session = session_with_pretrained(pretrained)
    before = session.current
    plan = session.plan_run(TINY, fresh=True, data=data)
    trainer, end = fit(session, plan, data, stop_after_batches=1)
    assert end.reason == "stopped" and trainer.position.batch == 1
    assert session.finish_run(trainer, end, RUN_DIR_CKPT) is False
    assert session.current is before and session.provenance.label() == pretrained_label()
    assert same(pretrained.weights, state(session.model)) and session.trainer is None


def test_stopped_without_a_run_folder_adopts_the_stopped_weights(data, pretrained):
    session = session_with_pretrained(pretrained)
    plan = session.plan_run(TINY, fresh=True, data=data)
    trainer, end = fit(session, plan, data, stop_after_batches=2)
    assert session.finish_run(trainer, end, None) is True  # nothing trained is dropped silently
    prov = session.provenance
    assert session.model is trainer.model and session.unsaved
    assert prov.step == trainer.position.step == 2 and prov.epoch is None and prov.test_accuracy is None
    assert prov.label() == "Weights: trained now, stopped at step 2 (no full epoch)"


def test_stopped_after_a_new_epoch_adopts_with_its_step(data, pretrained):
    session = session_with_pretrained(pretrained)
    plan = session.plan_run(TINY.with_(epochs=2), fresh=True, data=data)
    trainer, end = fit(session, plan, data, stop_after_batches=1, stop_in_epoch=2)
    assert end.reason == "stopped" and trainer.position.epoch == 1 and trainer.position.batch == 1
    assert session.finish_run(trainer, end, RUN_DIR_CKPT) is True
    prov = session.provenance
    assert session.model is trainer.model and prov.step == trainer.position.step == 4
    assert prov.epoch == 1 and prov.test_accuracy == trainer.history[0]["test_accuracy"]
    assert prov.label().startswith("Weights: trained now, stopped at step 4 (epoch 1, ")
    assert not session.unsaved and session.history == trainer.history


def test_stopped_before_its_first_step_keeps_the_weights_before(data, pretrained):
    """A stop while the data loads: the seed's weights must not replace the tested ones, folder or not."""
    for kept_in in (RUN_DIR_CKPT, None):
        session = session_with_pretrained(pretrained)
        before = session.current
        plan = session.plan_run(TINY, fresh=True, data=data)
        trainer = Trainer(plan.config, model=plan.model, data=data, spec=SPEC)
        trainer.stop()
        end = trainer.fit()
        assert end.reason == "stopped" and trainer.position.step == 0
        assert session.finish_run(trainer, end, kept_in) is False
        assert session.current is before and not session.unsaved


@pytest.mark.parametrize("fresh", [True, False])
def test_a_failed_run_restores_the_weights_before_it(data, pretrained, fresh):
    session = session_with_pretrained(pretrained)
    before = session.current
    plan = session.plan_run(TINY, fresh=fresh, data=data)
    trainer, end = fit(session, plan, data, poison=True)  # the next loss is NaN: the run fails
    assert end.reason == "failed" and trainer.error.kind == "nan"
    assert session.finish_run(trainer, end, None) is False
    assert session.current is before and session.provenance.label() == pretrained_label()
    # A run from the current weights trained that very model: its values come back too.
    assert same(pretrained.weights, state(session.model))


def test_a_current_weights_run_stopped_early_gives_the_weights_back(data, pretrained):
    session = session_with_pretrained(pretrained)
    plan = session.plan_run(TINY, fresh=False, data=data)
    trainer, end = fit(session, plan, data, stop_after_batches=1)
    assert session.finish_run(trainer, end, RUN_DIR_CKPT) is False
    assert session.provenance.source is Source.PRETRAINED and same(pretrained.weights, state(session.model))


def test_a_failed_run_keeps_the_loaded_session_resumable(tmp_path, data):
    ckpt, weights = write_file(tmp_path / "s.safetensors", epoch=2, epochs=3)
    session = opened(ckpt)
    session.plan_run(TINY, fresh=True, data=data)  # not resumed: a new run instead
    assert not session.resumable
    session.run_failed()  # e.g. the dataset could not be loaded
    assert session.resumable and session.checkpoint is ckpt and session.resume_epochs() == 2
    assert session.provenance.source is Source.FILE and same(weights, state(session.model))


def test_a_trainer_of_another_run_is_not_adopted(data, pretrained):
    """The controller's last trainer may be an earlier run's when this one ended before making one."""
    session = session_with_pretrained(pretrained)
    plan = session.plan_run(TINY, fresh=True, data=data)
    earlier, end = fit(session, plan, data)
    assert session.finish_run(earlier, end, RUN_DIR_CKPT)
    session.use_pretrained(weights_from(pretrained, SPEC))
    model = session.model
    session.plan_run(TINY, fresh=True, data=data)
    stopped = FitEnded("stopped", 0, 0, 0.1, None)  # stopped while its data loaded: no trainer of its own
    assert session.finish_run(earlier, stopped, None) is False
    assert session.provenance.source is Source.PRETRAINED and session.model is model


def test_a_resumed_run_continues_the_files_history(tmp_path, data):
    ckpt, _ = write_file(tmp_path / "s.safetensors", epoch=1, epochs=2)
    session = opened(ckpt)
    plan = session.plan_resume(2)
    assert plan.config.epochs == 2
    # From now on the canvas's next weights are this run's, not the file's.
    assert session.provenance.source is Source.TRAINED
    trainer, end = fit(session, plan, data)
    assert end.reason == "completed"
    assert session.provenance.label().startswith("Weights: trained now, epoch 2 (")
    assert session.finish_run(trainer, end, RUN_DIR_CKPT)
    assert [h["epoch"] for h in session.history] == [1, 2]
    assert session.history[0] == ckpt.meta.history[0]
    assert not session.resumable and session.trainer is trainer and session.provenance.epoch == 2


def test_a_resumed_run_stopped_before_a_step_keeps_the_file(tmp_path, data):
    ckpt, weights = write_file(tmp_path / "s.safetensors", epoch=1, epochs=2)
    session = opened(ckpt)
    before = session.current
    plan = session.plan_resume(2)
    trainer = Trainer.from_checkpoint(plan.checkpoint, data=data, spec=SPEC, device="cpu")
    trainer.stop()
    end = trainer.fit()
    assert session.finish_run(trainer, end, None) is False
    assert session.current is before and session.resumable and same(weights, state(session.model))


def test_a_finished_run_takes_the_normalisation_of_its_data(data):
    """A folder of the user's images: its classes and statistics are known only from the data."""
    from dataclasses import replace

    from cnn_gui.core.data.image_dataset import ImageDataset

    info = replace(data.info, name="folder:/images/digits", title="digits", mean=(0.13,), std=(0.31,),
                   classes=tuple(f"digit {i}" for i in range(10)), bundled=False)
    folder = ImageDataset(info, data.train_images, data.train_labels, data.test_images, data.test_labels)
    session = Session(SPEC, SPEC.factory())
    plan = session.plan_run(TINY.with_(dataset=info.name), fresh=True)  # no data given: the window's usual case
    trainer, end = fit(session, plan, folder)
    session.finish_run(trainer, end, RUN_DIR_CKPT)
    assert session.normalization == Normalization((0.13,), (0.31,), info.classes, Preparation(info.preparation, info.ink))
    assert session.dataset == info.name


# --------------------------------------------------------------------------- saving without a run


def test_saving_pretrained_weights_writes_their_history_and_normalisation(tmp_path, pretrained):
    session = session_with_pretrained(pretrained)
    path = session.save(tmp_path / "copy.safetensors", TrainConfig(epochs=1))
    meta = load_checkpoint(path).meta
    assert meta.history == pretrained.meta.history and meta.epoch == len(pretrained.meta.history)
    assert (meta.mean, meta.std, meta.classes) == (pretrained.meta.mean, pretrained.meta.std, pretrained.meta.classes)
    assert meta.train_config.epochs >= meta.epoch
    assert session.provenance.kept_in == str(path)


def test_saving_a_loaded_session_keeps_it_resumable(tmp_path):
    ckpt, weights = write_file(tmp_path / "s.safetensors", epoch=2, epochs=3)
    session = opened(ckpt)
    path = session.save(tmp_path / "again.safetensors", TrainConfig(epochs=9, lr=0.5))
    again = load_checkpoint(path)
    assert again.meta.config == ckpt.meta.config and again.meta.training == ckpt.meta.training
    assert again.meta.history == ckpt.meta.history and same(weights, again.weights)


def test_new_weights_keep_the_modules_the_user_froze():
    from cnn_gui.core.model.structure import set_trainable

    spec = get_spec("mnist-cnn")
    session = Session(spec, spec.factory())
    set_trainable(session.model, "layer1", False)
    plan = session.plan_run(TrainConfig(epochs=1), fresh=True)
    assert plan.fresh and plan.model is session.model  # the run trains the new model object
    frozen = {n for n, p in plan.model.named_parameters() if not p.requires_grad}
    assert frozen == {"layer1.0.weight", "layer1.0.bias", "layer1.1.weight", "layer1.1.bias"}


# --------------------------------------------------------------------------- what the session announces


def test_every_change_is_announced_with_what_to_redraw(tmp_path, pretrained):
    session = Session(SPEC, SPEC.factory())
    seen = []
    session.changed.connect(seen.append)
    session.use_pretrained(weights_from(pretrained, SPEC))
    assert seen[-1].weights and seen[-1].history and not seen[-1].tree  # same architecture: same tree
    session.switch_model("simple-cnn")
    assert seen[-1].tree and seen[-1].weights and seen[-1].history
    session.reinitialize("xavier-uniform")
    assert seen[-1].weights and not seen[-1].tree
    session.mark_saved(tmp_path / "x.safetensors")
    assert seen[-1].label and not seen[-1].weights and not seen[-1].history
    count = len(seen)
    session.plan_run(TINY.with_(model="simple-cnn", dataset="cifar10"), fresh=True)
    # New weights are drawn in the tree and the curves restart, but the canvas keeps the old
    # weights until an epoch ends.
    assert len(seen) == count + 1 and seen[-1].tree and seen[-1].history and not seen[-1].weights
    session.run_failed()
    assert seen[-1].weights and seen[-1].tree


def test_a_refused_change_announces_nothing(tmp_path):
    ckpt, _ = write_file(tmp_path / "s.safetensors", epoch=3, epochs=3)
    session = opened(ckpt)
    seen = []
    session.changed.connect(seen.append)
    with pytest.raises(ConfigError):
        session.plan_resume(2)
    with pytest.raises(ValueError):
        session.reinitialize("no-such-scheme")
    assert seen == []


def test_a_session_on_the_pretrained_weights_initialises_alike_every_time():
    """As after of_model: "Initialise parameters…" right after start-up gives the same weights each launch."""
    weights = []
    for _ in range(2):
        session = Session.of_pretrained()
        assert session.provenance.source is Source.PRETRAINED and session.spec.name == "mnist-cnn"
        torch.rand(3)  # whatever ran before the session was made
        session = Session.of_pretrained()
        session.reinitialize("kaiming-normal")
        weights.append(session.model.state_dict()["fc.0.weight"].clone())
    assert torch.equal(weights[0], weights[1])
