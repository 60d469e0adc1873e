"""Run folders that fight back: a killed run keeps its last epoch's checkpoint; deep JSON,
NaN and 1e999, symbolic links, 17 MB lines, /dev/zero and FIFOs neither escape as
exceptions nor block, through every entry point (read, list, index, follow, rename,
export, delete, the writer)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted
from cnn_gui.core.files.checkpoint_meta import CheckpointError
from cnn_gui.core.runs import records
from cnn_gui.core.runs.follower import RunFollower
from cnn_gui.core.runs.layout import CHECKPOINT_FILE, EPOCHS_FILE, RUN_FILE, STEPS_FILE, RunsError
from cnn_gui.core.runs.manage import delete_run, rename_run, run_metrics_csv
from cnn_gui.core.runs.reader import RunsIndex, list_runs, read_run
from cnn_gui.core.runs.strict_json import MAX_DEPTH, load_json
from cnn_gui.core.runs.writer import RunWriter
from bounded import finishes

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")
CONFIG = {"model": "mnist-cnn", "dataset": "mnist", "epochs": 3, "batch_size": 100, "seed": 1, "device": "cpu"}
BPE = 4
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads alone: RecursionError
SHALLOW_DEEP = "[" * 50 + "]" * 50  # parses, but deeper than any run file


def started(epochs=3):
    return FitStarted(device="cpu", device_label="CPU", model="mnist-cnn", dataset="mnist", train_size=BPE * 100,
                      test_size=100, batch_size=100, batches_per_epoch=BPE, epochs=epochs, start_epoch=1,
                      start_batch=0, parameters=10, precision="fp32")


def feed_epoch(writer, epoch, acc=0.9):
    for b in range(1, BPE + 1):
        writer(BatchEnded(epoch=epoch, batch=b, batches_per_epoch=BPE, step=(epoch - 1) * BPE + b, loss=0.5,
                          accuracy=0.8, samples_per_sec=100.0, eta_seconds=1.0, lr=1e-3))
    writer(EpochEnded(epoch=epoch, train_loss=0.5, train_accuracy=0.9, test_loss=0.3, test_accuracy=acc,
                      seconds=1.0, samples_per_sec=100.0, lr=1e-3))


def finished_run(runs_dir, epochs=2) -> Path:
    w = RunWriter(runs_dir, CONFIG, save_checkpoint=lambda p: Path(p).write_bytes(b"w"))
    w(started(epochs))
    for e in range(1, epochs + 1):
        feed_epoch(w, e)
    w(FitEnded("completed", epochs, epochs * BPE, 3.0, 0.9))
    assert w.error is None
    return w.folder


def epoch_line(epoch):
    return json.dumps({"epoch": epoch, "train_loss": 0.5, "train_accuracy": 0.9, "test_loss": 0.3,
                       "test_accuracy": 0.95, "seconds": 1.0, "samples_per_sec": 100.0, "lr": 0.001}) + "\n"


# --------------------------------------------------------------------------- 1. a checkpoint at every epoch


class SavingCheckpoint:
    """A save_checkpoint that records how many epochs the run folder listed when it was called."""

    def __init__(self, fail_at=()):
        self.listed: list[int] = []
        self.fail_at = set(fail_at)

    def __call__(self, path):
        path = Path(path)
        epochs = path.parent / EPOCHS_FILE
        self.listed.append(len(epochs.read_text().splitlines()) if epochs.is_file() else 0)  # not a FIFO
        if len(self.listed) in self.fail_at:
            raise CheckpointError(f"cannot save {path}: No space left on device")
        path.write_text(f"save {len(self.listed)}")


def test_the_checkpoint_is_replaced_at_every_epochs_end_before_the_epoch_is_listed(tmp_path):
    save = SavingCheckpoint()
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=save)
    w(started())
    feed_epoch(w, 1)
    assert save.listed == [0] and (w.folder / CHECKPOINT_FILE).read_text() == "save 1"
    feed_epoch(w, 2)
    # Saved before the epoch's line: whoever sees N epochs listed finds a checkpoint of >= N.
    assert save.listed == [0, 1] and (w.folder / CHECKPOINT_FILE).read_text() == "save 2"
    w(BatchEnded(3, 1, BPE, 2 * BPE + 1, 0.5, 0.8, 100.0, 1.0, 1e-3))
    w(FitFailed("nan", "The loss became nan in epoch 3.", "Lower the rate."))
    w(FitEnded("failed", 2, 2 * BPE + 1, 3.0, 0.9))
    run = read_run(w.folder)
    # A failed run keeps its last finished epoch's checkpoint, and says which epoch it is.
    assert run.status == "failed" and run.checkpoint == w.folder / CHECKPOINT_FILE
    assert run.info["checkpoint_epoch"] == 2 and len(save.listed) == 2 and w.error is None


def test_a_checkpoint_that_cannot_be_saved_never_stops_the_run_or_its_record(tmp_path):
    save = SavingCheckpoint(fail_at={1})  # the disk is full at epoch 1's end, not after
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=save)
    w(started())
    feed_epoch(w, 1)  # must not raise into the training loop
    assert w.error and "epoch 1" in w.error and "No space left on device" in w.error and "\n" not in w.error
    assert not (w.folder / CHECKPOINT_FILE).exists()
    feed_epoch(w, 2)
    feed_epoch(w, 3)
    w(FitEnded("completed", 3, 3 * BPE, 3.0, 0.9))
    run = read_run(w.folder, steps=True)
    assert [e["epoch"] for e in run.epochs] == [1, 2, 3] and run.steps[-1]["step"] == 3 * BPE
    assert run.status == "finished" and (w.folder / CHECKPOINT_FILE).read_text() == "save 3"
    assert "checkpoint_error" not in run.info and run.info["checkpoint"] == CHECKPOINT_FILE


def test_a_stop_whose_save_fails_says_so_and_keeps_the_last_epochs_checkpoint(tmp_path):
    save = SavingCheckpoint(fail_at={2})  # epoch 1's end saves, the stop's save fails
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=save)
    w(started())
    feed_epoch(w, 1)
    w(BatchEnded(2, 1, BPE, BPE + 1, 0.5, 0.8, 100.0, 1.0, 1e-3))
    w(FitEnded("stopped", 1, BPE + 1, 3.0, 0.9))
    # The window keeps the folder's checkpoint as "the stopped weights" only without an error.
    assert w.error and "end of the run" in w.error
    run = read_run(w.folder)
    assert run.status == "stopped" and (w.folder / CHECKPOINT_FILE).read_text() == "save 1"
    assert run.info["checkpoint_epoch"] == 1 and "No space left" in run.checkpoint_error


@posix_only
def test_a_record_that_stops_still_keeps_the_checkpoint_of_each_epoch(tmp_path):
    save = SavingCheckpoint()
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=save)
    w(started())
    feed_epoch(w, 1)
    (w.folder / EPOCHS_FILE).unlink()
    os.mkfifo(w.folder / EPOCHS_FILE)  # appending to it is refused: the record stops
    feed_epoch(w, 2)
    assert w.error and "stopped" in w.error and "FIFO" in w.error
    feed_epoch(w, 3)
    assert len(save.listed) == 3 and (w.folder / CHECKPOINT_FILE).read_text() == "save 3"
    assert "FIFO" in w.error  # still the reason the record stopped


def test_a_run_folder_removed_by_hand_is_not_made_again_for_a_checkpoint(tmp_path):
    import shutil

    save = SavingCheckpoint()
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=save)
    w(started())
    feed_epoch(w, 1)
    shutil.rmtree(w.folder)
    feed_epoch(w, 2)
    feed_epoch(w, 3)
    w(FitEnded("completed", 3, 3 * BPE, 3.0, 0.9))
    assert not w.folder.exists() and len(save.listed) == 1
    # (a step flush due meanwhile on a slow machine finds the folder gone first)
    assert w.error and ("was removed" in w.error or "No such file" in w.error)


def _epoch_lines(folder: Path) -> int:
    try:
        return len((folder / EPOCHS_FILE).read_bytes().splitlines())
    except OSError:
        return 0


@pytest.mark.slow
def test_a_train_process_killed_in_its_last_epoch_resumes_from_its_folders_checkpoint(tmp_path):
    from cnn_gui.cli import main
    from cnn_gui.core.files.checkpoints import load_checkpoint

    runs = tmp_path / "runs"
    log = (tmp_path / "train.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_gui", "train", "--epochs", "3", "--max-batches", "3", "--batch-size", "50",
         "--precision", "fp32", "--device", "cpu", "--quiet", "--runs-dir", str(runs),
         "--out", str(tmp_path / "never.safetensors")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        folder = None
        while time.monotonic() < deadline and proc.poll() is None:
            folders = [p for p in runs.iterdir() if p.is_dir()] if runs.is_dir() else []
            folder = folders[0] if folders else None
            if folder is not None and _epoch_lines(folder) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)  # in epoch 3 (its 10,000-image test pass takes seconds)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    assert folder is not None and not (tmp_path / "never.safetensors").exists()
    listed = _epoch_lines(folder)
    run = read_run(folder)
    assert run.status == "interrupted" and run.checkpoint == folder / CHECKPOINT_FILE
    assert [e["epoch"] for e in run.epochs] == list(range(1, listed + 1)) and listed >= 2
    meta = load_checkpoint(run.checkpoint).meta
    assert meta.epoch == listed and [h["epoch"] for h in meta.history] == list(range(1, listed + 1))
    if listed == 3:
        pytest.skip("epoch 3 ended before the kill: nothing left to resume")

    out = tmp_path / "resumed.safetensors"
    assert main(["train", "--resume", str(run.checkpoint), "--runs-dir", str(runs), "--out", str(out),
                 "--device", "cpu", "--quiet"]) == 0
    resumed = next(r for r in list_runs(runs) if r.folder != folder)
    assert resumed.status == "finished" and [e["epoch"] for e in resumed.epochs] == [3]
    assert resumed.info["resumed_from"] == str(run.checkpoint)
    assert load_checkpoint(out).meta.epoch == 3


# --------------------------------------------------------------------------- 2. JSON that cannot escape


@pytest.mark.parametrize("text, why", [
    (DEEP, "nested too deeply"),
    (SHALLOW_DEEP, f"more than {MAX_DEPTH} levels"),
    ('{"a": 1e999}', "too large to be finite"),
    ('{"a": NaN}', "NaN"),
    ('{"a": -Infinity}', "-Infinity"),
    ('{"a": ' + "9" * 5000 + "}", "5,000 digits"),
    ('{"a": ' + "9" * 30 + "}", "30 digits"),
    (b'{"a": "\xff"}', "not UTF-8"),
    ("{broken", "not valid JSON"),
])
def test_the_run_json_parser_refuses_what_breaks_the_code_after_it_in_one_line(text, why):
    started_at = time.perf_counter()
    with pytest.raises(RunsError) as info:
        load_json(text, "run.json")
    assert why in str(info.value) and "\n" not in str(info.value) and len(str(info.value)) <= 300
    assert time.perf_counter() - started_at < 1.0
    assert load_json('{"a": [1, 2.5, {"b": null}], "c": -9223372036854775807}', "x")["c"] == -(2**63 - 1)


HOSTILE_INFO = {
    "deep": lambda doc: DEEP,
    "deep-config": lambda doc: json.dumps({**doc, "config": {}})[:-1] + ', "x": ' + SHALLOW_DEEP + "}",
    "duration-1e999": lambda doc: json.dumps(doc).replace('"duration_seconds": 3.0', '"duration_seconds": 1e999'),
    "nan-seed": lambda doc: json.dumps(doc).replace('"seed": 1', '"seed": NaN'),
    "huge-pid": lambda doc: json.dumps(doc).replace(f'"pid": {doc["pid"]}', '"pid": ' + "7" * 4000),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_INFO))
def test_a_hostile_run_json_reads_as_unreadable_through_every_entry_point(tmp_path, case):
    folder = finished_run(tmp_path)
    doc = json.loads((folder / RUN_FILE).read_text())
    text = HOSTILE_INFO[case](doc)
    assert text != json.dumps(doc)
    (folder / RUN_FILE).write_text(text)

    run = finishes(lambda: read_run(folder, steps=True))
    assert run.status == "unreadable" and run.problem and "\n" not in run.status_text
    (listed,) = finishes(lambda: list_runs(tmp_path))
    assert listed.status == "unreadable" and listed.problem == run.problem
    index = RunsIndex(tmp_path)
    assert finishes(index.refresh) and index.runs[0].status == "unreadable"
    with pytest.raises(RunsError) as info:
        finishes(lambda: rename_run(folder, "new name"))
    assert "cannot rename" in str(info.value) and "\n" not in str(info.value)
    assert (folder / RUN_FILE).read_text() == text  # untouched
    with pytest.raises(RunsError, match="cannot export"):
        finishes(lambda: run_metrics_csv(folder, tmp_path / "m.csv"))
    assert not (tmp_path / "m.csv").exists()
    assert finishes(lambda: RunFollower(folder).poll()).epochs  # the epochs themselves are fine
    finishes(lambda: delete_run(folder))  # a broken run can always be deleted
    assert not folder.exists()


def test_a_megabyte_name_is_shown_as_one_short_line(tmp_path):
    folder = finished_run(tmp_path)
    doc = json.loads((folder / RUN_FILE).read_text())
    (folder / RUN_FILE).write_text(json.dumps({**doc, "name": "evil\n\x1b[2J" * 60_000}))
    run = finishes(lambda: read_run(folder))
    assert run.status == "finished" and len(run.name) <= 200 and "\n" not in run.name and "\x1b" not in run.name


def test_the_writer_meets_a_hostile_run_json_without_failing_the_training(tmp_path):
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=lambda p: Path(p).write_bytes(b"w"))
    w(started())
    (w.folder / RUN_FILE).write_text(DEEP)  # "renamed" by someone meanwhile
    feed_epoch(w, 1)
    w(FitEnded("completed", 1, BPE, 3.0, 0.9))  # rereads run.json for a new name: must not raise
    assert w.error is None and read_run(w.folder).status == "finished"


def test_hostile_lines_in_epochs_and_steps_are_skipped_by_reader_follower_and_export(tmp_path):
    folder = finished_run(tmp_path)
    hostile = [DEEP, SHALLOW_DEEP, '{"epoch": 3, "test_accuracy": 1e999}', '{"epoch": 3, "lr": NaN}',
               '{"epoch": ' + "9" * 5000 + "}", '{"step": 1e999}']
    for name in (EPOCHS_FILE, STEPS_FILE):
        with open(folder / name, "a") as f:
            f.write("\n".join(hostile) + "\n")
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write(epoch_line(3))

    run = finishes(lambda: read_run(folder, steps=True))
    assert run.status == "finished" and [e["epoch"] for e in run.epochs] == [1, 2, 3]
    assert run.skipped_lines == 2 * len(hostile) and [s["step"] for s in run.steps][-1] == 2 * BPE
    update = finishes(RunFollower(folder).poll)
    assert [e["epoch"] for e in update.epochs] == [1, 2, 3] and update.steps
    out = finishes(lambda: run_metrics_csv(folder, tmp_path / "m.csv"))
    assert len(out.read_text().splitlines()) > 3
    assert finishes(lambda: rename_run(folder, "renamed")).name == "renamed"


# --------------------------------------------------------------------------- 3. symbolic links


def _linked_run(tmp_path):
    """A run folder outside the runs folder, and the runs folder's link to it."""
    outside, runs = tmp_path / "outside", tmp_path / "runs"
    runs.mkdir()
    real = finished_run(outside)
    link = runs / real.name
    try:
        link.symlink_to(real, target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not allowed here")
    return real, link


def test_rename_and_delete_refuse_a_run_folder_that_is_a_symbolic_link(tmp_path):
    real, link = _linked_run(tmp_path)
    before = (real / RUN_FILE).read_bytes()
    for action in (lambda: rename_run(link, "through the link"), lambda: delete_run(link)):
        with pytest.raises(RunsError) as info:
            action()
        assert "is a symbolic link" in str(info.value) and "\n" not in str(info.value)
    assert (real / RUN_FILE).read_bytes() == before and link.is_symlink()
    assert sorted(p.name for p in real.iterdir()) == sorted([RUN_FILE, EPOCHS_FILE, STEPS_FILE, CHECKPOINT_FILE])


def test_rename_and_delete_refuse_a_run_json_that_links_out_of_its_folder(tmp_path):
    runs = tmp_path / "runs"
    folder = finished_run(runs)
    outside = tmp_path / "someone-elses.json"
    outside.write_bytes((folder / RUN_FILE).read_bytes())
    (folder / RUN_FILE).unlink()
    try:
        (folder / RUN_FILE).symlink_to(outside)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not allowed here")
    before = outside.read_bytes()
    for action in (lambda: rename_run(folder, "through the link"), lambda: delete_run(folder)):
        with pytest.raises(RunsError, match="run.json in .* is a symbolic link"):
            action()
    assert outside.read_bytes() == before and (folder / RUN_FILE).is_symlink() and folder.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file outside


# --------------------------------------------------------------------------- 4. huge lines


class CountingReads:
    """records.open_regular that counts the bytes read through it."""

    def __init__(self, monkeypatch):
        self.bytes = 0
        real = records.open_regular
        counter = self

        class Counted:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def seek(self, offset):
                return self.f.seek(offset)

            def read(self, n):
                data = self.f.read(n)
                counter.bytes += len(data)
                return data

        monkeypatch.setattr(records, "open_regular", lambda path, *a: Counted(real(path, *a)))


BIG = 17_000_000


def test_an_epoch_after_a_17_mb_line_is_read_and_the_line_skipped(tmp_path):
    folder = finished_run(tmp_path, epochs=1)
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write('{"epoch": 9, "junk": "' + "x" * BIG + '"}\n')
        f.write(epoch_line(2))
    t0 = time.perf_counter()
    run = finishes(lambda: read_run(folder))
    assert [e["epoch"] for e in run.epochs] == [1, 2] and run.skipped_lines == 1
    assert time.perf_counter() - t0 < 3.0


def test_the_follower_reads_a_17_mb_line_once_and_goes_on_past_it(tmp_path, monkeypatch):
    folder = finished_run(tmp_path, epochs=1)
    follower = RunFollower(folder)
    assert [e["epoch"] for e in follower.poll().epochs] == [1]
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write('{"epoch": 9, "junk": "' + "x" * BIG + '"}\n')
        f.write(epoch_line(2))
    counting = CountingReads(monkeypatch)
    found = []
    for _ in range(3):
        found += [e["epoch"] for e in finishes(follower.poll).epochs]
    assert found == [2]
    assert BIG <= counting.bytes < BIG + 100_000, counting.bytes  # read once, not at every poll

    # A line that grows past the limit while it is followed: skipped as it grows, never re-read.
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write('{"epoch": 9, "junk": "' + "y" * 3_000_000)
    counting.bytes = 0
    assert not finishes(follower.poll).epochs
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write("y" * 3_000_000 + '"}\n' + epoch_line(3))
    assert [e["epoch"] for e in finishes(follower.poll).epochs] == [3]
    assert not finishes(follower.poll)
    assert counting.bytes < 6_000_000 + 100_000, counting.bytes


@pytest.mark.parametrize("line", [b"x\n", b"\n", b"{}\n", epoch_line(1).encode()])
def test_millions_of_short_lines_are_read_in_bounded_time(tmp_path, line):
    folder = finished_run(tmp_path, epochs=1)
    (folder / EPOCHS_FILE).write_bytes(line * (16_000_000 // len(line)))  # 16 MB: up to 16 million lines
    (folder / STEPS_FILE).write_bytes(line * (16_000_000 // len(line)))
    run = finishes(lambda: read_run(folder, steps=True), 5.0)  # took 34 s for "x" lines before
    assert run.status == "finished" and len(run.epochs) <= 1
    follower = RunFollower(folder)
    for _ in range(3):
        finishes(follower.poll, 5.0)  # each poll: a bounded number of lines, then the rest next time


def test_a_half_written_line_is_not_read_again_while_nothing_is_appended(tmp_path, monkeypatch):
    folder = finished_run(tmp_path, epochs=1)
    follower = RunFollower(folder)
    follower.poll()
    half = epoch_line(2)[:-10]
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write(half)  # the writer is mid-line
    counting = CountingReads(monkeypatch)
    for _ in range(3):
        assert not follower.poll()
    assert counting.bytes == len(half)  # read once: a poll that finds the same size reads nothing
    with open(folder / EPOCHS_FILE, "a") as f:
        f.write(epoch_line(2)[-10:])
    assert [e["epoch"] for e in follower.poll().epochs] == [2]


# --------------------------------------------------------------------------- 5. /dev/zero and FIFOs


@posix_only
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_run_files_linked_to_dev_zero_are_refused_at_once(tmp_path):
    folder = finished_run(tmp_path)
    for name in (EPOCHS_FILE, STEPS_FILE):
        (folder / name).unlink()
        (folder / name).symlink_to("/dev/zero")
    follower = RunFollower(folder)
    assert not finishes(follower.poll)
    run = finishes(lambda: read_run(folder, steps=True))
    assert run.status == "finished" and run.epochs == [] and run.steps == []
    (folder / RUN_FILE).unlink()
    (folder / RUN_FILE).symlink_to("/dev/zero")
    run = finishes(lambda: read_run(folder))
    assert run.status == "unreadable" and "character device" in run.problem
    (listed,) = finishes(lambda: list_runs(tmp_path))
    assert listed.status == "unreadable"
    assert not finishes(RunFollower(folder).poll)
    with pytest.raises(RunsError, match="symbolic link"):
        finishes(lambda: rename_run(folder, "x"))


@posix_only
@pytest.mark.parametrize("name", [RUN_FILE, EPOCHS_FILE, STEPS_FILE])
def test_a_fifo_in_a_run_folder_blocks_no_entry_point(tmp_path, name):
    folder = finished_run(tmp_path)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    run = finishes(lambda: read_run(folder, steps=True))
    (listed,) = finishes(lambda: list_runs(tmp_path))
    assert finishes(RunsIndex(tmp_path).refresh)
    finishes(RunFollower(folder).poll)
    if name == RUN_FILE:
        assert run.status == "unreadable" and "FIFO" in run.problem and listed.status == "unreadable"
        with pytest.raises(RunsError, match="FIFO"):
            finishes(lambda: rename_run(folder, "x"))
        with pytest.raises(RunsError, match="FIFO"):
            finishes(lambda: run_metrics_csv(folder, tmp_path / "m.csv"))
    else:
        assert run.status == "finished" and listed.status == "finished"
        assert finishes(lambda: rename_run(folder, "x")).name == "x"
        finishes(lambda: run_metrics_csv(folder, tmp_path / "m.csv"))
    finishes(lambda: delete_run(folder))
    assert not folder.exists()


def test_a_full_disk_at_an_epochs_checkpoint_is_an_oserror_too(tmp_path):
    """A save_checkpoint that raises a bare OSError (not wrapped) is handled the same way."""

    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    w = RunWriter(tmp_path, CONFIG, save_checkpoint=full)
    w(started(1))
    feed_epoch(w, 1)
    assert w.error and "No space left on device" in w.error
    w(FitEnded("completed", 1, BPE, 1.0, 0.9))
    run = read_run(w.folder)
    assert run.status == "finished" and run.checkpoint is None and "No space left" in run.checkpoint_error


def test_a_step_log_that_cannot_be_written_never_costs_an_epoch_its_checkpoint(tmp_path):
    """The checkpoint is saved before the epoch's steps are flushed: a FIFO steps.jsonl stops the record,
    not the first epoch's checkpoint (a kill then would lose a finished epoch)."""
    save = SavingCheckpoint()
    w = RunWriter(tmp_path, CONFIG, save_checkpoint=save)
    w(started())
    os.mkfifo(w.folder / STEPS_FILE)
    feed_epoch(w, 1)
    assert w.error and "FIFO" in w.error
    assert (w.folder / CHECKPOINT_FILE).read_text() == "save 1"


def test_every_text_field_of_a_run_reads_as_one_short_line(tmp_path):
    folder = finished_run(tmp_path)
    doc = json.loads((folder / RUN_FILE).read_text())
    hostile = "evil\n\x1b[2J\a" * 1_000
    fields = ("model", "dataset", "device", "device_label", "precision", "source", "hostname", "checkpoint_error")
    (folder / RUN_FILE).write_text(json.dumps({**doc, "preset": hostile, **{k: hostile for k in fields}}))
    run = finishes(lambda: read_run(folder))
    for key in ("preset", *fields):
        text = getattr(run, key)
        assert len(text) <= 200 and "\n" not in text and "\x1b" not in text and "\a" not in text, key
