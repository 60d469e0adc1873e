"""What a new user's trial of the CLI found (2026-12-06): a command never writes over what it
reads or over a file that is not a checkpoint, finds an unwritable --out before the work,
refuses --resume options it would have dropped, and ``evaluate`` scores by class name (its
folder half is in tests/test_cli.py, on the image folder trained there)."""

import shutil

import pytest

from cnn_gui.cli import main
from cnn_gui.core.data.class_match import labelled_as_weights
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.errors import DatasetError

TINY = ["--epochs", "1", "--max-batches", "2", "--batch-size", "20", "--device", "cpu", "--quiet", "--no-runs"]


def _refused(argv, capsys, *words) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err and all(w in err[0] for w in words), captured.err
    assert "epoch 1/1" not in captured.out  # refused before any training
    return err[0]


def test_train_never_writes_over_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    victim = tmp_path / "victim.py"
    victim.write_text("print('my work')\n")
    _refused(["train", *TINY, "--out", str(victim)], capsys, "is there and is not a checkpoint")
    assert victim.read_text() == "print('my work')\n"


def test_an_empty_out_is_refused_not_replaced_by_the_default_name(capsys):
    _refused(["train", *TINY, "--out", ""], capsys, "--out is empty; give a file name")


def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    _refused(["train", *TINY, "--out", str(a_file / "m.safetensors")], capsys, "is a file, not a folder")
    _refused(["train", *TINY, "--out", "/proc/m.safetensors"], capsys, "cannot write in /proc")
    assert not list(tmp_path.glob(".cnn-gui-write-test-*"))


@pytest.mark.slow
def test_export_and_explain_never_replace_what_they_read_and_resume_refuses_recipe_changes(tmp_path, capsys):
    ckpt = tmp_path / "m.safetensors"
    assert main(["train", *TINY, "--out", str(ckpt)]) == 0
    capsys.readouterr()
    before = ckpt.read_bytes()
    _refused(["export", str(ckpt), "--format", "onnx", "--out", str(ckpt)], capsys, "is the file this command reads")
    assert ckpt.read_bytes() == before
    image = tmp_path / "seven.png"
    shutil.copy(ckpt.parent / "m.safetensors", image)  # any file: refused before it is read as an image
    _refused(["explain", str(image), "--checkpoint", str(ckpt), "--out", str(image)], capsys,
             "is the file this command reads")
    for option in (["--lr", "0.5"], ["--batch-size", "10"], ["--optimizer", "sgd"], ["--seed", "4"]):
        line = _refused(["train", "--resume", str(ckpt), "--epochs", "2", "--quiet", "--no-runs", *option], capsys,
                        "--resume continues the saved recipe", option[0])
        assert "train anew" in line
    assert ckpt.read_bytes() == before


def test_a_test_set_is_labelled_by_the_weights_class_names():
    digits = load_dataset("mnist").subset(0, 200)
    assert labelled_as_weights(digits, [str(i) for i in range(10)], "w") is digits
    reversed_names = [str(i) for i in range(9, -1, -1)]  # the same classes, another order
    relabelled = labelled_as_weights(digits, reversed_names, "w")
    assert relabelled.classes == tuple(reversed_names)
    assert (relabelled.test_labels == 9 - digits.test_labels).all()
    assert relabelled.test_size == 200 and relabelled.train_size == 0
    with pytest.raises(DatasetError, match=r"w cannot score mnist: its classes 0, 1, .* are not among the 3 the "
                                           r"weights learned \(circle, square, triangle\)"):
        labelled_as_weights(digits, ["circle", "square", "triangle"], "w")


@pytest.mark.slow
def test_ctrl_c_saves_then_exits_130_as_interrupted_not_0_as_finished(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "cnn_gui", "train", "--epochs", "1", "--batch-size", "32", "--quiet",
                             "--runs-dir", str(runs), "--out", "s.safetensors"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(runs.glob("*/steps.jsonl")):  # training has begun
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)  # a script can tell it from a finished run (0)
    assert "stopped in epoch 1 after batch" in out and "saved s.safetensors" in out and err == "", (out, err)
    assert (tmp_path / "s.safetensors").is_file()


def test_a_streamed_folder_of_other_classes_is_refused_not_misread(tmp_path):
    from types import SimpleNamespace

    streamed = SimpleNamespace(name="folder:/big", classes=("square", "triangle"))  # not in memory
    with pytest.raises(DatasetError, match="is read from disk as it goes: w scores it only when its classes"):
        labelled_as_weights(streamed, ["circle", "square", "triangle"], "w")
    assert labelled_as_weights(streamed, ["square", "triangle"], "w") is streamed  # the same classes: as it is
