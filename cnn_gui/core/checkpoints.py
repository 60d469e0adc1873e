"""Checkpoints: one ``.safetensors`` file holds a whole resumable session.

The file holds the model's weights (``model.<name>``), the optimizer's per-parameter
tensors (``optim.<param_index>.<key>``) and, in the safetensors header's ``__metadata__``,
one key ``"cnn_gui"`` with a JSON document: the :class:`CheckpointMeta` fields plus the
optimizer's non-tensor state (its ``param_groups`` and plain-number state entries).

A checkpoint is data, never code: nothing here unpickles (no ``torch.load``, no
``pickle``). A PyTorch ``.pt``/``.pth`` file is recognised by its first bytes and refused
with a sentence on how to convert it. A plain safetensors file of weights from elsewhere
("foreign") opens as weights only, with an unknown architecture, so that
:func:`load_weights_into` can still check it against the model.

``safetensors`` is imported inside the functions that need it, to keep start-up fast.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

FORMAT = "cnn-gui-checkpoint"
FORMAT_VERSION = 1

METADATA_KEY = "cnn_gui"
MODEL_PREFIX = "model."
OPTIM_PREFIX = "optim."
_GROUP_PART = "groups"  # optim.groups.<group>.<key>: a tensor-valued param_groups entry (rare)
_MAX_HEADER = 100_000_000  # the safetensors reference implementation's own limit
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"

_CONVERT_HINT = (
    "to convert a file you trust, run in Python: "
    "import torch; from safetensors.torch import save_file; "
    'save_file(torch.load("FILE", weights_only=True), "model.safetensors")'
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or opened, in one sentence naming the file."""


# --------------------------------------------------------------------------- metadata


@dataclass
class CheckpointMeta:
    architecture: str  # registry name, e.g. "mnist-cnn" (or "file.py:Class"); "" when unknown
    input_shape: tuple[int, int, int]
    classes: list[str]
    mean: list[float]
    std: list[float]
    dataset: str
    epoch: int = 0  # epochs fully completed
    history: list[dict] = field(default_factory=list)  # one EpochEnded.to_dict() per completed epoch
    config: dict = field(default_factory=dict)  # TrainConfig.to_dict()
    training: dict = field(default_factory=dict)  # opaque resume position from the engine
    scheduler: dict | None = None  # JSON-able LR scheduler state
    versions: dict = field(default_factory=dict)  # filled on save: cnn_gui, torch, python, safetensors
    created: str = ""  # ISO timestamp, filled on save

    def to_dict(self) -> dict:
        values = asdict(self)
        values["input_shape"] = list(self.input_shape)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **values}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "CheckpointMeta":
        try:
            doc = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint metadata is not valid JSON ({exc})") from exc
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: object) -> "CheckpointMeta":
        if not isinstance(doc, dict):
            raise CheckpointError("checkpoint metadata is not a JSON object")
        fmt = doc.get("format", FORMAT)
        if fmt != FORMAT:
            raise CheckpointError(f"checkpoint metadata has format {fmt!r}, not {FORMAT!r}")
        version = doc.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise CheckpointError(f"checkpoint metadata has an invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint format version {version} is newer than this cnn-gui reads "
                f"(up to {FORMAT_VERSION}); update cnn-gui to open it"
            )
        missing = [f.name for f in fields(cls) if f.name in _REQUIRED and f.name not in doc]
        if missing:
            raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}")
        values = {f.name: doc[f.name] for f in fields(cls) if f.name in doc}
        try:
            return cls(**_checked(values))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"checkpoint metadata is malformed ({exc})") from exc


_REQUIRED = ("architecture", "input_shape", "classes", "mean", "std", "dataset")


def _checked(values: dict) -> dict:
    """Check the JSON types of the metadata fields; CheckpointError naming the first bad one."""

    def bad(name: str, want: str) -> CheckpointError:
        return CheckpointError(f"checkpoint metadata field {name!r} must be {want}, not {values[name]!r}")

    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def is_num(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    out = dict(values)
    for name in ("architecture", "dataset", "created"):
        if name in out and not isinstance(out[name], str):
            raise bad(name, "a string")
    shape = out["input_shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(is_int(v) for v in shape)):
        raise bad("input_shape", "three integers [C, H, W]")
    out["input_shape"] = tuple(shape)
    if not (isinstance(out["classes"], list) and all(isinstance(c, str) for c in out["classes"])):
        raise bad("classes", "a list of strings")
    for name in ("mean", "std"):
        if not (isinstance(out[name], list) and all(is_num(v) for v in out[name])):
            raise bad(name, "a list of numbers")
        out[name] = [float(v) for v in out[name]]
    if "epoch" in out and not (is_int(out["epoch"]) and out["epoch"] >= 0):
        raise bad("epoch", "a whole number of at least 0")
    if "history" in out and not (
        isinstance(out["history"], list) and all(isinstance(h, dict) for h in out["history"])
    ):
        raise bad("history", "a list of objects")
    for name in ("config", "training", "versions"):
        if name in out and not isinstance(out[name], dict):
            raise bad(name, "an object")
    if out.get("scheduler") is not None and not isinstance(out["scheduler"], dict):
        raise bad("scheduler", "an object or null")
    return out


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
        text = json.dumps(doc)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot save {path}: its metadata is not plain JSON data ({exc})") from exc
    data = st_save(_cpu_tensors(named), metadata={METADATA_KEY: text})

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    except OSError as exc:
        raise CheckpointError(f"cannot save {path}: {exc.strerror or exc}") from exc
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as tmp:
            tmp_name = tmp.name
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.chmod(tmp_name, mode)  # mkstemp files are 0600; keep what a plain write would give
        except OSError:
            pass
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise CheckpointError(f"cannot save {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows (not on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- loading


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path} is corrupt or truncated ({why}); it cannot be opened as a checkpoint")


def _read_header(path: Path) -> dict:
    """Check the file and return its parsed safetensors header, without reading the tensors."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file, so it cannot be a checkpoint")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            plausible = 2 <= length <= _MAX_HEADER and 8 + length <= size
            raw = f.read(length) if plausible else b""
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise _corrupt(path, "the file is empty")
    if not (plausible and raw[:1] == b"{"):
        if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO):
            raise CheckpointError(
                f"{path} is a PyTorch pickle file (.pt/.pth), which cnn-gui refuses to open because "
                f"unpickling can run arbitrary code; {_CONVERT_HINT.replace('FILE', path.name)}"
            )
        if len(head) < 8:
            raise _corrupt(path, f"only {size} bytes")
        raise _corrupt(path, "not a safetensors file: its header length does not fit the file")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, f"its header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise _corrupt(path, "its header is not a JSON object")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise _corrupt(path, f"tensor {name!r} has no valid data offsets")
        end = max(end, offsets[1])
    data_size = size - 8 - length
    if end != data_size:
        raise _corrupt(path, f"the header describes {end} bytes of tensor data but the file holds {data_size}")
    return header


def _foreign_meta() -> CheckpointMeta:
    return CheckpointMeta(architecture="", input_shape=(0, 0, 0), classes=[], mean=[], std=[], dataset="")


def _parse_doc(path: Path, header: dict) -> dict | None:
    """The cnn_gui JSON document of the header, or None for a foreign safetensors file."""
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        return None
    try:
        doc = json.loads(metadata[METADATA_KEY])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has malformed cnn-gui metadata (not valid JSON: {exc})") from exc
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path} has malformed cnn-gui metadata (not a JSON object)")
    return doc


def _meta_from_doc(path: Path, doc: dict | None) -> CheckpointMeta:
    if doc is None:
        return _foreign_meta()
    try:
        return CheckpointMeta.from_dict(doc)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot open {path}: {exc}") from exc


def read_meta(path: str | os.PathLike) -> CheckpointMeta:
    """The metadata only, from the header (cheap); a foreign file has architecture ""."""
    path = Path(path)
    header = _read_header(path)
    return _meta_from_doc(path, _parse_doc(path, header))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open a checkpoint (or a plain safetensors weights file) without running any code from it."""
    from safetensors.torch import load as st_load

    path = Path(path)
    header = _read_header(path)
    doc = _parse_doc(path, header)
    meta = _meta_from_doc(path, doc)
    try:
        tensors = st_load(path.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # SafetensorError, or anything else a damaged file provokes
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc
    if doc is None:
        return Checkpoint(path=path, meta=meta, weights=tensors, optimizer_state=None)

    weights = {k[len(MODEL_PREFIX):]: t for k, t in tensors.items() if k.startswith(MODEL_PREFIX)}
    optimizer_state = None
    if doc.get("optimizer") is not None:
        optim_tensors = {k: t for k, t in tensors.items() if k.startswith(OPTIM_PREFIX)}
        try:
            optimizer_state = _join_optimizer(doc["optimizer"], optim_tensors)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} has a malformed optimizer state ({type(exc).__name__}: {exc})"
            ) from exc
    return Checkpoint(path=path, meta=meta, weights=weights, optimizer_state=optimizer_state)


# --------------------------------------------------------------------------- into a model


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _listed(label: str, items: list[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    noun = "weight" if len(items) == 1 else "weights"
    return f"{len(items)} {noun} {label}: {shown}{more}"


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
            parts.append(_listed("with a different shape or type", mismatched))
        if missing:
            parts.append(_listed("missing from the file", missing))
        if unexpected:
            parts.append(_listed("not in the model", unexpected))
        arch = checkpoint.meta.architecture
        source = f"was saved from {arch!r} and " if arch else ""
        raise CheckpointError(
            f"{checkpoint.path} {source}does not fit this model, which was left unchanged. "
            + ". ".join(parts) + "."
        )
    with torch.no_grad():
        module.load_state_dict(cast, strict=True)
