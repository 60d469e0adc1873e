"""A run that fails before it trains (CIFAR-10 cannot be downloaded, an image folder that
cannot be read, a model that cannot take the data) still leaves its run folder: run.json
with status *failed* and the one-line reason, no checkpoint, no epochs, nothing
half-written (cnn_gui/core/runs/writer.py; ``cnn-gui train`` in cnn_gui/cli.py)."""

import json
import socket

from cnn_gui.cli import main
from cnn_gui.core.events import FitEnded, FitFailed
from cnn_gui.core.runs.layout import CHECKPOINT_FILE, EPOCHS_FILE, RUN_FILE, STEPS_FILE
from cnn_gui.core.runs.reader import list_runs
from cnn_gui.core.runs.writer import RunWriter

CONFIG = {"model": "mnist-cnn", "dataset": "cifar10", "epochs": 3, "batch_size": 100, "seed": 0, "device": "cpu"}


def only_run(runs_dir):
    folders = [p for p in runs_dir.iterdir()]
    assert len(folders) == 1, folders
    folder = folders[0]
    assert sorted(p.name for p in folder.iterdir()) == [RUN_FILE]  # no checkpoint, no epochs, no temporary file
    return folder, json.loads((folder / RUN_FILE).read_text())


def test_a_run_that_fails_before_it_starts_is_recorded_as_failed(tmp_path):
    writer = RunWriter(tmp_path, CONFIG, preset="tutorial", source="gui")
    writer(FitFailed("error", "Cannot download CIFAR-10 from www.cs.toronto.edu: network unreachable.",
                     "Pick another dataset, or check the network connection for a download."))
    writer(FitEnded("failed", 0, 0, 1.25, None))
    assert writer.error is None
    folder, doc = only_run(tmp_path)
    assert writer.folder == folder
    assert doc["status"] == "failed" and doc["end_reason"] == "failed"
    assert doc["error"]["message"].startswith("Cannot download CIFAR-10")
    assert doc["epochs_completed"] == 0 and doc["steps_done"] == 0 and doc["duration_seconds"] == 1.25
    assert doc["dataset"] == "cifar10" and doc["config"] == CONFIG and doc["ended"] and doc["started"]
    assert "checkpoint" not in doc
    (run,) = list_runs(tmp_path)
    assert run.status == "failed" and run.error.startswith("Cannot download CIFAR-10")
    assert run.epochs == [] and run.duration_seconds == 1.25


def test_a_run_stopped_before_it_starts_leaves_nothing(tmp_path):
    writer = RunWriter(tmp_path / "runs", CONFIG)
    writer(FitEnded("stopped", 0, 0, 0.5, None))  # the user's Stop while the data loaded: not a run
    assert writer.folder is None and not (tmp_path / "runs").exists()


def test_an_unwritable_runs_folder_never_hides_the_failure(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    writer = RunWriter(blocked, CONFIG)
    writer.failed_before_training(ValueError("the real reason"), 0.1)  # never raises
    assert writer.folder is None and "cannot write a run" in writer.error


def said(reason, err):
    """The recorded reason is the line the terminal printed (as a sentence there: capital, full stop)."""
    return reason.rstrip(".").lower() in err.lower()


def cli_train(tmp_path, *args):
    runs = tmp_path / "runs"
    code = main(["train", "--epochs", "1", "--max-batches", "1", "--quiet", "--device", "cpu",
                 "--runs-dir", str(runs), "--out", str(tmp_path / "out.safetensors"), *args])
    return code, runs


def test_cli_cifar10_that_cannot_be_downloaded_leaves_a_failed_run(tmp_path, monkeypatch, capsys):
    def refuse(self, address):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("CNN_GUI_DOWNLOAD_TIMEOUT", "2")
    code, runs = cli_train(tmp_path, "--model", "simple-cnn", "--dataset", "cifar10",
                           "--data-dir", str(tmp_path / "data"))
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("cnn-gui: error:")
    folder, doc = only_run(runs)
    assert f"recorded the failed run in {folder}" in out  # where "recording the run in" goes
    assert doc["status"] == "failed" and doc["source"] == "cli" and doc["dataset"] == "cifar10"
    reason = doc["error"]["message"]
    assert "CIFAR" in reason or "cifar" in reason
    assert "\n" not in reason and said(reason, err)
    assert not (tmp_path / "out.safetensors").exists()


def test_cli_a_folder_that_cannot_be_read_leaves_a_failed_run(tmp_path, capsys):
    empty = tmp_path / "no-classes"
    empty.mkdir()
    code, runs = cli_train(tmp_path, "--dataset", f"folder:{empty}")
    assert code == 2
    _, doc = only_run(runs)
    assert doc["status"] == "failed" and doc["error"]["message"]
    assert said(doc["error"]["message"], capsys.readouterr().err)


def test_cli_a_model_that_cannot_take_the_data_leaves_a_failed_run(tmp_path, capsys):
    code, runs = cli_train(tmp_path, "--model", "simple-cnn", "--dataset", "mnist")
    assert code == 2
    _, doc = only_run(runs)
    assert doc["status"] == "failed" and "3x32x32" in doc["error"]["message"]
    assert doc["model"] == "simple-cnn"


def test_cli_usage_errors_are_not_runs(tmp_path):
    code, runs = cli_train(tmp_path, "--resume", str(tmp_path / "missing.safetensors"))
    assert code == 2 and not runs.exists()  # nothing was planned: no run to record


def test_cli_no_runs_writes_no_record(tmp_path):
    empty = tmp_path / "no-classes"
    empty.mkdir()
    code, runs = cli_train(tmp_path, "--dataset", f"folder:{empty}", "--no-runs")
    assert code == 2 and not runs.exists()
