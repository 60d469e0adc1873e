"""A checkpoint is data: no entry point imports a file because a checkpoint names it.

Each test writes ``evil.py`` whose import would create a marker file, then a checkpoint
whose ``architecture`` and ``config.model`` name it (absolute and relative, as the issue
found), and goes through one entry point. The marker must never appear.
"""

from __future__ import annotations

import json
import threading

import pytest
import torch
from safetensors.torch import save_file

from cnn_gui.core.files.checkpoints import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.model.models import CNN, NeedsModelFile, spec_for_architecture

EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("ran")
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
    def forward(self, x):
        return self.fc(x.flatten(1))
"""


@pytest.fixture(params=["absolute", "relative"])
def evil(tmp_path, monkeypatch, request):
    """(checkpoint path, marker path): a checkpoint naming evil.py:Net as its model."""
    marker = tmp_path / "MARKER"
    script = tmp_path / "evil.py"
    script.write_text(EVIL.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    ref = f"{script}:Net" if request.param == "absolute" else "evil.py:Net"
    model = CNN()
    meta = CheckpointMeta(
        architecture="mnist-cnn", input_shape=(1, 28, 28), classes=[str(i) for i in range(10)],
        mean=[0.5], std=[0.5], dataset="mnist", epoch=0, config=TrainConfig().to_dict(), training={"epoch": 0})
    path = save_checkpoint(tmp_path / "evil.safetensors", model, meta)
    # Rewrite the metadata as a hostile file would: the model named as a file to import.
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        doc = json.loads(f.metadata()["cnn_gui"])
    doc["architecture"] = ref
    doc["config"]["model"] = ref
    save_file(tensors, str(path), metadata={"cnn_gui": json.dumps(doc)})
    return path, marker


def test_reading_and_resolving_never_imports(evil):
    path, marker = evil
    ckpt = load_checkpoint(path)
    read_meta(path)
    with pytest.raises(NeedsModelFile) as info:
        spec_for_architecture(ckpt.meta.architecture)
    assert info.value.class_name == "Net"
    assert "evil.py" in str(info.value)  # shown, so the user knows which file it claims
    assert "--model" in info.value.hint
    assert not marker.exists()


def test_trainer_from_checkpoint_never_imports(evil, tmp_path):
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.training.engine import Trainer

    path, marker = evil
    with pytest.raises(NeedsModelFile):
        Trainer.from_checkpoint(load_checkpoint(path), data=load_dataset("mnist").subset(200, 100))
    assert not marker.exists()


@pytest.mark.parametrize("command", [
    ["evaluate", "--checkpoint", "{ckpt}"],
    ["predict", "{image}", "--checkpoint", "{ckpt}"],
    ["train", "--resume", "{ckpt}", "--max-batches", "1"],
])
def test_cli_never_imports(evil, tmp_path, capsys, command):
    from PIL import Image

    from cnn_gui.cli import main

    path, marker = evil
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28), 0).save(image)
    argv = [a.format(ckpt=path, image=image) for a in command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--model path/to/file.py:Net" in err.strip().splitlines()[1] and len(err.strip().splitlines()) == 2  # the hint: a line of its own
    assert not marker.exists()


def test_window_open_asks_and_never_imports(evil, make_window, qtbot):
    path, marker = evil
    window = make_window(load_pretrained=False)
    asked = []
    window.ask_model_file = lambda cls, recorded: asked.append((cls, recorded)) or None  # user cancels
    model_before = window.model
    window.open_checkpoint(path, background=False)
    assert asked and asked[0][0] == "Net" and "evil.py" in asked[0][1]
    assert window.model is model_before and window.errors == []
    assert not marker.exists()


def test_user_model_checkpoint_opens_with_the_file_the_user_chose(tmp_path, make_window, qtbot):
    """The legitimate way: a checkpoint of the user's own class opens once the user picks the file."""
    script = tmp_path / "mine.py"
    script.write_text(EVIL.format(marker=str(tmp_path / "chosen")))
    from cnn_gui.core.model.models import load_user_spec

    spec = load_user_spec(f"{script}:Net")
    (tmp_path / "chosen").unlink()  # loading it was the user's own action; start counting now
    meta = CheckpointMeta(architecture=spec.architecture, input_shape=(1, 28, 28),
                          classes=[str(i) for i in range(10)], mean=[0.5], std=[0.5], dataset="mnist")
    model = spec.factory()
    with torch.no_grad():
        model.fc.weight.fill_(0.25)
    path = save_checkpoint(tmp_path / "mine.safetensors", model, meta)
    assert read_meta(path).architecture == "user:Net"  # the name only, never the path

    window = make_window(load_pretrained=False)
    window.ask_model_file = lambda cls, recorded: str(script)
    with qtbot.waitSignal(window.openFinished, timeout=10000) as opened:  # the file is imported off the GUI thread
        window.open_checkpoint(path, background=False)
    assert opened.args == [True] and window.errors == []
    assert window.spec.name == f"{script}:Net"
    assert torch.all(window.model.fc.weight == 0.25)


def test_a_checkpoints_model_file_that_loops_at_import_never_freezes_the_window(tmp_path, make_window, qtbot,
                                                                                 monkeypatch):
    """Opening a checkpoint of your own class imports the file you choose off the GUI thread, with a bound."""
    import time

    from cnn_gui.gui.flows import checkpoint_flow

    good = tmp_path / "mine.py"
    good.write_text(EVIL.format(marker=str(tmp_path / "chosen")))
    from cnn_gui.core.model.models import load_user_spec

    spec = load_user_spec(f"{good}:Net")
    meta = CheckpointMeta(architecture=spec.architecture, input_shape=(1, 28, 28),
                          classes=[str(i) for i in range(10)], mean=[0.5], std=[0.5], dataset="mnist")
    path = save_checkpoint(tmp_path / "mine.safetensors", spec.factory(), meta)
    looping = tmp_path / "loops.py"
    release = tmp_path / "release"  # the import loops until the test is over, then its thread ends
    looping.write_text(f"import os, time\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.01)\n")
    monkeypatch.setattr(checkpoint_flow, "LOAD_TIMEOUT_S", 1.0)
    window = make_window(load_pretrained=False)
    before = window.model
    window.ask_model_file = lambda cls, recorded: str(looping)
    started = time.monotonic()
    with qtbot.waitSignal(window.openFinished, timeout=10000) as opened:
        window.open_checkpoint(path, background=False)
        assert time.monotonic() - started < 0.5  # the GUI thread is not held by the import
    try:
        assert opened.args == [False] and window.model is before
        assert window.errors and "did not finish importing within 1 s" in window.errors[-1][1]
    finally:
        release.write_text("")
        qtbot.waitUntil(lambda: not any(t.name.endswith("open-model") for t in threading.enumerate()), timeout=5000)
