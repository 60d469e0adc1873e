"""A run's timeline (core/runs/timeline.py): its snapshots, its extent from run.json, the weights at one."""

import json

import numpy as np
import pytest
import torch

from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.model.models import build_model
from cnn_gui.core.runs import snapshots
from cnn_gui.core.runs.snapshots import Snapshot, SnapshotError
from cnn_gui.core.runs.timeline import Timeline, read_timeline, run_folder_of, snapshot_predictor, timeline_of


def run_folder(tmp_path, info):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"started": "2026-12-06T10:00:00+00:00", **info}))
    (folder / "checkpoint.safetensors").write_bytes(b"")
    return folder


def test_the_timeline_of_a_runs_checkpoint_with_its_extent(tmp_path):
    folder = run_folder(tmp_path, {"status": "finished", "steps_planned": 1800, "batches_per_epoch": 600})
    model = build_model("mnist-cnn")
    for step, epoch in ((0, 1), (600, 1), (200, 1)):
        snapshots.save_snapshot(folder, model, step, epoch)
    assert run_folder_of(tmp_path / "elsewhere.safetensors") is None and timeline_of(None) is None
    timeline = timeline_of(folder / "checkpoint.safetensors")
    assert [s.step for s in timeline.snapshots] == [0, 200, 600]
    assert timeline.label(1) == "step 200 of 1,800, epoch 1"
    assert timeline.epoch_position(300) == 0.5 and timeline.last_step == 1800
    grown = timeline.with_snapshot(Snapshot(1200, 2, folder / "x"))
    assert [s.step for s in grown.snapshots] == [0, 200, 600, 1200] and len(timeline) == 3


@pytest.mark.parametrize("bad", [True, -5, 0, "1800", 1.5, 10**12, None])
def test_an_extent_run_json_gets_wrong_is_unknown_not_trusted(tmp_path, bad):
    folder = run_folder(tmp_path, {"status": "finished", "steps_planned": bad, "batches_per_epoch": bad})
    snapshots.save_snapshot(folder, build_model("mnist-cnn"), 4, 1)
    timeline = read_timeline(folder)
    assert timeline.total_steps is None and timeline.batches_per_epoch is None
    assert timeline.label(0) == "step 4, epoch 1" and timeline.epoch_position(4) is None


def test_a_snapshot_predictor_holds_the_snapshot_and_reads_as_its_model_does(tmp_path):
    torch.manual_seed(1)
    then = build_model("mnist-cnn")
    path = snapshots.save_snapshot(tmp_path, then, 0, 1)
    torch.manual_seed(2)
    like = Predictor(build_model("mnist-cnn"), (0.1307,), (0.3081,), tuple("0123456789"), (1, 28, 28))
    p = snapshot_predictor(Snapshot(0, 1, path), like)
    half = {k: v.half().float() if v.is_floating_point() else v for k, v in then.state_dict().items()}
    assert all(torch.equal(p.model.state_dict()[k], v) for k, v in half.items())
    assert p.mean == like.mean and p.classes == like.classes and p.preparation == like.preparation
    first = next(iter(half))
    assert not torch.equal(like.model.state_dict()[first], p.model.state_dict()[first])  # like's own weights kept
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    frozen = Predictor(then, (0.1307,), (0.3081,))
    np.testing.assert_allclose(p.predict(image), frozen.predict(image), atol=1e-2)


def test_a_snapshot_of_another_network_is_refused_with_the_predictor_untouched(tmp_path):
    path = snapshots.save_snapshot(tmp_path, torch.nn.Linear(3, 2), 0, 1)
    like = Predictor(build_model("mnist-cnn"))
    before = {k: v.clone() for k, v in like.model.state_dict().items()}
    with pytest.raises(SnapshotError, match="not of this network"):
        snapshot_predictor(Snapshot(0, 1, path), like)
    assert all(torch.equal(v, before[k]) for k, v in like.model.state_dict().items())


def test_a_runs_per_step_curve_comes_with_its_timeline_checked_line_by_line(tmp_path):
    folder = run_folder(tmp_path, {"status": "finished", "steps_planned": 20, "batches_per_epoch": 20})
    snapshots.save_snapshot(folder, build_model("mnist-cnn"), 0, 1)
    lines = [{"step": 1, "epoch": 1, "batch": 1, "loss": 2.3, "accuracy": 0.1, "lr": 1e-3},
             {"step": 2, "epoch": 1, "batch": "x", "loss": 2.2},  # a batch that is not a whole number
             {"step": 3, "epoch": 1, "batch": [1], "loss": 2.1},
             {"step": 4, "epoch": 1.5, "batch": 4, "loss": 2.0},
             {"step": 5, "epoch": 1, "batch": 5, "loss": None, "accuracy": 0.2}]
    (folder / "steps.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [p["step"] for p in read_timeline(folder).steps] == [1, 5]
