"""What a file is, by its first bytes, when it is not a checkpoint.

A user who opens the wrong file (the ONNX or TorchScript model cnn-gui exported, a pickle
from ``torch.save``, a plot, a metrics CSV, a run.json) is told what it is, never that it is
"corrupt or truncated". Only the first few kilobytes and, for a zip, its list of names are
read: nothing is unpickled or imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from cnn_gui.core.errors import one_line
from cnn_gui.core.files.checkpoint_meta import CheckpointError

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"
_EXPORT_HINT = ("an export is for running the model elsewhere (ONNX Runtime, torch.jit.load); to see it here, "
                "open the .safetensors checkpoint it was exported from (a run's folder keeps one)")
_SNIFF_BYTES = 4096
_OTHER_FILES = (  # (first bytes, what the file is)
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"kind,epoch,step", "a metrics CSV file"), (b"\x89HDF", "an HDF5 file (Keras?)"),
)


def _zip_kind(f: BinaryIO) -> str:
    """What a zip file is: a TorchScript model (cnn-gui's export, or another), or a torch.save
    pickle archive. Only the zip's list of names is read; nothing is unpickled."""
    import zipfile

    try:
        f.seek(0)
        names = zipfile.ZipFile(f).namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "pickle"
    if any(n.endswith("/extra/cnn_gui.json") for n in names):
        return "a TorchScript model exported by cnn-gui"
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "a TorchScript model"
    return "pickle"


def _looks_like_onnx(start: bytes) -> bool:
    """An ONNX ModelProto: field 1 (ir_version, a small varint) first, then another field of
    the model (producer name, opset, graph...), as every ONNX writer orders them."""
    return (len(start) >= 3 and start[0] == 0x08 and 1 <= start[1] <= 30
            and start[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42))


def not_a_checkpoint(path: Path, f: BinaryIO, head: bytes, pickle_hint: str) -> None:
    """Raise a CheckpointError that says what ``path`` is, when its first bytes tell (an
    export, a pickle, an image...); return when they do not (then it is corrupt)."""
    shown = one_line(path, 150)
    try:
        f.seek(0)
        start = f.read(_SNIFF_BYTES)
    except OSError:
        start = head
    what = None
    if start.startswith(_ZIP_MAGIC):
        what = _zip_kind(f)
    elif start.startswith(_PICKLE_PROTO):
        what = "pickle"
    elif _looks_like_onnx(start):
        what = "an ONNX model exported by cnn-gui" if b"cnn-gui export" in start else "an ONNX model"
    if what == "pickle":
        raise CheckpointError(
            f"{shown} is a PyTorch pickle file (.pt/.pth), which cnn-gui refuses to open because "
            "unpickling can run arbitrary code",
            hint=pickle_hint)
    if what is not None:
        raise CheckpointError(f"{shown} is {what}: an export, not a checkpoint", hint=_EXPORT_HINT)
    for magic, kind in _OTHER_FILES:
        if start.startswith(magic):
            raise CheckpointError(f"{shown} is {kind}, not a checkpoint (a .safetensors file cnn-gui saved)")
    if start[:1] in (b"{", b"["):
        raise CheckpointError(f"{shown} is a JSON text file, not a checkpoint (a .safetensors file cnn-gui saved)")
