"""Files that are not checkpoints say what they are; a hint is a line of its own; a saved
session says where it resumes (issue 17, "Consistent and current")."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnn_gui.cli import main
from cnn_gui.core.files.checkpoint_meta import CheckpointError, CheckpointMeta
from cnn_gui.core.files.checkpoints import load_checkpoint, resume_point
from cnn_gui.core.resources import pretrained_checkpoint


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """cnn-gui's own exports of the pretrained CNN: ONNX (when onnx is installed) and TorchScript."""
    from cnn_gui.core.files.export import export_model

    folder = tmp_path_factory.mktemp("exports")
    made = {"torchscript": export_model(pretrained_checkpoint(), "torchscript", folder / "cnn.pt")}
    try:
        made["onnx"] = export_model(pretrained_checkpoint(), "onnx", folder / "cnn.onnx")
    except Exception:  # noqa: BLE001 - onnx not installed: the TorchScript case still runs
        pass
    return made


def _message(path) -> CheckpointError:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    return err.value


def test_cnn_gui_exports_are_named_as_exports_not_corrupt_files(exports):
    if "onnx" not in exports:
        pytest.skip("onnx is not installed")
    for fmt, kind in (("onnx", "an ONNX model exported by cnn-gui"),
                      ("torchscript", "a TorchScript model exported by cnn-gui")):
        err = _message(exports[fmt])
        assert f"is {kind}: an export, not a checkpoint" in err.message, err.message
        assert "corrupt" not in err.message and "safetensors checkpoint" in err.hint


def test_other_exports_pickles_and_everyday_files_say_what_they_are(tmp_path):
    scripted = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(scripted))
    assert "is a TorchScript model: an export, not a checkpoint" in _message(scripted).message
    pickled = tmp_path / "weights.pt"
    torch.save(nn.Linear(2, 2).state_dict(), pickled)
    assert "PyTorch pickle file" in _message(pickled).message
    onnx_like = tmp_path / "model.onnx"  # ir_version 8, then the producer's name: an ONNX model's first bytes
    onnx_like.write_bytes(b"\x08\x08\x12\x07pytorch\x1a\x052.3.0" + bytes(200))
    assert "is an ONNX model: an export, not a checkpoint" in _message(onnx_like).message
    from PIL import Image

    png = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(png)
    assert "is a PNG image, not a checkpoint" in _message(png).message
    js = tmp_path / "run.json"
    js.write_text('{"format": "cnn-gui-run"}')
    assert "is a JSON text file, not a checkpoint" in _message(js).message
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(pretrained_checkpoint().read_bytes()[:5000])
    assert "corrupt or truncated" in _message(truncated).message  # a real checkpoint cut short still is


def test_a_cli_hint_goes_on_a_line_of_its_own(exports, capsys):
    assert main(["export", str(exports["torchscript"]), "--format", "onnx"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("cnn-gui: error: ") and lines[0].endswith("an export, not a checkpoint")
    assert lines[1].startswith("cnn-gui: hint: an export is for running the model elsewhere")


def test_a_hint_that_names_the_program_is_not_prefixed_twice():
    from cnn_gui.core.errors import CnnGuiError, terminal_lines

    lines = terminal_lines(CnnGuiError("load the file yourself", hint="cnn-gui: add --model net.py:Net"))
    assert lines == ["cnn-gui: error: load the file yourself", "cnn-gui: hint: add --model net.py:Net"]
    assert terminal_lines(CnnGuiError("no hint")) == ["cnn-gui: error: no hint"]


def _meta(training: dict, epochs: int = 3, epoch: int = 0) -> CheckpointMeta:
    return CheckpointMeta(architecture="mnist-cnn", input_shape=(1, 28, 28), classes=[], mean=[], std=[],
                          dataset="mnist", epoch=epoch, config={"epochs": epochs}, training=training)


def test_a_session_stopped_mid_epoch_resumes_from_its_step_not_epoch_0():
    assert resume_point(_meta({"epoch": 0, "batch": 216, "step": 216})) == "step 216 (epoch 1 of 3, not finished)"
    assert resume_point(_meta({"epoch": 2, "batch": 0, "step": 2400}, epoch=2)) == "the end of epoch 2"
    assert resume_point(_meta({"epoch": 3, "batch": 5, "step": 3605}, epoch=3)) == "step 3,605 (epoch 4, not finished)"
