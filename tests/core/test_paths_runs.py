"""A path stays on the machine it names (issue 17, "Paths"), for real: a run on an image folder
under a secret-looking folder, through ``cnn-gui train``, ``export``, ``evaluate`` and
``train --resume``. The checkpoints and exports hold no byte of the path (header and all);
run.json keeps it, and a run's checkpoint finds its folder through it; a checkpoint alone
needs ``--dataset folder:PATH``; a changed folder says so in one line; an old checkpoint
that recorded the absolute path still resumes."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from cnn_gui.cli import main
from cnn_gui.core.data import folder_record, image_folder
from cnn_gui.core.files.checkpoints import METADATA_KEY, load_checkpoint
from cnn_gui.core.runs.reader import list_runs

sys.path.insert(0, str(Path(__file__).parent))
from test_own_images import draw_doodles  # noqa: E402

pytestmark = pytest.mark.slow

TRAIN = ["--epochs", "1", "--batch-size", "8", "--max-batches", "2", "--device", "cpu", "--quiet"]
NET = '''
import torch
from torch import nn


class Net(nn.Module):
    num_classes = 3

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 3))

    def forward(self, x):
        return self.body(x)
'''


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Nothing remembered from other tests; the runs folder and the working directory are the test's."""
    image_folder.clear_cache()
    monkeypatch.setattr(folder_record, "_used", type(folder_record._used)())
    monkeypatch.setenv("CNN_GUI_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    yield
    image_folder.clear_cache()


@pytest.fixture
def home(tmp_path) -> Path:
    """A user's home folder whose name must not travel: the images are in it."""
    home = tmp_path / "home" / "zq-private-name"
    draw_doodles(home / "pictures" / "shapes", train=6, test=2, size=28)
    return home


def _no_path_in(path: Path, *secrets: str) -> None:
    raw = path.read_bytes()
    for secret in secrets:
        assert secret.encode() not in raw, f"{path.name} holds {secret!r}"


def _forget(tmp_path: Path) -> None:
    """As in a new process: no folder remembered, no runs to look through."""
    image_folder.clear_cache()
    folder_record._used.clear()
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)


def _train(home: Path, out: Path, *extra: str) -> Path:
    assert main(["train", "--dataset", f"folder:{home / 'pictures' / 'shapes'}", *TRAIN, "--out", str(out),
                 *extra]) == 0
    (run,) = list_runs()
    return run.folder


def test_checkpoints_and_exports_of_a_folder_run_hold_no_path(home, tmp_path, capsys):
    out = tmp_path / "mine.safetensors"
    run = _train(home, out)
    assert "zq-private-name" not in run.name and run.name.endswith("-mnist-cnn-shapes")
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["dataset"] == f"folder:{(home / 'pictures' / 'shapes').resolve()}"  # the user's machine
    for ckpt in (out, run / "checkpoint.safetensors"):
        _no_path_in(ckpt, str(tmp_path), "zq-private-name")
        meta = load_checkpoint(ckpt).meta
        assert meta.dataset == meta.config["dataset"] == "folder:shapes"
        assert meta.dataset_images == 24 and len(meta.dataset_fingerprint) == 32
    formats = ["pt"] + (["onnx"] if importlib.util.find_spec("onnx") else [])
    for suffix in formats:
        export = tmp_path / f"mine.{suffix}"
        assert main(["export", str(out), "--out", str(export)]) == 0
        _no_path_in(export, str(tmp_path), "zq-private-name")
    from cnn_gui.core.files.export import read_export_metadata

    doc = read_export_metadata(tmp_path / "mine.pt")
    assert (doc["dataset"], doc["dataset_images"]) == ("folder:shapes", 24)
    assert doc["dataset_fingerprint"] == load_checkpoint(out).meta.dataset_fingerprint


def test_a_users_model_file_path_stays_in_run_json(home, tmp_path):
    nets = home / "nets"
    nets.mkdir()
    (nets / "net.py").write_text(NET)
    out = tmp_path / "net.safetensors"
    run = _train(home, out, "--model", f"{nets / 'net.py'}:Net")
    assert "zq-private-name" not in run.name
    for ckpt in (out, run / "checkpoint.safetensors"):
        _no_path_in(ckpt, str(tmp_path), "zq-private-name", "net.py")
        assert load_checkpoint(ckpt).meta.architecture == "user:Net"
    for suffix in ["pt"] + (["onnx"] if importlib.util.find_spec("onnx") else []):
        export = tmp_path / f"net.{suffix}"
        assert main(["export", str(out), "--model", f"{nets / 'net.py'}:Net", "--out", str(export)]) == 0
        _no_path_in(export, str(tmp_path), "zq-private-name", "net.py")
    (listed,) = list_runs()
    assert (listed.model, listed.dataset) == ("user:Net", "folder:shapes")  # what the Runs tab shows
    assert str(nets / "net.py") in listed.model_source and "zq-private-name" in listed.dataset_source


def test_evaluate_and_resume_find_the_folder_through_run_json_or_the_user(home, tmp_path, capsys):
    out = tmp_path / "mine.safetensors"
    run = _train(home, out)
    shared = tmp_path / "shared.safetensors"
    shutil.copy(out, shared)
    folder = home / "pictures" / "shapes"
    kept = tmp_path / "kept-run"
    shutil.copytree(run, kept)
    _forget(tmp_path)  # a new process with no runs folder: only run.json beside the checkpoint knows
    capsys.readouterr()

    assert main(["evaluate", "--checkpoint", str(kept / "checkpoint.safetensors")]) == 0
    assert "on the 6 " in capsys.readouterr().out

    _forget(tmp_path)  # the folder loaded above is remembered in this process: a new one
    assert main(["evaluate", "--checkpoint", str(shared)]) == 2  # a checkpoint alone: say how to give it
    err = capsys.readouterr().err
    assert "image folder 'shapes', 24 images" in err and "--dataset folder:PATH" in err
    assert main(["evaluate", "--checkpoint", str(shared), "--dataset", f"folder:{folder}"]) == 0
    assert "changed" not in capsys.readouterr().out

    assert main(["train", "--resume", str(kept / "checkpoint.safetensors"), "--epochs", "2", "--max-batches", "1",
                 "--device", "cpu", "--quiet", "--no-runs"]) == 0
    _forget(tmp_path)
    assert main(["train", "--resume", str(shared), "--epochs", "2", "--no-runs", "--quiet"]) == 2
    assert "--dataset folder:PATH" in capsys.readouterr().err
    assert main(["train", "--resume", str(shared), "--dataset", f"folder:{folder}", "--epochs", "2",
                 "--max-batches", "1", "--device", "cpu", "--quiet", "--no-runs"]) == 0
    _no_path_in(shared, str(tmp_path), "zq-private-name")  # resumed and saved again: still no path
    assert main(["train", "--resume", str(shared), "--dataset", "mnist", "--no-runs", "--quiet"]) == 2
    assert "only says where its image folder is" in capsys.readouterr().err


def test_a_folder_that_changed_since_training_says_so_in_one_line(home, tmp_path, capsys):
    run = _train(home, tmp_path / "mine.safetensors")
    folder = home / "pictures" / "shapes"
    for i in range(3):
        shutil.copy(folder / "train" / "circle" / "000.png", folder / "train" / "circle" / f"new{i}.png")
    image_folder.clear_cache()
    capsys.readouterr()
    note = "the folder changed since training: 24 images then, 27 now"
    assert main(["evaluate", "--checkpoint", str(run / "checkpoint.safetensors")]) == 0
    assert note in capsys.readouterr().out
    assert main(["train", "--resume", str(run / "checkpoint.safetensors"), "--epochs", "2", "--max-batches", "1",
                 "--device", "cpu", "--quiet", "--no-runs"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if note in line]
    assert len(lines) == 1


def test_an_old_checkpoint_with_the_absolute_path_still_resumes(home, tmp_path, capsys):
    out = tmp_path / "mine.safetensors"
    _train(home, out)
    folder = str((home / "pictures" / "shapes").resolve())
    with safe_open(str(out), "pt") as f:  # as a release before names were recorded wrote it
        doc = json.loads(f.metadata()[METADATA_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    doc["dataset"] = doc["config"]["dataset"] = f"folder:{folder}"
    del doc["dataset_images"], doc["dataset_fingerprint"]
    legacy = tmp_path / "legacy.safetensors"
    save_file(tensors, str(legacy), metadata={METADATA_KEY: json.dumps(doc)})
    _forget(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(legacy)]) == 0
    assert "changed" not in capsys.readouterr().out
    assert main(["train", "--resume", str(legacy), "--epochs", "2", "--max-batches", "1", "--device", "cpu",
                 "--quiet", "--no-runs"]) == 0
    meta = load_checkpoint(legacy).meta  # saved again: now by its name
    assert meta.dataset == "folder:shapes" and meta.dataset_images == 24
    _no_path_in(legacy, str(tmp_path))
