"""Run folders: written as a run goes, read back whole, tolerant of kills, edits and garbage."""

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted
from cnn_gui.core.files.metrics_csv import CSV_HEADER, write_metrics_csv
from cnn_gui.core.runs.follower import RunFollower
from cnn_gui.core.runs.layout import CHECKPOINT_FILE, EPOCHS_FILE, RUN_FILE, RunsError, resolve_runs_dir
from cnn_gui.core.runs.manage import delete_run, rename_run, run_metrics_csv
from cnn_gui.core.runs.reader import RunsIndex, list_runs, read_run
from cnn_gui.core.runs.step_sampler import MAX_STEP_POINTS, StepSampler
from cnn_gui.core.runs.writer import RunWriter

CONFIG = {"model": "mnist-cnn", "dataset": "mnist", "epochs": 2, "batch_size": 100, "lr": 0.001,
          "optimizer": "adam", "schedule": "constant", "seed": 7, "device": "cpu"}
BPE = 10  # batches per epoch of the synthetic runs


def started(epochs=2, bpe=BPE, start_epoch=1, start_batch=0):
    return FitStarted(device="cpu", device_label="CPU (2 threads)", model="mnist-cnn", dataset="mnist",
                      train_size=bpe * 100, test_size=500, batch_size=100, batches_per_epoch=bpe,
                      epochs=epochs, start_epoch=start_epoch, start_batch=start_batch, parameters=28938,
                      precision="bf16 autocast")


def batch(step, loss, bpe=BPE, acc=0.5):
    epoch = (step - 1) // bpe + 1
    return BatchEnded(epoch=epoch, batch=(step - 1) % bpe + 1, batches_per_epoch=bpe, step=step, loss=loss,
                      accuracy=acc, samples_per_sec=1234.0, eta_seconds=3.0, lr=1e-3)


def epoch_ended(epoch, test_acc):
    return EpochEnded(epoch=epoch, train_loss=0.5 / epoch, train_accuracy=0.9 + 0.01 * epoch,
                      test_loss=0.2 / epoch, test_accuracy=test_acc, seconds=12.5, samples_per_sec=4000.0,
                      lr=1e-3)


class FakeCheckpoint:
    def __init__(self):
        self.paths = []

    def __call__(self, path):
        self.paths.append(Path(path))
        Path(path).write_bytes(b"weights")


def feed_epoch(writer, epoch, test_acc, bpe=BPE):
    for b in range(1, bpe + 1):
        writer(batch((epoch - 1) * bpe + b, loss=1.0 / epoch))
    writer(epoch_ended(epoch, test_acc))


def dead_pid():
    """A pid no process has: one above the kernel's pid_max."""
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 2**22
    return min(pid_max + 1, 2**31 - 2)


def edit_info(folder, **changes):
    path = Path(folder) / RUN_FILE
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


# --------------------------------------------------------------------------- round trip


def test_a_run_round_trips_through_its_folder(tmp_path):
    ckpt = FakeCheckpoint()
    writer = RunWriter(tmp_path, CONFIG, preset="tutorial", source="cli", save_checkpoint=ckpt)
    writer(started())
    folder = writer.folder
    assert folder.parent == tmp_path and folder.name.endswith("-mnist-cnn-mnist")
    assert read_run(folder).status == "running"  # this process writes it and is alive
    feed_epoch(writer, 1, 0.97)
    feed_epoch(writer, 2, 0.985)
    writer(FitEnded("completed", 2, 20, 25.0, 0.985))
    assert writer.error is None

    run = read_run(folder, steps=True)
    assert run.status == "finished" and run.readable
    assert run.name == folder.name and run.id == folder.name
    assert (run.model, run.dataset, run.preset, run.seed) == ("mnist-cnn", "mnist", "tutorial", 7)
    assert run.config == CONFIG
    assert run.device == "cpu" and run.device_label == "CPU (2 threads)" and run.precision == "bf16 autocast"
    assert run.versions["python"] and run.versions["cnn_gui"]
    assert run.started is not None and run.ended is not None and run.started <= run.ended
    assert run.duration_seconds == 25.0 and run.epochs_planned == 2
    assert [e["epoch"] for e in run.epochs] == [1, 2]
    assert run.epochs[1]["test_accuracy"] == 0.985 and run.epochs[0]["train_loss"] == 0.5
    assert run.best_test_accuracy == 0.985 and run.final_test_accuracy == 0.985
    assert [s["step"] for s in run.steps] == list(range(1, 21))  # 20 steps fit the budget: all kept
    assert run.steps[0]["loss"] == 1.0 and run.steps[-1]["loss"] == 0.5
    # Saved at each epoch's end; the completed run's end is the last epoch's state: not saved again.
    assert ckpt.paths == [folder / CHECKPOINT_FILE] * 2 and run.checkpoint == folder / CHECKPOINT_FILE
    assert run.info["checkpoint"] == CHECKPOINT_FILE
    assert run.info["pid"] == os.getpid() and run.info["hostname"] == socket.gethostname()
    assert run.skipped_lines == 0
    assert [r.id for r in list_runs(tmp_path)] == [folder.name]


def test_stopped_and_failed_runs(tmp_path):
    ckpt = FakeCheckpoint()
    stopped = RunWriter(tmp_path, CONFIG, save_checkpoint=ckpt)
    stopped(started())
    feed_epoch(stopped, 1, 0.95)
    stopped(batch(11, 0.3))
    stopped(FitEnded("stopped", 1, 11, 9.0, 0.95))
    run = read_run(stopped.folder, steps=True)
    assert run.status == "stopped" and run.checkpoint is not None
    assert run.steps[-1]["step"] == 11  # the unfinished bucket is written at the end
    assert len(ckpt.paths) == 2  # epoch 1's end, then the stop (one step further)

    failed = RunWriter(tmp_path, CONFIG, save_checkpoint=ckpt)
    failed(started())
    failed(batch(1, 2.0))
    failed(FitFailed("nan", "The loss became nan in epoch 1 near batch 2; training stopped.", "Lower the rate."))
    failed(FitEnded("failed", 0, 2, 1.0, None))
    run = read_run(failed.folder)
    assert run.status == "failed" and run.error.startswith("The loss became nan")
    assert run.checkpoint is None and len(ckpt.paths) == 2  # a failed run's weights are not kept


def test_folders_of_runs_started_in_the_same_second_do_not_collide(tmp_path):
    a, b = RunWriter(tmp_path, CONFIG), RunWriter(tmp_path, CONFIG)
    fa, fb = a.open(), b.open()
    assert fa != fb and fa.is_dir() and fb.is_dir()


def test_custom_model_names_make_safe_folder_names(tmp_path):
    writer = RunWriter(tmp_path, {**CONFIG, "model": "/home/me/nets/my net.py:Tiny Net", "dataset": "a/b"})
    folder = writer.open()
    assert folder.parent == tmp_path and "my-net-Tiny-Net" in folder.name and "/" not in folder.name[8:]


# --------------------------------------------------------------------------- crashes and damage


def test_a_run_killed_mid_epoch_reads_back_interrupted_with_its_finished_epochs(tmp_path):
    writer = RunWriter(tmp_path, CONFIG)
    writer(started(epochs=3))
    feed_epoch(writer, 1, 0.97)
    for step in range(11, 15):  # epoch 2 in progress, no EpochEnded, no FitEnded
        writer(batch(step, 0.4))
    folder = writer.folder
    with open(folder / EPOCHS_FILE, "a") as f:  # killed while writing a line
        f.write('{"epoch": 2, "train_loss": 0.2')

    edit_info(folder, pid=dead_pid())
    run = read_run(folder, steps=True)
    assert run.status == "interrupted"
    assert [e["epoch"] for e in run.epochs] == [1] and run.final_test_accuracy == 0.97
    assert run.skipped_lines == 0  # a half-written last line is not an error
    assert [s["step"] for s in run.steps] == list(range(1, 11))  # flushed with the epoch
    assert run.duration_seconds is not None and run.duration_seconds >= 0
    assert run.checkpoint is None

    edit_info(folder, pid=os.getpid())
    assert read_run(folder).status == "running"
    edit_info(folder, pid_started=12345)  # our pid, but another process's start time: a reused pid
    if Path("/proc/self/stat").exists():
        assert read_run(folder).status == "interrupted"
    edit_info(folder, pid=dead_pid(), hostname="another-host")
    assert read_run(folder).status == "running"  # cannot tell from here


@pytest.mark.slow
def test_a_writer_process_killed_for_real_reads_back_interrupted(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from cnn_gui.core.events import BatchEnded, EpochEnded, FitStarted
        from cnn_gui.core.runs.writer import RunWriter
        w = RunWriter({str(tmp_path)!r}, {{"model": "mnist-cnn", "dataset": "mnist", "epochs": 2, "seed": 0}})
        w(FitStarted("cpu", "CPU", "mnist-cnn", "mnist", 1000, 100, 100, 10, 2, 1, 0, 10))
        for s in range(1, 11):
            w(BatchEnded(1, s, 10, s, 1.0, 0.5, 100.0, 1.0, 0.001))
        w(EpochEnded(1, 0.5, 0.9, 0.3, 0.95, 1.0, 100.0, 0.001))
        w(BatchEnded(2, 1, 10, 11, 0.5, 0.5, 100.0, 1.0, 0.001))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    assert proc.wait(timeout=60) != 0
    (run,) = list_runs(tmp_path)
    assert run.info["pid"] == proc.pid
    assert run.status == "interrupted" and [e["epoch"] for e in run.epochs] == [1]


def test_list_runs_tolerates_garbage(tmp_path):
    good = RunWriter(tmp_path, CONFIG)
    good(started())
    feed_epoch(good, 1, 0.9)
    with open(good.folder / EPOCHS_FILE, "a") as f:  # someone edited the file
        f.write("not json\n[1, 2]\n" + json.dumps({"epoch": "two"}) + "\n"
                + json.dumps({"epoch": 3, "test_accuracy": 7.5}) + "\n")
    good(epoch_ended(2, 0.95))
    good(FitEnded("completed", 2, 20, 3.0, 0.95))

    (tmp_path / "a-file.txt").write_text("hello")
    (tmp_path / "no-run-json").mkdir()
    (tmp_path / ".hidden").mkdir()
    cases = {
        "not-json": "{broken",
        "a-list": "[1, 2, 3]",
        "binary": b"\xff\xfe\x00junk",
        "bad-status": {"status": "exploded"},
        "bad-start": {"started": "yesterday"},
        "bad-config": {"config": [1, 2]},
        "bad-seed": {"seed": "seven"},
        "newer-format": {"format_version": 99},
        "long-name": {"name": 12345},
    }
    base = json.loads((good.folder / RUN_FILE).read_text())
    for name, content in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        if isinstance(content, dict):
            content = json.dumps({**base, **content})
        if isinstance(content, str):
            content = content.encode()
        (folder / RUN_FILE).write_bytes(content)
    (tmp_path / "empty-run").mkdir()
    (tmp_path / "empty-run" / RUN_FILE).write_bytes(b"")

    listed = list_runs(tmp_path)
    by_id = {r.id: r for r in listed}
    assert set(by_id) == {good.folder.name, "empty-run", *cases}
    run = by_id[good.folder.name]
    assert run.status == "finished" and [e["epoch"] for e in run.epochs] == [1, 2] and run.skipped_lines == 4
    for name in [*cases, "empty-run"]:
        bad = by_id[name]
        assert bad.status == "unreadable" and bad.problem, name
        assert bad.status_text.startswith("unreadable: ") and "\n" not in bad.status_text
        assert len(bad.status_text) < 300
    assert "status must be one of" in by_id["bad-status"].problem
    assert "newer" in by_id["newer-format"].problem
    assert "seed" in by_id["bad-seed"].problem


def test_list_runs_is_newest_first_and_a_missing_dir_is_empty(tmp_path):
    folders = []
    for i, day in enumerate(("2024-03-01T10:00:00+00:00", "2024-05-01T10:00:00+00:00", "2024-04-01T10:00:00+00:00")):
        w = RunWriter(tmp_path, CONFIG, name=f"run {i}")
        w.open()
        edit_info(w.folder, started=day)
        folders.append(w.folder)
    assert [r.name for r in list_runs(tmp_path)] == ["run 1", "run 2", "run 0"]
    assert list_runs(tmp_path / "nowhere") == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunsError, match="is a file"):
        list_runs(tmp_path / "file")


def test_the_index_rereads_only_what_changed(tmp_path):
    index = RunsIndex(tmp_path)
    assert index.refresh() is False and index.runs == []
    w = RunWriter(tmp_path, CONFIG)
    w(started())
    assert index.refresh() is True and [r.status for r in index.runs] == ["running"]
    first = index.runs[0]
    feed_epoch(w, 1, 0.9)
    assert index.refresh() is True and index.runs[0].epochs_completed == 1
    w(FitEnded("completed", 1, 10, 2.0, 0.9))
    assert index.refresh() is True and index.runs[0].status == "finished"
    finished = index.runs[0]
    assert index.refresh() is False and index.runs[0] is finished  # nothing changed: nothing re-read
    assert first is not finished


# --------------------------------------------------------------------------- following


def test_the_follower_returns_what_was_appended_and_waits_for_whole_lines(tmp_path):
    w = RunWriter(tmp_path, CONFIG)
    w(started())
    follower = RunFollower(w.folder)
    assert not follower.poll()
    feed_epoch(w, 1, 0.9)
    update = follower.poll()
    assert [e["epoch"] for e in update.epochs] == [1] and len(update.steps) == BPE and not update.reset
    assert not follower.poll()  # nothing new

    line = json.dumps(epoch_ended(2, 0.95).to_dict()) + "\n"
    with open(w.folder / EPOCHS_FILE, "a") as f:
        f.write(line[:20])
    assert follower.poll().epochs == []  # half a line: not yet
    with open(w.folder / EPOCHS_FILE, "a") as f:
        f.write(line[20:])
    assert [e["epoch"] for e in follower.poll().epochs] == [2]

    (w.folder / EPOCHS_FILE).write_text(json.dumps(epoch_ended(1, 0.5).to_dict()) + "\n")  # replaced
    update = follower.poll()
    assert update.reset and [e["test_accuracy"] for e in update.epochs] == [0.5] and len(update.steps) == BPE


# --------------------------------------------------------------------------- downsampling


def test_a_long_run_keeps_at_most_the_step_budget(tmp_path):
    bpe, epochs = 1000, 60  # 60,000 steps reported one by one
    w = RunWriter(tmp_path, CONFIG)
    w(started(epochs=epochs, bpe=bpe))
    for step in range(1, epochs * bpe + 1):
        w(batch(step, loss=float(step % 2), bpe=bpe))  # 0, 1, 0, 1...: every bucket's mean is 0.5
        if step % bpe == 0:
            w(epoch_ended(step // bpe, 0.9))
    w(FitEnded("completed", epochs, epochs * bpe, 100.0, 0.9))
    steps = read_run(w.folder, steps=True).steps
    assert MAX_STEP_POINTS // 4 <= len(steps) <= MAX_STEP_POINTS
    xs = [s["step"] for s in steps]
    assert xs == sorted(set(xs)) and xs[-1] == epochs * bpe
    assert all(s["loss"] == pytest.approx(0.5) for s in steps)
    gaps = {b - a for a, b in zip(xs, xs[1:])}
    assert len(gaps) == 1  # evenly spread over the planned run


def test_a_run_longer_than_planned_or_unplanned_still_keeps_the_bound():
    planned = StepSampler(MAX_STEP_POINTS)
    planned.plan(0, 1000)
    unplanned = StepSampler(MAX_STEP_POINTS)
    for sampler in (planned, unplanned):
        points = [p for s in range(1, 200_001) if (p := sampler.add(batch(s, 1.0, bpe=500))) is not None]
        points += [p for p in [sampler.flush()] if p is not None]
        assert len(points) <= MAX_STEP_POINTS
        assert points[-1]["step"] == 200_000  # the run's end is kept
        assert points[-2]["step"] >= 150_000  # and the curve before it gets there too


# --------------------------------------------------------------------------- changing runs


def test_rename_keeps_the_folder_and_survives_the_writer_ending(tmp_path):
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=FakeCheckpoint())
    w(started())
    renamed = rename_run(w.folder, "  baseline\nadam  ")
    assert renamed.name == "baseline adam" and renamed.folder == w.folder
    feed_epoch(w, 1, 0.9)
    w(FitEnded("completed", 1, 10, 2.0, 0.9))
    assert read_run(w.folder).name == "baseline adam"
    with pytest.raises(RunsError):
        rename_run(w.folder, "   ")


def test_delete_only_deletes_run_folders_and_never_a_running_one(tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(RunsError, match="does not look like a run folder"):
        delete_run(other)
    assert (other / "cat.jpg").exists()

    w = RunWriter(tmp_path, CONFIG)
    w(started())
    with pytest.raises(RunsError, match="still running"):
        delete_run(w.folder)
    assert w.folder.exists()
    edit_info(w.folder, pid=dead_pid())  # interrupted: may go
    delete_run(w.folder)
    assert not w.folder.exists() and other.exists()


# --------------------------------------------------------------------------- where, errors, CSV


def test_runs_dir_default_environment_and_explicit(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_GUI_RUNS_DIR", raising=False)
    default = resolve_runs_dir()
    assert default.name == "runs" and default.parent.name.lower() in ("cnn-gui", "cnn_gui")
    monkeypatch.setenv("CNN_GUI_RUNS_DIR", str(tmp_path / "env"))
    assert resolve_runs_dir() == tmp_path / "env"
    assert resolve_runs_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert RunWriter(None, CONFIG).runs_dir == tmp_path / "env"


def test_an_unwritable_runs_dir_never_stops_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunsError) as info:
        RunWriter(blocker, CONFIG).open()
    assert isinstance(info.value, CnnGuiError) and "\n" not in str(info.value)
    writer = RunWriter(blocker / "runs", CONFIG)
    writer(started())  # the callback must not raise into the training loop
    feed_epoch(writer, 1, 0.9)
    writer(FitEnded("completed", 1, 10, 1.0, 0.9))
    assert writer.error and str(blocker) in writer.error


def test_metrics_csv_has_the_plots_columns(tmp_path):
    w = RunWriter(tmp_path, CONFIG)
    w(started(epochs=1))
    feed_epoch(w, 1, 0.93)
    w(FitEnded("completed", 1, 10, 1.0, 0.93))
    path = run_metrics_csv(read_run(w.folder), tmp_path / "m.csv")
    rows = list(csv.reader(path.open()))
    assert tuple(rows[0]) == CSV_HEADER
    batches = [r for r in rows[1:] if r[0] == "batch"]
    epochs = [r for r in rows[1:] if r[0] == "epoch"]
    assert [int(r[2]) for r in batches] == list(range(1, 11)) and batches[0][5:7] == ["", ""]
    assert len(epochs) == 1 and float(epochs[0][6]) == 0.93 and epochs[0][2] == ""
    out = write_metrics_csv(tmp_path / "n.csv", [{"epoch": 1, "test_accuracy": float("nan")}])
    assert list(csv.reader(out.open()))[1] == ["epoch", "1", "", "", "", "", "", "", ""]
    with pytest.raises(CnnGuiError):
        write_metrics_csv(tmp_path / "missing" / "x.csv", [])


# --------------------------------------------------------------------------- TensorBoard


def test_tensorboard_logs_epochs_and_steps(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cnn_gui.core.runs.tensorboard_log import TensorBoardWriter

    tb = TensorBoardWriter(tmp_path / "tb", CONFIG)
    tb(started())
    feed_epoch(tb, 1, 0.97)
    feed_epoch(tb, 2, 0.98)
    tb(FitEnded("completed", 2, 20, 1.0, 0.98))
    assert tb.error is None
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    test_acc = [(s.step, s.value) for s in acc.Scalars("accuracy/test")]
    assert test_acc == [(1, pytest.approx(0.97)), (2, pytest.approx(0.98))]
    assert [s.step for s in acc.Scalars("loss/train_step")] == list(range(1, 21))
    assert {"accuracy/train", "loss/train", "loss/test"} <= set(acc.Tags()["scalars"])


def test_tensorboard_missing_says_what_to_install(tmp_path, monkeypatch):
    from cnn_gui.core.runs.tensorboard_log import MISSING_MESSAGE, TensorBoardWriter

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(CnnGuiError) as info:
        TensorBoardWriter(tmp_path / "tb")
    assert str(info.value) == MISSING_MESSAGE
    assert "pip install -e '.[tensorboard]'" in str(info.value)
    assert not (tmp_path / "tb").exists()


# --------------------------------------------------------------------------- a real run


@pytest.mark.slow
def test_a_real_training_run_is_recorded_and_its_checkpoint_loads(tmp_path):
    import torch

    from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.model.models import build_model

    data = load_dataset("mnist").subset(1000, 300)
    config = TrainConfig(epochs=2, batch_size=50, max_batches=4, device="cpu", report_interval=0, seed=5)
    trainer = Trainer(config, data=data)
    writer = RunWriter.for_trainer(trainer, tmp_path, preset="tutorial", source="test")
    end = trainer.fit()
    assert end.reason == "completed" and writer.error is None

    (run,) = list_runs(tmp_path)
    assert run.status == "finished" and run.seed == 5 and run.config == config.to_dict()
    assert run.device == "cpu" and run.device_label.startswith("CPU")
    assert [e["epoch"] for e in run.epochs] == [1, 2]
    assert [e["test_accuracy"] for e in run.epochs] == [h["test_accuracy"] for h in trainer.history]
    full = read_run(run.folder, steps=True)
    assert [s["step"] for s in full.steps] == list(range(1, 9))

    ckpt = load_checkpoint(run.checkpoint)
    assert ckpt.meta.epoch == 2 and ckpt.meta.config == config.to_dict()
    model = build_model("mnist-cnn")
    load_weights_into(model, ckpt)
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor.cpu()), name

    # Resumed from that checkpoint: a run of its own, with the config the trainer really uses.
    resumed = Trainer.from_checkpoint(ckpt, data=data, epochs=3)
    writer2 = RunWriter(tmp_path, {"model": "stale"}, resumed_from=run.checkpoint).bind(resumed)
    resumed.callbacks.append(lambda event: writer2(event))  # a relay, as the window's worker has
    assert resumed.fit().reason == "completed" and writer2.error is None
    assert resumed.callbacks.count(writer2) == 0
    newest = list_runs(tmp_path)[0]
    assert newest.folder == writer2.folder and newest.status == "finished"
    assert newest.config["epochs"] == 3 and newest.model == "mnist-cnn"
    assert [e["epoch"] for e in newest.epochs] == [3] and newest.info["start_epoch"] == 3
    assert newest.info["resumed_from"] == str(run.checkpoint)
    assert load_checkpoint(newest.checkpoint).meta.epoch == 3
