"""A run's snapshots (core/runs/snapshots.py): the moments kept, the weights they hold, and
files that are not snapshots."""

import pytest
import torch

from cnn_gui.core.config import PRESETS, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.model.models import build_model
from cnn_gui.core.runs import snapshots
from cnn_gui.core.runs.snapshots import SnapshotError, due, list_snapshots, load_snapshot
from cnn_gui.core.runs.writer import RunWriter
from cnn_gui.core.training.engine import Trainer


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist").subset(2000, 100)


def recorded_run(tmp_path, data, batches):
    config = TrainConfig(epochs=1, max_batches=batches, batch_size=50, device="cpu", seed=5, schedule="constant")
    writer = RunWriter(tmp_path / "runs", config.to_dict(), source="cli")
    trainer = Trainer(config, data=data, callbacks=[writer])
    writer.bind(trainer)
    trainer.fit()
    return trainer, writer.folder


def test_the_moments_kept_and_a_tutorial_run_under_100_mb():
    assert [s for s in range(1300) if due(s)] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 1200]
    steps = 3 * 600  # the tutorial preset: 3 epochs of 600 batches
    kept = {s for s in range(steps + 1) if due(s)} | {600, 1200, 1800}
    one = 2_328_298 * 2 + 20_000  # float16 weights of the tutorial CNN, and the header
    checkpoint = 2_328_298 * 4 * 3 + 100_000  # its float32 weights and Adam's two moments, beside them
    assert len(kept) == 14 and len(kept) * one + checkpoint <= 100_000_000  # the run folder (issue 21)


@pytest.mark.slow
def test_snapshot_k_holds_the_weights_the_trainer_had_after_k_steps(tmp_path, small):
    _, folder = recorded_run(tmp_path, small, 20)
    found = list_snapshots(folder)
    assert [s.step for s in found] == [0, 1, 2, 4, 8, 16, 20]  # 20: the epoch's end
    assert all(s.epoch == 1 for s in found)
    stopped, _ = recorded_run(tmp_path / "b", small, 16)  # the same run, stopped at step 16
    model = build_model("mnist-cnn")
    load_snapshot(found[5], model)
    for name, value in stopped.model.state_dict().items():
        loaded = model.state_dict()[name]
        expected = value.to(torch.float16).to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(loaded, expected.cpu().contiguous()), name


def test_files_that_are_not_snapshots_are_left_out_or_refused(tmp_path):
    model = build_model("mnist-cnn")
    path = snapshots.save_snapshot(tmp_path, model, 8, 1)
    (path.parent / "step-00000009.safetensors").write_bytes(b"not a snapshot")
    (path.parent / "notes.txt").write_text("hello")
    renamed = path.parent / "step-00000010.safetensors"  # a step that its header does not say
    renamed.write_bytes(path.read_bytes())
    assert [s.step for s in list_snapshots(tmp_path)] == [8]
    other = build_model("simple-cnn")
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(SnapshotError, match="not of this network"):
        load_snapshot(list_snapshots(tmp_path)[0], other)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())  # unchanged
    import json

    for step, value in ((12, "12"), (13, 13)):  # metadata of the wrong kind; not even a string
        header = json.dumps({"__metadata__": {"cnn_gui_snapshot": value}}).encode()
        (path.parent / f"step-{step:08d}.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert [s.step for s in list_snapshots(tmp_path)] == [8]
    broken = snapshots.Snapshot(9, 1, path.parent / "step-00000009.safetensors")
    with pytest.raises(SnapshotError, match="cannot be read"):
        load_snapshot(broken, model)
