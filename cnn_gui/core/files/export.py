"""A trained model as a file other programs run: ONNX or TorchScript, with its preprocessing.

:func:`export_model` writes the model in eval mode, fp32, on the CPU, with a dynamic batch
dimension, and records in the file what a program needs to feed it: the input shape, the
per-channel mean and std (``x = (pixels / 255 - mean) / std``), the class names, the
dataset, the source checkpoint and the cnn-gui version (:func:`export_metadata`).

- **TorchScript** (``.pt``): ``torch.jit.trace``, the metadata as the extra file
  ``cnn_gui.json`` (``torch.jit.load(f, _extra_files={"cnn_gui.json": ""})``). Tracing
  records one path through ``forward``; the traced module is run again at another batch
  size before it is written, so a size baked into the trace is an error, not a file.
- **ONNX** (``.onnx``, opset 17): the TorchScript-based exporter (``dynamo=False``: the
  default exporter of torch >= 2.9 needs ``onnxscript`` besides ``onnx``, and exports
  these CNNs no better), batch axis ``batch``, input ``input``, output ``logits``; the
  metadata as the JSON value of ``metadata_props["cnn_gui"]``.

Files are written to a temporary file beside the target and renamed, so a failed export
never leaves half a file (:mod:`cnn_gui.core.files.safe_io`; a target such as ``/dev/null``
is refused). :func:`parity_check` runs the written file (onnxruntime, or
``torch.jit.load``) against the PyTorch model on the same inputs. Every failure is one
line: :class:`ExportError`.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Union

import torch
from torch import nn

from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.files.safe_io import atomic_write, open_regular, refuse_irregular

FORMATS = ("onnx", "torchscript")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".pts": "torchscript", ".torchscript": "torchscript"}
OPSET = 17
METADATA_FILE = "cnn_gui.json"  # TorchScript extra file
METADATA_KEY = "cnn_gui"  # ONNX metadata_props key
EXPORT_FORMAT = "cnn-gui-export"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
PARITY_IMAGES = 1000
# fp32 logits of the same network through another runtime differ by ~1e-5 (fused
# BatchNorm, other summation orders); a thousand times more is a different network.
PARITY_TOLERANCE = 1e-3
ONNX_HINT = "ONNX export needs: pip install -e '.[onnx]'"
_TRACE_TOL = 1e-4
# The largest exported file read back: a ResNet-50's ONNX file is ~100 MB, and protobuf
# itself stops at 2 GB.
_MAX_READ_BYTES = 1 << 30

Source = Union[str, os.PathLike, tuple]


class ExportError(CnnGuiError):
    """A model that cannot be exported or checked, in one line."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_with_check` did: the file, and how closely it matches PyTorch."""

    path: Path
    format: str
    size_bytes: int
    max_abs_diff: float | None  # None: the check could not run (see ``check_note``)
    agreement: float | None  # share of inputs with the same top class
    checked_on: str  # "1,000 test images of MNIST handwritten digits"
    check_note: str = ""

    @property
    def ok(self) -> bool:
        """False when the file's logits differ from PyTorch's by more than PARITY_TOLERANCE."""
        return self.max_abs_diff is None or self.max_abs_diff <= PARITY_TOLERANCE

    def summary(self) -> str:
        what = "ONNX" if self.format == "onnx" else "TorchScript"
        size = f"{self.size_bytes / 1e6:.1f} MB" if self.size_bytes >= 100_000 else f"{self.size_bytes / 1e3:.1f} kB"
        head = f"wrote {self.path.name} ({what}, {size})"
        if self.max_abs_diff is None:
            return one_line(f"{head}; not compared with PyTorch: {self.check_note}")
        return one_line(f"{head}; on {self.checked_on} its logits differ from PyTorch's by at most "
                        f"{self.max_abs_diff:.2e}, same top class for {self.agreement:.2%}")


# ----------------------------------------------------------------------------- the model


def format_for(out: str | os.PathLike, fmt: str | None = None) -> str:
    """``fmt`` checked, or the format the file name's suffix names."""
    suffix = Path(out).suffix.lower()
    if fmt is not None:
        key = str(fmt).strip().lower()
        if key not in FORMATS:
            raise ExportError(f"unknown export format {one_line(repr(fmt), 40)}: choose onnx or torchscript")
        if suffix in SUFFIXES and SUFFIXES[suffix] != key:  # an ONNX file named .pt would be opened as TorchScript
            raise ExportError(f"{one_line(Path(out).name, 80)} names a {SUFFIXES[suffix]} file but the format is {key}: "
                              f"name it {'.onnx' if key == 'onnx' else '.pt'}, or leave out the format")
        return key
    if suffix not in SUFFIXES:
        raise ExportError(f"cannot tell the format from {one_line(Path(out).name, 80)}: "
                          "name the file .onnx or .pt, or give the format")
    return SUFFIXES[suffix]


def _model_and_meta(source: Source, spec) -> tuple[nn.Module, object, str]:
    """(model, CheckpointMeta, source name) from a checkpoint path or a (model, meta) pair."""
    if isinstance(source, tuple):
        if len(source) != 2 or not isinstance(source[0], nn.Module):
            raise ExportError("export_model takes a checkpoint path or a (model, CheckpointMeta) pair")
        return source[0], source[1], ""
    from cnn_gui.core.weights import read_checkpoint, resolve_spec, weights_from

    ckpt = read_checkpoint(source)
    if ckpt.is_foreign:
        raise ExportError(f"{one_line(ckpt.path.name, 80)} holds bare weights without an architecture; "
                          "open it in the window with its model, and export from there")
    opened = weights_from(ckpt, resolve_spec(ckpt, current=spec))
    return opened.model, ckpt.meta, ckpt.path.name


def _frozen_copy(model: nn.Module) -> nn.Module:
    """A CPU fp32 eval-mode copy: the caller's model (maybe training, maybe on a GPU) is untouched."""
    module = getattr(model, "_orig_mod", model)  # a torch.compile'd model
    try:
        frozen = copy.deepcopy(module)
    except Exception as exc:  # noqa: BLE001 - a user's module may hold anything
        raise ExportError(f"cannot copy the model to export it: {type(exc).__name__}: {one_line(exc, 120)}") from None
    frozen = frozen.to(device="cpu", dtype=torch.float32).to(memory_format=torch.contiguous_format).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen


def export_metadata(meta, outputs: int, source_name: str = "") -> dict:
    """What the exported file says about its input and output (plain JSON values)."""
    from cnn_gui import __version__

    from cnn_gui.core.data.folder_names import recorded_name
    from cnn_gui.core.weights import Normalization

    c, h, w = (int(v) for v in meta.input_shape)
    history = list(getattr(meta, "history", []) or [])
    prep = Normalization.of_meta(meta).preparation  # the one rule: as the weights were trained
    classes = list(Normalization.of_meta(meta).for_outputs(outputs).classes)  # one name per output
    return {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "architecture": meta.architecture,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_shape": [c, h, w],
        "input": f"float32 [batch, {c}, {h}, {w}] = (pixels / 255 - mean) / std, per channel",
        "channels": "grey" if c == 1 else ("RGB" if c == 3 else f"{c} channels"),
        "mean": [float(v) for v in meta.mean],
        "std": [float(v) for v in meta.std],
        "preparation": prep.to_dict(),
        "resize": prep.describe(),
        "output": f"float32 [batch, {outputs}] logits; softmax gives probabilities",
        "outputs": outputs,
        "classes": classes,
        # A folder by its name, image count and fingerprint, never its path (core/data/folder_names.py).
        "dataset": recorded_name(meta.dataset),
        "dataset_images": int(getattr(meta, "dataset_images", 0) or 0) or None,
        "dataset_fingerprint": getattr(meta, "dataset_fingerprint", "") or None,
        "epoch": int(getattr(meta, "epoch", 0) or 0),
        "test_accuracy": float(history[-1]["test_accuracy"]) if history else None,
        "source_checkpoint": source_name,
        "cnn_gui_version": __version__,
        "torch_version": torch.__version__,
        "exported": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
    }


def export_model(source: Source, fmt: str | None, out: str | os.PathLike, *, spec=None,
                 source_name: str | None = None) -> Path:
    """Write ``source``'s model to ``out`` as ONNX or TorchScript; returns the path.

    ``source``: a checkpoint path (a checkpoint of your own model class needs its
    ``spec``, loaded by you: nothing named in a file is imported), or a ``(model,
    CheckpointMeta)`` pair such as the window holds. ``fmt``: ``"onnx"``,
    ``"torchscript"``, or None to go by ``out``'s suffix (``.onnx``, ``.pt``).
    ``source_name`` is what the file records as its source (default: the checkpoint's
    file name).
    """
    out = Path(out)
    fmt = format_for(out, fmt)
    _check_target(out)  # before the work: a folder or a device there is refused, not exported to
    if fmt == "onnx":
        _require_onnx()
    model, meta, name = _model_and_meta(source, spec)
    frozen = _frozen_copy(model)
    c, h, w = (int(v) for v in meta.input_shape)
    example = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        try:
            expected = frozen(example)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"the model does not run on a {c}x{h}x{w} input: "
                              f"{type(exc).__name__}: {one_line(exc, 120)}") from None
    if not isinstance(expected, torch.Tensor) or expected.dim() != 2 or expected.shape[0] != 2:
        got = tuple(expected.shape) if isinstance(expected, torch.Tensor) else type(expected).__name__
        raise ExportError(f"the model must return logits of shape (batch, classes) to be exported; it returned {got}")
    doc = export_metadata(meta, int(expected.shape[1]), source_name if source_name is not None else name)
    text = json.dumps(doc, allow_nan=False)
    data = _onnx_bytes(frozen, example, text) if fmt == "onnx" else _torchscript_bytes(frozen, example, text)
    _write_atomically(out, data)
    return out


def _torchscript_bytes(model: nn.Module, example: torch.Tensor, text: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.14 marks tracing deprecated; TracerWarnings are checked below
        try:
            traced = torch.jit.trace(model, example, check_trace=False)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"TorchScript tracing failed: {type(exc).__name__}: {one_line(exc, 150)}; "
                              "try --format onnx") from None
    other = torch.randn(3, *example.shape[1:], generator=torch.Generator().manual_seed(1))
    try:
        with torch.inference_mode():
            diff = float((traced(other) - model(other)).abs().max())
    except Exception as exc:  # noqa: BLE001
        diff, detail = float("inf"), f" ({type(exc).__name__}: {one_line(exc, 80)})"
    else:
        detail = ""
    if not diff <= _TRACE_TOL * 10:
        raise ExportError("the traced model gives other results at batch size 3 than the model does"
                          f"{detail}: its forward() depends on its input in a way tracing cannot record; "
                          "try --format onnx")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.save is deprecated" (torch 2.14)
        torch.jit.save(traced, buf, _extra_files={METADATA_FILE: text})
    return buf.getvalue()


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("onnx is not installed", hint=ONNX_HINT) from None
    return onnx


def _onnx_bytes(model: nn.Module, example: torch.Tensor, text: str) -> bytes:
    import inspect

    onnx = _require_onnx()
    kwargs = dict(opset_version=OPSET, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                  dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        try:
            torch.onnx.export(model, (example,), buf, **kwargs)
        except Exception as exc:  # noqa: BLE001 - an unsupported operator, a model the tracer cannot follow
            raise ExportError(f"ONNX export failed: {type(exc).__name__}: {one_line(exc, 180)}") from None
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    proto.doc_string = "cnn-gui export; see metadata_props['cnn_gui'] for the input's preprocessing"
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"the exported ONNX model is not valid: {one_line(exc, 180)}") from None
    return proto.SerializeToString()


def _check_target(out: Path) -> None:
    """ExportError when something that is no regular file (a folder, /dev/null, a FIFO) is at ``out``."""
    shown = one_line(out, 150)
    try:
        if out.is_dir():
            raise ExportError(f"{shown} is a folder; give a file name such as model.onnx")
        refuse_irregular(out)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise ExportError(f"cannot write {shown}: {getattr(exc, 'strerror', None) or exc}") from None


def _write_atomically(out: Path, data: bytes) -> None:
    shown = one_line(out, 150)
    _check_target(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, data)
    except OSError as exc:
        raise ExportError(f"cannot write {shown}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- reading back


def _open_export(path: str | os.PathLike) -> BinaryIO:
    try:
        return open_regular(path, _MAX_READ_BYTES)
    except OSError as exc:
        raise ExportError(f"cannot read {one_line(path, 150)}: {exc.strerror or exc}") from None


def _format_of(f: BinaryIO) -> str:
    head = f.read(4)
    f.seek(0)
    return "torchscript" if head == b"PK\x03\x04" else "onnx"


def file_format(path: str | os.PathLike) -> str:
    """"torchscript" (a zip archive) or "onnx" (anything else), by the file's first bytes."""
    with _open_export(path) as f:
        try:
            return _format_of(f)
        except OSError as exc:
            raise ExportError(f"cannot read {one_line(path, 150)}: {exc.strerror or exc}") from None


def read_export_metadata(path: str | os.PathLike) -> dict:
    """The metadata an exported file carries, read without running or loading the model."""
    shown = one_line(path, 150)
    with _open_export(path) as f:
        try:
            torchscript = _format_of(f) == "torchscript"
        except OSError as exc:
            raise ExportError(f"cannot read {shown}: {exc.strerror or exc}") from None
        text = _torchscript_metadata(f, shown) if torchscript else _onnx_metadata(f, shown)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting: a file from a stranger
        raise ExportError(f"{shown}: its cnn-gui metadata is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{shown}: its metadata is not cnn-gui's")
    return doc


def _torchscript_metadata(f: BinaryIO, shown: str) -> str:
    try:
        with zipfile.ZipFile(f) as z:
            names = [n for n in z.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            if not names:
                raise ExportError(f"{shown} is a TorchScript file without cnn-gui metadata")
            return z.read(names[0]).decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read {shown}: {one_line(exc, 100)}") from None


def _onnx_metadata(f: BinaryIO, shown: str) -> str:
    onnx = _require_onnx()
    try:
        proto = onnx.load_from_string(f.read())  # external data files are never read
    except Exception as exc:  # noqa: BLE001 - DecodeError and friends
        raise ExportError(f"cannot read {shown} as ONNX: {one_line(exc, 100)}") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise ExportError(f"{shown} is an ONNX file without cnn-gui metadata")
    return props[METADATA_KEY]


# ----------------------------------------------------------------------------- parity


def _runner(out: Path):
    """A function from a float32 batch to logits, running the exported file itself."""
    if file_format(out) == "torchscript":
        # A file this module just wrote; TorchScript is code, so never point this at a stranger's file.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated" (torch 2.14)
            try:
                module = torch.jit.load(os.fspath(out), map_location="cpu").eval()
            except Exception as exc:  # noqa: BLE001
                raise ExportError(f"cannot load {one_line(out.name, 80)} to check it: {one_line(exc, 150)}") from None

        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return module(x)

        return run
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("checking the ONNX file needs onnxruntime", hint=ONNX_HINT) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes about thread affinity on a shared machine
    try:
        session = ort.InferenceSession(os.fspath(out), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors
        raise ExportError(f"onnxruntime cannot load {one_line(out.name, 80)}: {one_line(exc, 150)}") from None

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0])

    return run


def parity_check(out: str | os.PathLike, model: nn.Module, images: torch.Tensor,
                 batch_size: int = 250) -> tuple[float, float]:
    """(largest absolute logit difference, share of the same top class) between the file
    ``out`` and ``model`` on ``images`` (float32 [N, C, H, W], normalised as in training).

    ONNX files run in onnxruntime (CPU), TorchScript files through ``torch.jit.load``;
    ``model`` runs as an fp32 eval-mode copy on the CPU.
    """
    images = images.detach().to("cpu", torch.float32).contiguous()
    if images.dim() != 4 or images.shape[0] == 0:
        raise ExportError(f"parity_check needs a non-empty [N, C, H, W] batch, not {tuple(images.shape)}")
    run = _runner(Path(out))
    frozen = _frozen_copy(model)
    worst, same = 0.0, 0
    for start in range(0, images.shape[0], batch_size):
        x = images[start:start + batch_size]
        with torch.inference_mode():
            ref = frozen(x).float()
        try:
            got = run(x).float()
        except Exception as exc:  # noqa: BLE001 - the runtime's own errors
            raise ExportError(f"running {one_line(Path(out).name, 80)} failed: {type(exc).__name__}: "
                              f"{one_line(exc, 150)}") from None
        if got.shape != ref.shape:
            raise ExportError(f"{one_line(Path(out).name, 80)} returned shape {tuple(got.shape)}, "
                              f"the model {tuple(ref.shape)}")
        worst = max(worst, float((got - ref).abs().max()))
        same += int((got.argmax(1) == ref.argmax(1)).sum())
    return worst, same / images.shape[0]


def parity_images(meta, n: int = PARITY_IMAGES, data_dir=None) -> tuple[torch.Tensor, str]:
    """(up to ``n`` test images normalised with ``meta``'s mean and std, what they are).

    The checkpoint's own dataset if it is at hand (never downloaded for this), else MNIST
    for a 1x28x28 model, else seeded random inputs.
    """
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.data.errors import DatasetError

    shape = tuple(int(v) for v in meta.input_shape)
    data = None
    from cnn_gui.core.weights import checkpoint_dataset

    own = checkpoint_dataset(meta)
    for name in dict.fromkeys([own, "mnist"]):
        try:
            candidate = load_dataset(name, data_dir, download=False, input_shape=shape)
        except DatasetError:
            continue
        if tuple(candidate.input_shape) == shape and candidate.test_size:
            data = candidate
            break
    stand_in = " (its own images are not at hand: they check the arithmetic, not what it reads)"
    if data is None:
        images = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
        return images, f"{n:,} random inputs{stand_in}"
    x = data.test_images[:n].to(torch.float32).div_(255.0)
    mean = torch.tensor(list(meta.mean), dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(list(meta.std), dtype=torch.float32).view(-1, 1, 1)
    theirs = data.name == own or (data.name.startswith("folder:") and own.startswith("folder:"))
    return (x - mean) / std, f"{x.shape[0]:,} test images of {data.info.title}{'' if theirs else stand_in}"


def export_with_check(source: Source, fmt: str | None, out: str | os.PathLike, *, spec=None,
                      source_name: str | None = None, n: int = PARITY_IMAGES, data_dir=None) -> ExportReport:
    """:func:`export_model`, then :func:`parity_check` on :func:`parity_images`: what the
    CLI and the window run. A check that cannot run (onnxruntime missing) is reported in
    ``check_note``, not raised: the file is written and fine."""
    model, meta, name = _model_and_meta(source, spec)
    path = export_model((model, meta), fmt, out, source_name=source_name if source_name is not None else name)
    fmt = format_for(path, fmt)
    size = path.stat().st_size
    images, what = parity_images(meta, n, data_dir)
    try:
        diff, agreement = parity_check(path, model, images)
    except ExportError as exc:
        return ExportReport(path, fmt, size, None, None, what, exc.full_text())
    return ExportReport(path, fmt, size, diff, agreement, what)
