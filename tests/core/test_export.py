"""Export to TorchScript and ONNX (cnn_gui/core/export.py): same logits, metadata that round-trips."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
import torch
from torch import nn

from cnn_gui import __version__
from cnn_gui.core.files.checkpoints import CheckpointMeta, load_checkpoint, load_weights_into, save_checkpoint
from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.files.export import (
    ExportError,
    ExportReport,
    export_model,
    export_with_check,
    format_for,
    parity_check,
    parity_images,
    read_export_metadata,
)
from cnn_gui.core.model.models import CNN, ModelSpec
from cnn_gui.core.resources import pretrained_checkpoint


@pytest.fixture(scope="module")
def pretrained():
    ckpt = load_checkpoint(pretrained_checkpoint())
    model = CNN()
    load_weights_into(model, ckpt)
    return ckpt, model.eval()


@pytest.fixture(scope="module")
def mnist_inputs(pretrained):
    """1,000 MNIST test images, normalised with the checkpoint's mean and std."""
    images, what = parity_images(pretrained[0].meta, 1000)
    assert what == "1,000 test images of MNIST handwritten digits"
    return images


def reference(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(images)


def jit_load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), **kw)


def check_metadata(doc: dict, meta) -> None:
    assert doc["input_shape"] == list(meta.input_shape)
    assert doc["mean"] == list(meta.mean) and doc["std"] == list(meta.std)
    assert doc["classes"] == list(meta.classes)
    assert doc["dataset"] == meta.dataset and doc["architecture"] == meta.architecture
    assert doc["cnn_gui_version"] == __version__
    assert doc["input_name"] == "input" and doc["output_name"] == "logits"


def test_torchscript_reproduces_the_checkpoint(tmp_path, pretrained, mnist_inputs):
    ckpt, model = pretrained
    out = export_model(pretrained_checkpoint(), "torchscript", tmp_path / "mnist.pt")
    loaded = jit_load(out)
    expected = reference(model, mnist_inputs)
    with torch.inference_mode():
        got = loaded(mnist_inputs)
        one = loaded(mnist_inputs[:1])  # the batch size is not baked in
    assert float((got - expected).abs().max()) < 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert float((one - expected[:1]).abs().max()) < 1e-4
    diff, agreement = parity_check(out, model, mnist_inputs)
    assert diff < 1e-4 and agreement == 1.0

    doc = read_export_metadata(out)  # read from the archive, the model not loaded
    check_metadata(doc, ckpt.meta)
    assert doc["source_checkpoint"] == "mnist-cnn.safetensors"
    assert doc["test_accuracy"] == ckpt.meta.history[-1]["test_accuracy"]
    extra = {"cnn_gui.json": ""}
    jit_load(out, _extra_files=extra)  # what a program using TorchScript does
    assert json.loads(extra["cnn_gui.json"]) == doc
    assert not list(tmp_path.glob(".*.tmp"))


def test_onnx_reproduces_the_checkpoint(tmp_path, pretrained, mnist_inputs):
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx extra: pip install -e '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the ONNX check needs onnxruntime: pip install -e '.[onnx]'")
    ckpt, model = pretrained
    out = export_model(pretrained_checkpoint(), "onnx", tmp_path / "mnist.onnx")
    proto = onnx.load(str(out))
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) == 17
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    expected = reference(model, mnist_inputs)
    got = torch.from_numpy(session.run(["logits"], {"input": mnist_inputs.numpy()})[0])
    assert float((got - expected).abs().max()) < 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))
    seven = torch.from_numpy(session.run(["logits"], {"input": mnist_inputs[:7].numpy()})[0])
    assert seven.shape == (7, 10)
    diff, agreement = parity_check(out, model, mnist_inputs)
    assert diff < 1e-4 and agreement == 1.0

    props = {p.key: p.value for p in proto.metadata_props}
    doc = json.loads(props["cnn_gui"])
    check_metadata(doc, ckpt.meta)
    assert read_export_metadata(out) == doc


def test_export_with_check_reports_in_one_line(tmp_path):
    report = export_with_check(pretrained_checkpoint(), "torchscript", tmp_path / "m.pt", n=200)
    assert report.format == "torchscript" and report.size_bytes == (tmp_path / "m.pt").stat().st_size
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4 and report.agreement == 1.0
    text = report.summary()
    assert text.startswith("wrote m.pt (TorchScript, ") and "on 200 test images of MNIST" in text
    assert "same top class for 100.00%" in text and "\n" not in text
    assert report.ok
    assert not ExportReport(report.path, "onnx", 1, 0.5, 0.9, "x").ok  # a different network


class ShapesNet(nn.Module):
    input_shape = (1, 28, 28)
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).amax(dim=(2, 3)))


def shapes_meta() -> CheckpointMeta:
    return CheckpointMeta(architecture="user:ShapesNet", input_shape=(1, 28, 28),
                          classes=["circle", "square", "triangle"], mean=[0.49], std=[0.19],
                          dataset="folder:/home/me/shapes")


def test_a_model_in_memory_exports_and_is_left_as_it_was(tmp_path):
    torch.manual_seed(0)
    model = ShapesNet().train()  # as the window holds it while training
    out = export_model((model, shapes_meta()), None, tmp_path / "shapes.pt", source_name="trained now")
    assert model.training and all(p.requires_grad for p in model.parameters())
    doc = read_export_metadata(out)
    assert doc["classes"] == ["circle", "square", "triangle"] and doc["outputs"] == 3
    assert doc["source_checkpoint"] == "trained now" and "keeping its aspect" in doc["resize"]
    assert doc["preparation"] == {"method": "fit", "ink": ""}  # a folder's: never MNIST's crop-to-ink
    x = torch.randn(5, 1, 28, 28)
    diff, agreement = parity_check(out, model, x)
    assert diff < 1e-5 and agreement == 1.0  # eval mode in the file and in the check
    assert model.training


def test_a_checkpoint_of_your_own_class_needs_its_spec(tmp_path):
    model = ShapesNet()
    path = save_checkpoint(tmp_path / "shapes.safetensors", model, shapes_meta())
    with pytest.raises(CnnGuiError, match="load the file that defines it yourself"):
        export_model(path, "torchscript", tmp_path / "x.pt")
    spec = ModelSpec("shapes.py:ShapesNet", "ShapesNet", (1, 28, 28), 3, "mnist", ShapesNet)
    out = export_model(path, "torchscript", tmp_path / "x.pt", spec=spec)
    assert read_export_metadata(out)["source_checkpoint"] == "shapes.safetensors"


class BakedBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.fc(x.reshape(int(x.shape[0]), -1))  # int(): a constant in a trace


def test_failures_are_one_line_and_leave_no_file(tmp_path):
    meta = CheckpointMeta(architecture="user:BakedBatch", input_shape=(1, 28, 28), classes=[],
                          mean=[0.5], std=[0.5], dataset="mnist")
    target = tmp_path / "keep.pt"
    target.write_bytes(b"an older export")
    with pytest.raises(ExportError, match="other results at batch size 3"):
        export_model((BakedBatch(), meta), "torchscript", target)
    assert target.read_bytes() == b"an older export"
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        export_model((ShapesNet(), shapes_meta()), "torchscript", tmp_path / "folder.pt")
    with pytest.raises(ExportError, match="does not run on a 3x32x32 input"):
        bad = CheckpointMeta(architecture="x", input_shape=(3, 32, 32), classes=[], mean=[0.5], std=[0.5], dataset="")
        export_model((ShapesNet(), bad), "torchscript", tmp_path / "y.pt")


def test_formats_by_name_and_suffix():
    assert format_for("a.onnx") == "onnx" and format_for("a.PT") == "torchscript"
    assert format_for("a.bin", "TorchScript") == "torchscript"
    with pytest.raises(ExportError, match="cannot tell the format from a.bin"):
        format_for("a.bin")
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        format_for("a.onnx", "tflite")
    assert format_for("a.onnx", "onnx") == "onnx"
    with pytest.raises(ExportError, match=r"model\.pt names a torchscript file but the format is onnx: name it \.onnx"):
        format_for("model.pt", "onnx")  # a user's trial wrote ONNX into model.pt


def test_onnx_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ExportError) as err:
        export_model((ShapesNet(), shapes_meta()), "onnx", tmp_path / "m.onnx")
    assert err.value.full_text() == "onnx is not installed ONNX export needs: pip install -e '.[onnx]'"
    assert not (tmp_path / "m.onnx").exists()
