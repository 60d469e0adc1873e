"""Where runs live and what a run folder holds: folder and file names, statuses, run.json's check.

A run folder ``<runs dir>/<YYYYmmdd-HHMMSS>-<model>-<dataset>[-n]/`` (:func:`run_stem`: a
user's model by its file's and class's names, an image folder by its own name, never a
path) holds:

``run.json``
    What the run is (name, config, seed, device, versions, start and end time, status,
    the writer's pid and host). It stays on the user's machine, so it keeps an image
    folder's absolute path and a model file's path: a run's checkpoint, which records only
    the folder's name, finds its folder through it (:mod:`cnn_gui.core.data.folder_record`). Rewritten atomically (temporary file + rename) when the
    run starts, ends and is renamed, so a reader never sees half of it.
``epochs.jsonl``
    One JSON object per finished epoch (``EpochEnded.to_dict()`` plus a timestamp),
    appended, flushed and fsynced at each epoch's end: a crash or a kill loses at most
    the epoch in progress.
``steps.jsonl``
    The training loss curve, downsampled to at most :data:`~cnn_gui.core.runs.step_sampler.MAX_STEP_POINTS` points
    (buckets of optimizer steps sized from the planned run), buffered and appended at
    each epoch's end and every :data:`~cnn_gui.core.runs.writer.STEP_FLUSH_SECONDS` seconds.
``checkpoint.safetensors``
    The whole session (weights, optimizer, position, history), replaced atomically at
    every epoch's end and saved again when the run is stopped: a crash or a kill loses
    at most the epoch in progress, and ``cnn-gui train --resume`` continues from the
    last finished epoch.

Every file may have been edited, truncated or half-written (a killed writer): a last
line without its newline is not there yet, a bad or over-long line is skipped, JSON
nested too deeply or holding NaN, infinite or huge numbers is refused
(:mod:`~cnn_gui.core.runs.strict_json`), and a bad ``run.json`` makes the run read as
``unreadable: <why>``; :func:`~cnn_gui.core.runs.reader.list_runs`
never raises for a run. A ``running`` run whose writer process is gone (same host, pid
dead) reads as ``interrupted``.
"""

from __future__ import annotations

import math
import os
import re
import stat
from datetime import datetime
from pathlib import Path

from cnn_gui.core.data.folder_names import folder_name, is_folder_dataset
from cnn_gui.core.errors import CnnGuiError, short_repr

FORMAT = "cnn-gui-run"
FORMAT_VERSION = 1
RUN_FILE = "run.json"
EPOCHS_FILE = "epochs.jsonl"
STEPS_FILE = "steps.jsonl"
CHECKPOINT_FILE = "checkpoint.safetensors"
RUNS_DIR_ENV = "CNN_GUI_RUNS_DIR"
MAX_RUN_JSON_BYTES = 1_000_000  # a run.json is ~2 kB; a bigger one was not written by cnn-gui
MAX_DURATION_SECONDS = 1e9  # some 30 years: a longer "duration_seconds" was not measured

# As written. A reader also says "interrupted" (a running run whose writer is gone) and
# "unreadable" (a run.json that is not a run's).
STATUSES = ("running", "finished", "stopped", "failed")


class RunsError(CnnGuiError):
    """A runs folder or run that cannot be written, renamed or deleted."""


def default_runs_dir() -> Path:
    """``$CNN_GUI_RUNS_DIR``, else the per-user data folder's ``runs``."""
    env = os.environ.get(RUNS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_path("cnn-gui")) / "runs"


def resolve_runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """An explicit folder (``--runs-dir``) wins over the environment and the default."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    return default_runs_dir()


def is_run_folder(folder: Path) -> bool:
    """A folder cnn-gui wrote: it holds a run.json (even an unreadable one: a link, a FIFO), not a folder of that name."""
    try:
        return (folder.is_dir() and not folder.name.startswith(".")
                and not stat.S_ISDIR(os.lstat(folder / RUN_FILE).st_mode))
    except OSError:  # no run.json, or no permission to look inside
        return False


def run_folders(runs_dir: Path) -> list[Path]:
    """The sub-folders of ``runs_dir`` that may be runs (not hidden); RunsError if it cannot be read."""
    try:
        entries = list(os.scandir(runs_dir))
    except FileNotFoundError:
        return []
    except NotADirectoryError as exc:
        raise RunsError(f"the runs folder {runs_dir} is a file") from exc
    except OSError as exc:
        raise RunsError(f"cannot read the runs folder {runs_dir}: {exc.strerror or exc}") from exc
    out = []
    for entry in entries:
        try:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
        except OSError:
            continue
        out.append(Path(entry.path))
    return out


def _slug(text: str, limit: int) -> str:
    """A folder-name-safe version of a model or dataset name (``path/m.py:Net`` -> ``m-Net``)."""
    if ":" in text and (".py" in text or "/" in text or "\\" in text):
        path, _, cls = text.rpartition(":")
        text = f"{Path(path.replace(chr(92), '/')).stem}-{cls}"
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-._")
    return slug[:limit].rstrip("-._") or "model"


def run_stem(model: str, dataset: str, when: datetime) -> str:
    """A run folder's name before any ``-n``: its start time, model and dataset; an image
    folder by its own name (``20250101-120000-mnist-cnn-shapes``), never its path."""
    data = (folder_name(dataset) or "folder") if is_folder_dataset(dataset) else dataset
    return f"{when.strftime('%Y%m%d-%H%M%S')}-{_slug(model, 40)}-{_slug(data, 24)}"


# --------------------------------------------------------------------------- values in run files


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def parse_time(text: object) -> datetime | None:
    """An ISO date and time from a file (a naive one taken as local time), or None."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.astimezone()


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_finite(v: object) -> bool:
    return is_num(v) and math.isfinite(v)


def check_info(doc: object) -> str | None:
    """Why a run.json document is not a run's, or None."""
    if not isinstance(doc, dict):
        return "run.json is not a JSON object"
    fmt = doc.get("format", FORMAT)
    if fmt != FORMAT:
        return f"run.json has format {short_repr(fmt)}, not {FORMAT!r}"
    version = doc.get("format_version", FORMAT_VERSION)
    if not is_int(version):
        return f"run.json format_version must be a whole number, not {short_repr(version)}"
    if version > FORMAT_VERSION:
        return f"run.json format version {version} is newer than this cnn-gui reads (up to {FORMAT_VERSION})"
    if doc.get("status") not in STATUSES:
        return f"status must be one of {', '.join(STATUSES)}, not {short_repr(doc.get('status'))}"
    if parse_time(doc.get("started")) is None:
        return f"started must be an ISO date and time, not {short_repr(doc.get('started'))}"
    if doc.get("ended") is not None and parse_time(doc.get("ended")) is None:
        return f"ended must be an ISO date and time or null, not {short_repr(doc.get('ended'))}"
    if not isinstance(doc.get("config", {}), dict):
        return f"config must be an object, not {short_repr(doc.get('config'))}"
    if not isinstance(doc.get("versions", {}), dict):
        return f"versions must be an object, not {short_repr(doc.get('versions'))}"
    for key in ("name", "model", "dataset", "preset", "device", "device_label", "precision",
                "source", "hostname", "resumed_from", "checkpoint", "checkpoint_error"):
        v = doc.get(key)
        if v is not None and not isinstance(v, str):
            return f"{key} must be a string, not {short_repr(v)}"
    for key in ("seed", "pid", "epochs_planned", "pid_started"):
        v = doc.get(key)
        if v is not None and not is_int(v):
            return f"{key} must be a whole number, not {short_repr(v)}"
    v = doc.get("duration_seconds")
    if v is not None and not (is_finite(v) and 0 <= v <= MAX_DURATION_SECONDS):
        return f"duration_seconds must be a number from 0 to {MAX_DURATION_SECONDS:g}, not {short_repr(v)}"
    v = doc.get("error")
    if v is not None and not isinstance(v, dict):
        return f"error must be an object, not {short_repr(v)}"
    return None
