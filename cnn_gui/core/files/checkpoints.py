"""Checkpoints: one ``.safetensors`` file holds a whole resumable session.

The file holds the model's weights (``model.<name>``), the optimizer's per-parameter
tensors (``optim.<param_index>.<key>``) and, in the safetensors header's ``__metadata__``,
one key ``"cnn_gui"`` with a JSON document: the :class:`CheckpointMeta` fields plus the
optimizer's non-tensor state (its ``param_groups`` and plain-number state entries).

A checkpoint is data, never code: nothing here unpickles (no ``torch.load``, no
``pickle``). A PyTorch ``.pt``/``.pth`` file is recognised by its first bytes and refused
with a sentence on how to convert it. Other files a user may pick by mistake are named for
what they are, by their first bytes (:mod:`~cnn_gui.core.files.file_kinds`), never called "corrupt":
an ONNX or a TorchScript model (cnn-gui's own exports among them: "an export, not a
checkpoint"), an image, a metrics CSV, a JSON file. A plain safetensors file of weights from elsewhere
("foreign") opens as weights only, with an unknown architecture, so that
:func:`load_weights_into` can still check it against the model.

``safetensors`` is imported inside the functions that need it, to keep start-up fast.
"""

from __future__ import annotations

import json
import os
import platform
import struct
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import torch
from torch import nn

from cnn_gui.core.files.checkpoint_meta import (
    CheckpointError,
    CheckpointMeta,
    optimizer_doc,
    parse_json,
)
from cnn_gui.core.errors import one_line, short_repr
from cnn_gui.core.files.file_kinds import not_a_checkpoint
from cnn_gui.core.files.safe_io import FileTooLargeError, NotRegularFileError, atomic_write, open_regular

METADATA_KEY = "cnn_gui"
MODEL_PREFIX = "model."
OPTIM_PREFIX = "optim."
_GROUP_PART = "groups"  # optim.groups.<group>.<key>: a tensor-valued param_groups entry (rare)
_MAX_HEADER = 100_000_000  # the safetensors reference implementation's own limit
_MAX_TENSORS = 1_000_000
# The largest file cnn-gui opens. Its models are small CNNs for 28x28 and 32x32 images: the
# tutorial's CNN with Adam's state is 27 MB, a ResNet-50 with Adam's state ~300 MB. A bigger
# file is not a model this app can show, and reading it would only cost the user memory.
MAX_CHECKPOINT_BYTES = 1 << 30

_CONVERT_HINT = (
    "to convert a file you trust, run in Python: "
    "import torch; from safetensors.torch import save_file; "
    'save_file(torch.load("FILE", weights_only=True), "model.safetensors")'
)


# --------------------------------------------------------------------------- the checkpoint


@dataclass
class Checkpoint:
    path: Path
    meta: CheckpointMeta
    weights: dict[str, torch.Tensor]  # model state_dict tensors (CPU), names as model.state_dict()
    optimizer_state: dict | None  # torch's optimizer.state_dict() form, or None

    @property
    def is_foreign(self) -> bool:
        """A plain safetensors file without cnn-gui metadata (architecture unknown)."""
        return self.meta.architecture == ""


def _versions() -> dict:
    import safetensors

    from cnn_gui import __version__

    return {
        "cnn_gui": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "safetensors": safetensors.__version__,
    }


def _cpu_tensors(named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors that share no storage (safetensors refuses sharing)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in named.items():
        t = tensor.detach().to("cpu").contiguous()
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        # Tied weights share one storage; a view covers only part of its storage.
        if t.numel() and (ptr in seen or storage.nbytes() != t.numel() * t.element_size()):
            t = t.clone()
            ptr = t.untyped_storage().data_ptr()
        if t.numel():
            seen.add(ptr)
        out[name] = t
    return out


def _jsonable(value: object, where: str) -> object:
    """Lists/dicts/numbers/str/bool/None for JSON; tuples become lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    raise CheckpointError(
        f"cannot save the optimizer setting {where}: a {type(value).__name__} is not a plain value"
    )


def _split_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """torch's optimizer.state_dict() -> (tensors keyed optim.*, a JSON-able document)."""
    if not isinstance(state, dict) or "param_groups" not in state:
        raise CheckpointError("the optimizer state to save is not an optimizer.state_dict()")
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for index, entries in state.get("state", {}).items():
        if not isinstance(index, int):
            raise CheckpointError(f"cannot save optimizer state keyed {index!r}: expected parameter indices")
        plain = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIM_PREFIX}{index}.{key}"] = value
            else:
                plain[key] = _jsonable(value, f"state[{index}][{key!r}]")
        scalars[str(index)] = plain
    groups = []
    tuple_keys = []
    for g, group in enumerate(state["param_groups"]):
        plain = {}
        for key, value in group.items():
            if isinstance(value, torch.Tensor):  # e.g. lr given as a tensor
                tensors[f"{OPTIM_PREFIX}{_GROUP_PART}.{g}.{key}"] = value
            else:
                plain[key] = _jsonable(value, f"param_groups[{g}][{key!r}]")
        groups.append(plain)
        tuple_keys.append(sorted(k for k, v in group.items() if isinstance(v, tuple)))
    doc = {"param_groups": groups, "tuple_keys": tuple_keys, "state": scalars}
    return tensors, doc


def _join_optimizer(doc: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """The inverse of _split_optimizer: a dict ready for optimizer.load_state_dict()."""
    groups = [dict(g) for g in doc["param_groups"]]
    for group, keys in zip(groups, doc.get("tuple_keys", [])):
        for key in keys:
            if isinstance(group.get(key), list):
                group[key] = tuple(group[key])
    state: dict[int, dict] = {int(k): dict(v) for k, v in doc.get("state", {}).items()}
    for name, tensor in tensors.items():
        first, _, rest = name[len(OPTIM_PREFIX):].partition(".")
        if first == _GROUP_PART:
            g, _, key = rest.partition(".")
            groups[int(g)][key] = tensor
        else:
            state.setdefault(int(first), {})[rest] = tensor
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def save_checkpoint(
    path: str | os.PathLike,
    model_or_state: nn.Module | dict[str, torch.Tensor],
    meta: CheckpointMeta,
    optimizer_state: dict | None = None,
) -> Path:
    """Write one ``.safetensors`` file atomically; an existing file is replaced only on success.

    ``meta`` is not changed: its ``versions`` and ``created`` are filled in the file only.
    See :func:`cnn_gui.core.files.safe_io.atomic_write`: a target that is not a regular
    file (``/dev/null``, a FIFO, a folder) is refused before anything is written.
    """
    from safetensors.torch import save as st_save

    path = Path(path)
    if isinstance(model_or_state, nn.Module):
        module = getattr(model_or_state, "_orig_mod", model_or_state)  # torch.compile'd model
        state = module.state_dict()
    else:
        state = model_or_state
    weights = {name: t for name, t in state.items() if isinstance(t, torch.Tensor)}
    named = {MODEL_PREFIX + name: t for name, t in weights.items()}
    doc = replace(
        meta,
        versions=_versions(),
        created=datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
    ).to_dict()
    doc["optimizer"] = None
    if optimizer_state is not None:
        optim_tensors, doc["optimizer"] = _split_optimizer(optimizer_state)
        named.update(optim_tensors)
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot save {one_line(path)}: its metadata is not plain JSON data ({exc})") from exc
    data = st_save(_cpu_tensors(named), metadata={METADATA_KEY: text})

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, data)
    except OSError as exc:
        raise CheckpointError(f"cannot save {one_line(path)}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- loading


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{one_line(path, 120)} is corrupt or truncated ({why}); it cannot be opened as a checkpoint")


def _open_checked(path: Path) -> BinaryIO:
    """The file opened for reading, checked on its descriptor: a regular file within the limit."""
    shown = one_line(path, 150)
    try:
        return open_regular(path, MAX_CHECKPOINT_BYTES)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {shown}") from None
    except NotRegularFileError:
        raise CheckpointError(f"{shown} is not a file, so it cannot be a checkpoint") from None
    except FileTooLargeError as exc:
        raise CheckpointError(
            f"{shown} is {exc.size / 2**30:.1f} GiB; cnn-gui opens checkpoints of up to "
            f"{MAX_CHECKPOINT_BYTES / 2**30:.0f} GiB (its models are small CNNs)") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {shown}: {exc.strerror or exc}") from None


def _read_header(path: Path, f: BinaryIO) -> dict:
    """The parsed and checked safetensors header of the open file ``f``, tensors unread."""
    shown = one_line(path, 150)
    try:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        plausible = 2 <= length <= _MAX_HEADER and 8 + length <= size
        raw = f.read(length) if plausible else b""
    except OSError as exc:
        raise CheckpointError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if size == 0:
        raise _corrupt(path, "the file is empty")
    if not (plausible and raw[:1] == b"{"):
        not_a_checkpoint(path, f, head, _CONVERT_HINT.replace("FILE", path.name))
        if len(head) < 8:
            raise _corrupt(path, f"only {size} bytes")
        raise _corrupt(path, "not a safetensors file: its header length does not fit the file")
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise _corrupt(path, "its header is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, f"its header is not valid JSON: {short_repr(str(exc), 60)}") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "its header is not a JSON object")
    if len(header) > _MAX_TENSORS:
        raise _corrupt(path, f"its header lists {len(header):,} tensors")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            if not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                raise _corrupt(path, "its __metadata__ is not an object of texts")
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
                and offsets[0] <= offsets[1]):
            raise _corrupt(path, f"tensor {short_repr(name)} has no valid data offsets")
        end = max(end, offsets[1])
    data_size = size - 8 - length
    if end != data_size:
        raise _corrupt(path, f"the header describes {end} bytes of tensor data but the file holds {data_size}")
    return header


def _foreign_meta() -> CheckpointMeta:
    return CheckpointMeta(architecture="", input_shape=(0, 0, 0), classes=[], mean=[], std=[], dataset="")


def _cannot_open(path: Path, exc: CheckpointError) -> CheckpointError:
    return CheckpointError(f"cannot open {one_line(path, 120)}: {exc}", hint=exc.hint)


def _parse_doc(path: Path, header: dict) -> dict | None:
    """The cnn_gui JSON document of the header, or None for a foreign safetensors file."""
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        return None
    try:
        doc = parse_json(metadata[METADATA_KEY], "its cnn-gui metadata")
    except CheckpointError as exc:
        raise _cannot_open(path, exc) from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"cannot open {one_line(path, 120)}: its cnn-gui metadata is not a JSON object")
    return doc


def _meta_from_doc(path: Path, doc: dict | None) -> CheckpointMeta:
    if doc is None:
        return _foreign_meta()
    try:
        return CheckpointMeta.from_dict(doc)
    except CheckpointError as exc:
        raise _cannot_open(path, exc) from None


def read_meta(path: str | os.PathLike) -> CheckpointMeta:
    """The metadata only, from the header (cheap); a foreign file has architecture ""."""
    path = Path(path)
    with _open_checked(path) as f:
        header = _read_header(path, f)
    return _meta_from_doc(path, _parse_doc(path, header))


def _non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    return [name for name, t in tensors.items()
            if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all())]


def _map_tensors(path: Path, f: BinaryIO) -> dict[str, torch.Tensor]:
    """The tensors of the file open as ``f`` (already checked), through a memory map."""
    from safetensors.torch import load_file

    # On Linux the open descriptor's own name: the very file checked, even if the path
    # was swapped for a FIFO meanwhile. Elsewhere the path, and a check that it still
    # names the same file.
    own = f"/proc/self/fd/{f.fileno()}"
    source = own if os.path.exists(own) else path
    try:
        tensors = load_file(source, device="cpu")
        if source is path and not os.path.samestat(os.fstat(f.fileno()), os.stat(path)):
            raise CheckpointError(f"{one_line(path, 150)} was replaced while it was being opened")
    except CheckpointError:
        raise
    except OSError as exc:
        raise CheckpointError(f"cannot read {one_line(path, 150)}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - SafetensorError, or anything else a damaged file provokes
        raise _corrupt(path, f"{type(exc).__name__}: {short_repr(str(exc), 80)}") from None
    return tensors


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open a checkpoint (or a plain safetensors weights file) without running any code from it.

    Every metadata field is checked once here (see :mod:`cnn_gui.core.files.checkpoint_meta`),
    tensors are read through a memory map (the file is never held twice in memory), and
    weights or optimizer state holding NaN or infinity are refused.
    """
    path = Path(path)
    with _open_checked(path) as f:
        header = _read_header(path, f)
        doc = _parse_doc(path, header)
        meta = _meta_from_doc(path, doc)
        optim_doc = None
        if doc is not None:
            try:
                optim_doc = optimizer_doc(doc.get("optimizer"))
            except CheckpointError as exc:
                raise _cannot_open(path, exc) from None
        tensors = _map_tensors(path, f)
    bad = _non_finite(tensors)
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        where = f"{short_repr(bad[0], 60)}{more}"
        if all(name.startswith(OPTIM_PREFIX) for name in bad):  # the weights are finite: damage, not divergence
            raise CheckpointError(f"{one_line(path, 120)} holds NaN or infinite values in its optimizer state "
                                  f"({where}): the file is damaged", hint="open an earlier checkpoint, or the run's "
                                  "last snapshot in the window's time slider")
        raise CheckpointError(
            f"{one_line(path, 120)} holds NaN or infinite values in {where}: "
            "these weights cannot predict anything", hint="train again from a checkpoint saved before the loss diverged")
    if doc is None:
        return Checkpoint(path=path, meta=meta, weights=tensors, optimizer_state=None)

    weights = {k[len(MODEL_PREFIX):]: t for k, t in tensors.items() if k.startswith(MODEL_PREFIX)}
    optimizer_state = None
    if optim_doc is not None:
        optim_tensors = {k: t for k, t in tensors.items() if k.startswith(OPTIM_PREFIX)}
        try:
            optimizer_state = _join_optimizer(optim_doc, optim_tensors)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                f"{one_line(path, 120)} has a malformed optimizer state ({type(exc).__name__}: {short_repr(str(exc), 60)})"
            ) from None
    return Checkpoint(path=path, meta=meta, weights=weights, optimizer_state=optimizer_state)


# --------------------------------------------------------------------------- into a model


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _listed(label: str, items: list[str], limit: int = 2) -> str:
    shown = ", ".join(items[:limit])
    more = f", … {len(items) - limit} more" if len(items) > limit else ""
    return f"{len(items)} {label} ({shown}{more})"


def load_weights_into(model: nn.Module, checkpoint: Checkpoint) -> None:
    """Copy the checkpoint's weights into ``model``, or raise CheckpointError leaving it unchanged.

    Every name and shape is checked before anything is copied.
    """
    module = getattr(model, "_orig_mod", model)
    expected = module.state_dict()
    weights = checkpoint.weights
    missing = [k for k in expected if k not in weights]
    unexpected = sorted(k for k in weights if k not in expected)
    mismatched = []
    cast: dict[str, torch.Tensor] = {}
    for name, target in expected.items():
        if name not in weights:
            continue
        source = weights[name]
        if not isinstance(target, torch.Tensor):
            cast[name] = source
            continue
        if tuple(source.shape) != tuple(target.shape):
            mismatched.append(f"{name}: file has {_shape(source)}, model expects {_shape(target)}")
        elif source.is_floating_point() != target.is_floating_point() or source.is_complex() != target.is_complex():
            mismatched.append(f"{name}: file has {source.dtype}, model expects {target.dtype}")
        else:
            cast[name] = source.to(dtype=target.dtype)
    if missing or unexpected or mismatched:
        parts = []
        if mismatched:
            parts.append(_listed("of another shape or type", mismatched, 1))
        if missing:
            parts.append(_listed("missing from the file", missing))
        if unexpected:
            parts.append(_listed("not in the model", unexpected))
        arch = checkpoint.meta.architecture
        source = f" (saved from {short_repr(arch, 60)})" if arch else ""
        raise CheckpointError(
            f"{one_line(checkpoint.path.name, 80)}{source} does not fit this model, which is unchanged: "
            + "; ".join(parts))
    with torch.no_grad():
        module.load_state_dict(cast, strict=True)


def resume_point(meta: CheckpointMeta) -> str:
    """Where a saved session resumes, in words that finish "Resume from ...": "the end of
    epoch 2", or, for a run stopped mid-epoch, "step 216 (epoch 1 of 3, not finished)"
    (never "epoch 0" for a session that did train)."""
    training = meta.training or {}
    epoch, batch, step = (int(training.get(k, 0) or 0) for k in ("epoch", "batch", "step"))
    epoch = epoch or int(meta.epoch or 0)
    if batch > 0:
        planned = meta.train_config.epochs if meta.train_config is not None else None
        of = f" of {planned}" if planned and planned > epoch else ""
        return f"step {step:,} (epoch {epoch + 1}{of}, not finished)"
    return f"the end of epoch {epoch}" if epoch else "the start"
