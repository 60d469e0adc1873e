"""What a checkpoint says about itself, and the one place where that is checked.

A checkpoint's header is data from anywhere: a file a stranger sent, a file edited by
hand, a file another program wrote. :func:`meta_from_doc` is the boundary: it turns
every field into a typed, range-checked value or raises :class:`CheckpointError`
naming the field (``history[3].test_accuracy must be ...``). Nothing past it checks
again, and nothing past it can meet a string where a number belongs, a NaN, an epoch
of 10^18 or a list nested a thousand deep.

The optimizer's non-tensor state is checked for shape here (plain values, bounded
sizes); whether it fits a model is checked when the weights go into one
(:func:`cnn_gui.core.training.resume.check_session_fits`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

from cnn_gui.core.config import MAX_BATCHES_PER_EPOCH, MAX_EPOCHS, ConfigError, TrainConfig
from cnn_gui.core.errors import CnnGuiError, short_repr
from cnn_gui.core.model.models import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIDE

FORMAT = "cnn-gui-checkpoint"
FORMAT_VERSION = 1

MAX_TEXT = 300  # architecture, dataset, a class name
MAX_PLAIN_DEPTH = 4  # scheduler and optimizer values: lists of dicts of numbers at most
MAX_PLAIN_ITEMS = 10_000
MAX_PARAM_GROUPS = 100
MAX_PARAMETERS = 1_000_000  # parameter tensors, not numbers
MAX_COUNT = 10**15  # samples seen, steps: far beyond any real run, far below float trouble
MAX_FINGERPRINT = 128  # hex digits of dataset_fingerprint (blake2b's longest digest)


class CheckpointError(CnnGuiError):
    """A checkpoint that cannot be saved or opened, in one line naming the file or field."""


class _Bad(Exception):
    """Internal: a field that failed, with its path; becomes a CheckpointError."""

    def __init__(self, where: str, want: str, value: object) -> None:
        super().__init__(where, want, value)
        self.where, self.want, self.value = where, want, value


@dataclass
class CheckpointMeta:
    architecture: str  # registry name ("mnist-cnn") or "user:ClassName"; "" for a foreign file
    input_shape: tuple[int, int, int]
    classes: list[str]
    mean: list[float]
    std: list[float]
    dataset: str
    epoch: int = 0  # epochs fully completed
    history: list[dict] = field(default_factory=list)  # one EpochEnded.to_dict() per completed epoch
    config: dict = field(default_factory=dict)  # TrainConfig.to_dict(), or {} for weights only
    training: dict = field(default_factory=dict)  # the engine's Position.to_dict(), or {}
    scheduler: dict | None = None  # JSON-able LR scheduler state
    versions: dict = field(default_factory=dict)  # filled on save: cnn_gui, torch, python, safetensors
    created: str = ""  # ISO timestamp, filled on save
    # How an image is made into an input: {"method": "digit"|"fit", "ink": "light"|"dark"|""}
    # (core/inputs/preparation.py); {} in files from before it was recorded.
    preparation: dict = field(default_factory=dict)
    frozen: list[str] = field(default_factory=list)  # parameter names the user froze (not trained)
    # A folder dataset is recorded as "folder:<its name>", never its path (core/data/folder_names.py),
    # with these to know it again: its images (train + test) and their fingerprint (hex); 0 and "" else.
    dataset_images: int = 0
    dataset_fingerprint: str = ""

    def to_dict(self) -> dict:
        from cnn_gui.core.data.folder_names import recorded_name

        values = asdict(self)
        values["input_shape"] = list(self.input_shape)
        values["dataset"] = recorded_name(self.dataset)  # a path in memory never reaches a file
        if "dataset" in values["config"]:
            values["config"]["dataset"] = recorded_name(values["config"]["dataset"])
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **values}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "CheckpointMeta":
        return meta_from_doc(parse_json(text, "checkpoint metadata"))

    @classmethod
    def from_dict(cls, doc: object) -> "CheckpointMeta":
        return meta_from_doc(doc)

    @property
    def train_config(self) -> TrainConfig | None:
        """The checked training config, or None for a weights-only file."""
        return TrainConfig.from_dict(self.config) if self.config else None


def parse_json(text: object, what: str) -> object:
    """json.loads that fails as one CheckpointError (deep nesting and 5,000-digit numbers too)."""
    if not isinstance(text, str):
        raise CheckpointError(f"{what} is not text")
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"{what} is nested too deeply to be cnn-gui's") from None
    except ValueError as exc:  # JSONDecodeError, and int digits beyond Python's limit
        raise CheckpointError(f"{what} is not valid JSON ({short_repr(str(exc), 80)})") from None


# --------------------------------------------------------------------------- field checks


def _int(where: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _Bad(where, f"a whole number from {lo:,} to {hi:,}", value)
    return int(value)


def _num(where: str, value: object, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(where, f"a number from {lo:g} to {hi:g}", value)
    try:
        out = float(value)
    except OverflowError:
        raise _Bad(where, f"a number from {lo:g} to {hi:g}", value) from None
    if not (math.isfinite(out) and lo <= out <= hi):
        raise _Bad(where, f"a finite number from {lo:g} to {hi:g}", value)
    return out


def _text(where: str, value: object, max_len: int = MAX_TEXT, allow_empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not value and not allow_empty):
        size = f"0 to {max_len}" if allow_empty else f"1 to {max_len}"
        raise _Bad(where, f"a text of {size} characters", value)
    return value


def _list(where: str, value: object, max_len: int) -> list:
    if not isinstance(value, list) or len(value) > max_len:
        raise _Bad(where, f"a list of at most {max_len:,} items", value)
    return value


def _object(where: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise _Bad(where, "an object", value)
    return value


def plain(where: str, value: object, depth: int = 0) -> object:
    """A JSON value of bounded size and depth with finite numbers (scheduler, optimizer extras)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return _num(where, value, -1e300, 1e300) if isinstance(value, float) else _int(where, value, -MAX_COUNT, MAX_COUNT)
    if isinstance(value, str):
        return _text(where, value, 1000)
    if depth >= MAX_PLAIN_DEPTH:
        raise _Bad(where, f"a value nested at most {MAX_PLAIN_DEPTH} deep", value)
    if isinstance(value, list):
        return [plain(f"{where}[{i}]", v, depth + 1) for i, v in enumerate(_list(where, value, MAX_PLAIN_ITEMS))]
    if isinstance(value, dict):
        if len(value) > MAX_PLAIN_ITEMS:
            raise _Bad(where, f"an object of at most {MAX_PLAIN_ITEMS:,} keys", value)
        return {k: plain(f"{where}.{k}", v, depth + 1) for k, v in value.items()}
    raise _Bad(where, "a plain JSON value", value)


_HISTORY_FIELDS = {  # EpochEnded's fields and their ranges
    "train_loss": (0.0, 1e6),
    "train_accuracy": (0.0, 1.0),
    "test_loss": (0.0, 1e6),
    "test_accuracy": (0.0, 1.0),
    "seconds": (0.0, 1e8),
    "samples_per_sec": (0.0, 1e12),
    "lr": (0.0, 1e3),
}


def _history(value: object) -> list[dict]:
    out: list[dict] = []
    previous = 0
    for i, entry in enumerate(_list("history", value, MAX_EPOCHS)):
        where = f"history[{i}]"
        entry = _object(where, entry)
        if "epoch" not in entry:
            raise _Bad(f"{where}.epoch", "present", None)
        epoch = _int(f"{where}.epoch", entry["epoch"], previous + 1, MAX_EPOCHS)
        record = {"epoch": epoch}
        for name, (lo, hi) in _HISTORY_FIELDS.items():
            if name not in entry:
                raise _Bad(f"{where}.{name}", "present", None)
            record[name] = _num(f"{where}.{name}", entry[name], lo, hi)
        out.append(record)
        previous = epoch
    return out


_POSITION_INTS = {"epoch": MAX_EPOCHS, "batch": MAX_BATCHES_PER_EPOCH, "step": MAX_COUNT,
                  "correct": MAX_COUNT, "seen": MAX_COUNT}
_POSITION_FLOATS = {"loss_sum": 1e18, "train_seconds": 1e9}


def _training(value: object) -> dict:
    doc = _object("training", value)
    out: dict = {}
    for name, hi in _POSITION_INTS.items():
        if name in doc:
            out[name] = _int(f"training.{name}", doc[name], 0, hi)
    for name, hi in _POSITION_FLOATS.items():
        if name in doc:
            out[name] = _num(f"training.{name}", doc[name], 0.0, hi)
    if out.get("correct", 0) > out.get("seen", 0):
        raise _Bad("training.correct", "at most training.seen", doc.get("correct"))
    return out


def _config(value: object) -> dict:
    doc = _object("config", value)
    if not doc:
        return {}
    try:
        return TrainConfig.from_dict(doc).to_dict()
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint field config: {exc}") from None
    except TypeError:
        raise CheckpointError("checkpoint field config holds a setting of the wrong kind") from None


def optimizer_doc(value: object) -> dict | None:
    """The optimizer's JSON half: param groups of plain values, indices as parameter numbers."""
    try:
        return _optimizer_doc(value)
    except _Bad as bad:
        raise _as_error(bad) from None


def _as_error(bad: _Bad) -> CheckpointError:
    return CheckpointError(f"checkpoint field {bad.where} must be {bad.want}, not {short_repr(bad.value)}")


def _optimizer_doc(value: object) -> dict | None:
    if value is None:
        return None
    doc = _object("optimizer", value)
    groups = _list("optimizer.param_groups", doc.get("param_groups"), MAX_PARAM_GROUPS)
    seen: set[int] = set()
    checked_groups = []
    for g, group in enumerate(groups):
        where = f"optimizer.param_groups[{g}]"
        group = _object(where, group)
        params = _list(f"{where}.params", group.get("params"), MAX_PARAMETERS)
        for i, p in enumerate(params):
            _int(f"{where}.params[{i}]", p, 0, MAX_PARAMETERS)
            if p in seen:
                raise _Bad(f"{where}.params[{i}]", "a parameter listed once", p)
            seen.add(p)
        checked = {k: plain(f"{where}.{k}", v) for k, v in group.items() if k != "params"}
        checked["params"] = list(params)
        checked_groups.append(checked)
    tuple_keys = _list("optimizer.tuple_keys", doc.get("tuple_keys", []), MAX_PARAM_GROUPS)
    for g, keys in enumerate(tuple_keys):
        for k in _list(f"optimizer.tuple_keys[{g}]", keys, 100):
            _text(f"optimizer.tuple_keys[{g}]", k, 100)
    state = _object("optimizer.state", doc.get("state", {}))
    checked_state = {}
    for key, entries in state.items():
        if not (key.isdigit() and int(key) in seen):
            raise _Bad("optimizer.state", "keyed by the parameter numbers of param_groups", key)
        checked_state[key] = plain(f"optimizer.state.{key}", _object(f"optimizer.state.{key}", entries))
    return {"param_groups": checked_groups, "tuple_keys": tuple_keys, "state": checked_state}


def meta_from_doc(doc: object) -> CheckpointMeta:
    """Every field of a cnn-gui metadata document checked and typed, or CheckpointError."""
    try:
        return _meta(doc)
    except _Bad as bad:
        raise _as_error(bad) from None


_REQUIRED = ("architecture", "input_shape", "classes", "mean", "std", "dataset")


def _meta(doc: object) -> CheckpointMeta:
    if not isinstance(doc, dict):
        raise CheckpointError("checkpoint metadata is not a JSON object")
    fmt = doc.get("format", FORMAT)
    if fmt != FORMAT:
        raise CheckpointError(f"checkpoint metadata has format {short_repr(fmt)}, not {FORMAT!r}")
    version = _int("format_version", doc.get("format_version", FORMAT_VERSION), 1, 10**6)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format version {version} is newer than this cnn-gui reads "
                              f"(up to {FORMAT_VERSION})", hint="update cnn-gui to open it")
    missing = [name for name in _REQUIRED if name not in doc]
    if missing:
        raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}")

    architecture = _text("architecture", doc["architecture"], allow_empty=False)
    shape = _list("input_shape", doc["input_shape"], 3)
    if len(shape) != 3:
        raise _Bad("input_shape", "three whole numbers [C, H, W]", shape)
    input_shape = (_int("input_shape[0]", shape[0], 1, MAX_CHANNELS),
                   _int("input_shape[1]", shape[1], 1, MAX_INPUT_SIDE),
                   _int("input_shape[2]", shape[2], 1, MAX_INPUT_SIDE))
    classes = [_text(f"classes[{i}]", c, allow_empty=False)
               for i, c in enumerate(_list("classes", doc["classes"], MAX_CLASSES))]
    if len(classes) == 1:
        raise _Bad("classes", "a list of at least 2 class names", classes)
    channels = input_shape[0]
    stats = {}
    for name, lo in (("mean", -1e3), ("std", 1e-6)):
        values = _list(name, doc[name], MAX_CHANNELS)
        if len(values) not in (1, channels):
            raise _Bad(name, "a list of 1 number" if channels == 1 else f"a list of 1 or {channels} numbers", values)
        stats[name] = [_num(f"{name}[{i}]", v, lo, 1e3) for i, v in enumerate(values)]
    dataset = _text("dataset", doc["dataset"])
    epoch = _int("epoch", doc.get("epoch", 0), 0, MAX_EPOCHS)
    history = _history(doc.get("history", []))
    config = _config(doc.get("config", {}))
    training = _training(doc.get("training", {}))
    if training and training.get("epoch", 0) != epoch:
        raise _Bad("training.epoch", f"the same as epoch ({epoch})", training.get("epoch"))
    scheduler = doc.get("scheduler")
    if scheduler is not None:
        scheduler = plain("scheduler", _object("scheduler", scheduler))
    versions = {str(k): _text(f"versions.{k}", v, 100) for k, v in _object("versions", doc.get("versions", {})).items()}
    created = _text("created", doc.get("created", ""), 100)
    extra = _identity(doc, input_shape)
    known = {f.name for f in fields(CheckpointMeta)}
    assert set(_REQUIRED) <= known
    return CheckpointMeta(
        architecture=architecture, input_shape=input_shape, classes=classes, mean=stats["mean"],
        std=stats["std"], dataset=dataset, epoch=epoch, history=history, config=config, training=training,
        scheduler=scheduler, versions=versions, created=created, **extra,
    )


def _identity(doc: dict, input_shape: tuple[int, int, int]) -> dict:
    """The optional fields of format 1 that later releases added: preparation, frozen,
    dataset_images, dataset_fingerprint."""
    from cnn_gui.core.data.image_dataset import DIGIT, INKS, METHODS

    out: dict = {}
    prep = _object("preparation", doc.get("preparation", {}))
    if prep:
        method = prep.get("method")
        if method not in METHODS:
            raise _Bad("preparation.method", " or ".join(repr(m) for m in METHODS), method)
        ink = prep.get("ink", "")
        if ink not in INKS:
            raise _Bad("preparation.ink", " or ".join(repr(i) for i in INKS), ink)
        if method == DIGIT and input_shape != (1, 28, 28):
            raise _Bad("preparation.method", "'fit' for a model that does not read 1x28x28 digits", method)
        if method == DIGIT and ink != "light":
            raise _Bad("preparation.ink", "'light' with the digit preparation (MNIST's light ink on black)", ink)
        out["preparation"] = {"method": method, "ink": ink}
    frozen = _list("frozen", doc.get("frozen", []), MAX_PARAMETERS)
    out["frozen"] = [_text(f"frozen[{i}]", name, allow_empty=False) for i, name in enumerate(frozen)]
    out["dataset_images"] = _int("dataset_images", doc.get("dataset_images", 0), 0, MAX_COUNT)
    digest = _text("dataset_fingerprint", doc.get("dataset_fingerprint", ""), MAX_FINGERPRINT)
    if not set(digest) <= set("0123456789abcdef"):
        raise _Bad("dataset_fingerprint", "hexadecimal digits (0-9, a-f)", digest)
    out["dataset_fingerprint"] = digest
    return out
