"""What ships: an installed wheel finds the bundled MNIST and the pretrained weights."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
from cnn_gui.core.resources import pretrained_checkpoint, resource_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = out.glob("cnn_gui-*.whl")
    return path


def test_wheel_carries_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("cnn_gui/resources/mnist/train-images-idx3-ubyte.gz",
                   "cnn_gui/resources/mnist/t10k-labels-idx1-ubyte.gz",
                   "cnn_gui/resources/mnist/README.md",
                   "cnn_gui/resources/pretrained/mnist-cnn.safetensors",
                   "cnn_gui/core/training/engine.py", "cnn_gui/gui/main_window.py"):
        assert needed in names, needed


@pytest.mark.slow
def test_installed_wheel_finds_its_resources(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import cnn_gui.core.resources as r, cnn_gui.core.data.datasets as d; "
            "print(r.resources_dir()); print(d.load_dataset('mnist').test_size)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    where, count = result.stdout.split()
    assert Path(where) == tmp_path / "site" / "cnn_gui" / "resources" and count == "10000"


@pytest.mark.slow
def test_pretrained_weights_keep_mnist_at_99_3_percent():
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.training.engine import Trainer

    ckpt = load_checkpoint(pretrained_checkpoint())
    assert ckpt.meta.architecture == "mnist-cnn" and ckpt.meta.history[-1]["test_accuracy"] >= 0.993
    trainer = Trainer(TrainConfig(device="cpu"), data=load_dataset("mnist").subset(100, 3000))
    load_weights_into(trainer.model, ckpt)
    _, accuracy = trainer.evaluate()
    assert accuracy > 0.985  # 3,000 of the test images, read again here (all 10,000: tests/test_cli.py)
    assert resource_path("mnist", "README.md").read_text().count("CC BY-SA 3.0") >= 1
