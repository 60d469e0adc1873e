"""Training runs as data: one folder per run, written as it goes, read back by anyone.

A run folder ``<runs dir>/<YYYYmmdd-HHMMSS>-<model>-<dataset>[-n]/`` holds:

``run.json``
    What the run is (name, config, seed, device, versions, start and end time, status,
    the writer's pid and host). Rewritten atomically (temporary file + rename) when the
    run starts, ends and is renamed, so a reader never sees half of it.
``epochs.jsonl``
    One JSON object per finished epoch (``EpochEnded.to_dict()`` plus a timestamp),
    appended, flushed and fsynced at each epoch's end: a crash or a kill loses at most
    the epoch in progress.
``steps.jsonl``
    The training loss curve, downsampled to at most :data:`MAX_STEP_POINTS` points
    (buckets of optimizer steps sized from the planned run), buffered and appended at
    each epoch's end and every :data:`STEP_FLUSH_SECONDS` seconds.
``checkpoint.safetensors``
    The whole session, saved when the run completes or is stopped.

Every file may have been edited, truncated or half-written (a killed writer): a last
line without its newline is not there yet, a bad line is skipped, and a bad
``run.json`` makes the run read as ``unreadable: <why>``; :func:`list_runs` never
raises for a run. A ``running`` run whose writer process is gone (same host, pid
dead) reads as ``interrupted``.

:class:`RunWriter` is a Trainer callback; :class:`RunFollower` returns what was
appended since its last call, so a window can follow a run another process writes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from cnn_gui.core.errors import CnnGuiError, one_line, short_repr
from cnn_gui.core.files.processes import process_start, writer_alive
from cnn_gui.core.files.safe_io import FileTooLargeError, append_regular, atomic_write, open_regular, read_regular_text
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted

FORMAT = "cnn-gui-run"
FORMAT_VERSION = 1
RUN_FILE = "run.json"
EPOCHS_FILE = "epochs.jsonl"
STEPS_FILE = "steps.jsonl"
CHECKPOINT_FILE = "checkpoint.safetensors"
RUNS_DIR_ENV = "CNN_GUI_RUNS_DIR"

MAX_STEP_POINTS = 2000
STEP_FLUSH_SECONDS = 2.0
MAX_RUN_JSON_BYTES = 1_000_000  # a run.json is ~2 kB; a bigger one was not written by cnn-gui
MAX_READ_BYTES = 16_000_000  # per follower poll: never hold the GUI thread on a huge file

STATUSES = ("running", "finished", "stopped", "failed")  # as written
READ_STATUSES = STATUSES + ("interrupted", "unreadable")  # as read
_END_STATUS = {"completed": "finished", "stopped": "stopped", "failed": "failed"}


class RunsError(CnnGuiError):
    """A runs folder or run that cannot be written, renamed or deleted."""


# --------------------------------------------------------------------------- where


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


# --------------------------------------------------------------------------- small helpers


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.astimezone()


def _slug(text: str, limit: int = 40) -> str:
    """A folder-name-safe version of a model or dataset name (``path/m.py:Net`` -> ``m-Net``)."""
    if ":" in text and (".py" in text or "/" in text or "\\" in text):
        path, _, cls = text.rpartition(":")
        text = f"{Path(path.replace(chr(92), '/')).stem}-{cls}"
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-._")
    return slug[:limit].rstrip("-._") or "model"


def _finite(value: object) -> object:
    """JSON has no NaN: a non-finite float is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain(record: dict) -> dict:
    return {k: _finite(v) for k, v in record.items()}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_finite(v: object) -> bool:
    return _is_num(v) and math.isfinite(v)


def _versions() -> dict:
    import platform

    from cnn_gui import __version__

    out = {"cnn_gui": __version__, "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = str(torch.__version__)
    else:
        try:
            from importlib.metadata import version

            out["torch"] = version("torch")
        except Exception:  # not installed as a distribution: leave it out
            pass
    return out


def _write_json_atomic(path: Path, doc: dict) -> None:
    atomic_write(path, json.dumps(doc, indent=1, allow_nan=False).encode("utf-8"))


def _append_lines(path: Path, records: list[dict], fsync: bool) -> None:
    text = "".join(json.dumps(_plain(r), allow_nan=False) + "\n" for r in records)
    append_regular(path, text.encode("utf-8"), fsync=fsync)


# --------------------------------------------------------------------------- downsampling


class StepSampler:
    """Per-step training loss in buckets of optimizer steps: at most ``max_points`` points.

    The bucket size comes from the planned number of steps (half the budget, so a run
    longer than planned still fits); each point is the mean loss of its bucket
    (weighted by the batches each report covers) with the latest running accuracy and
    learning rate. Past the plan, or without one, the bucket grows fourfold each time
    half of the remaining budget is used: each such phase then covers twice the steps
    of the one before with half the points, so the bound holds and the curve still
    reaches the end of any practical run (the last point is kept for the run's end).
    """

    def __init__(self, max_points: int = MAX_STEP_POINTS) -> None:
        self.max_points = max(int(max_points), 2)
        self.bucket = 1
        self.count = 0
        self._limit = self.max_points // 2
        self._prev_step: int | None = None
        self._loss_sum = 0.0
        self._weight = 0
        self._last: BatchEnded | None = None

    def plan(self, first_step: int, last_step: int) -> None:
        """The run will take steps ``first_step + 1 .. last_step``."""
        planned = max(int(last_step) - int(first_step), 0)
        self.bucket = max(1, math.ceil(planned / (self.max_points // 2)))
        self._prev_step = int(first_step)

    def add(self, ev: BatchEnded) -> dict | None:
        """Take one report; a finished bucket's point, or None."""
        prev = self._prev_step if self._prev_step is not None else ev.step - ev.batch
        weight = max(ev.step - prev, 1)
        self._prev_step = ev.step
        if math.isfinite(ev.loss):
            self._loss_sum += ev.loss * weight
            self._weight += weight
        self._last = ev
        edge = ((ev.step - 1) // self.bucket + 1) * self.bucket
        if ev.step >= edge:
            return self._emit()
        return None

    def flush(self) -> dict | None:
        """The unfinished bucket's point (the end of a run), or None."""
        return self._emit(final=True) if self._last is not None else None

    def _emit(self, final: bool = False) -> dict | None:
        ev, self._last = self._last, None
        loss = self._loss_sum / self._weight if self._weight else None
        self._loss_sum, self._weight = 0.0, 0
        if ev is None or self.count >= self.max_points - (0 if final else 1):
            return None
        self.count += 1
        if self.count >= self._limit:
            self.bucket *= 4
            self._limit += max((self.max_points - self._limit) // 2, 1)
        return {"step": ev.step, "epoch": ev.epoch, "batch": ev.batch, "loss": loss,
                "accuracy": ev.accuracy, "lr": ev.lr, "samples_per_sec": ev.samples_per_sec,
                "t": round(time.time(), 3)}


# --------------------------------------------------------------------------- writing


class RunWriter:
    """A Trainer callback that writes one run folder as the run goes.

    One writer per ``fit()``. The folder is made on :meth:`open` (called by itself on
    ``FitStarted``; call it first to fail early on an unwritable runs folder). While the
    run trains, an I/O error never stops it: the writer stops writing and keeps the
    reason in :attr:`error`. ``save_checkpoint(path)`` (e.g. ``trainer.save_checkpoint``)
    is called when the run completes or is stopped; :meth:`attach` sets it and joins
    the trainer's callbacks.
    """

    def __init__(
        self,
        runs_dir: str | os.PathLike | None,
        config: dict | None = None,
        *,
        name: str | None = None,
        preset: str | None = None,
        device_label: str | None = None,
        source: str = "",
        resumed_from: str | os.PathLike | None = None,
        save_checkpoint: Callable[[Path], Any] | None = None,
        max_step_points: int = MAX_STEP_POINTS,
    ) -> None:
        self.runs_dir = resolve_runs_dir(runs_dir)
        self.config = dict(config or {})
        self.name = name
        self.preset = preset
        self.device_label = device_label
        self.source = source
        self.resumed_from = str(resumed_from) if resumed_from is not None else None
        self.save_checkpoint = save_checkpoint
        self.folder: Path | None = None
        self.error: str | None = None
        self.ended = False
        self._doc: dict = {}
        self._sampler = StepSampler(max_step_points)
        self._steps: list[dict] = []
        self._last_flush = time.monotonic()
        self._failure: FitFailed | None = None

    # -- wiring ----------------------------------------------------------------------
    def bind(self, trainer) -> "RunWriter":
        """Record ``trainer``'s config (a resumed run's comes from its checkpoint) and save
        its checkpoint at the end; for a caller that relays the events itself."""
        if self.folder is None:
            self.config = trainer.config.to_dict()
        if self.save_checkpoint is None:
            self.save_checkpoint = trainer.save_checkpoint
        return self

    def attach(self, trainer) -> "RunWriter":
        """:meth:`bind` to ``trainer`` and join its callbacks: its events come as they happen."""
        self.bind(trainer)
        if self not in trainer.callbacks:
            trainer.callbacks.append(self)
        return self

    @classmethod
    def for_trainer(cls, trainer, runs_dir=None, **kwargs) -> "RunWriter":
        """A writer for ``trainer`` (its config, its checkpoint), already attached."""
        return cls(runs_dir, **kwargs).attach(trainer)

    # -- the folder ------------------------------------------------------------------
    def open(self) -> Path:
        """Make the run folder and its ``run.json`` (status running); RunsError if it cannot."""
        if self.folder is not None:
            return self.folder
        model = str(self.config.get("model", "model"))
        dataset = str(self.config.get("dataset", "data"))
        stem = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{_slug(model)}-{_slug(dataset, 24)}"
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            folder = None
            for n in range(1, 1000):
                candidate = self.runs_dir / (stem if n == 1 else f"{stem}-{n}")
                try:
                    candidate.mkdir()  # exclusive: two processes never share a folder
                except FileExistsError:
                    continue
                folder = candidate
                break
            if folder is None:
                raise RunsError(f"cannot make a run folder in {self.runs_dir}: too many named {stem}")
            self._doc = {
                "format": FORMAT, "format_version": FORMAT_VERSION,
                "name": self.name or folder.name, "status": "running",
                "model": model, "dataset": dataset, "preset": self.preset,
                "config": self.config, "seed": self.config.get("seed"),
                "device": self.config.get("device"), "device_label": self.device_label,
                "precision": None, "versions": _versions(),
                "started": _now_iso(), "ended": None, "duration_seconds": None,
                "epochs_planned": self.config.get("epochs"), "source": self.source,
                "resumed_from": self.resumed_from,
                "pid": os.getpid(), "hostname": socket.gethostname(),
                "pid_started": process_start(os.getpid()),
            }
            _write_json_atomic(folder / RUN_FILE, self._doc)
        except OSError as exc:
            raise RunsError(f"cannot write a run in {self.runs_dir}: {exc.strerror or exc}",
                            f"choose another runs folder ({RUNS_DIR_ENV} or --runs-dir)") from exc
        self.folder = folder
        return folder

    # -- events ----------------------------------------------------------------------
    def __call__(self, event) -> None:
        if self.error is not None or self.ended:
            return
        try:
            if isinstance(event, BatchEnded):
                self._on_batch(event)
            elif isinstance(event, EpochEnded):
                self._on_epoch(event)
            elif isinstance(event, FitStarted):
                self._on_started(event)
            elif isinstance(event, FitFailed):
                self._failure = event
            elif isinstance(event, FitEnded):
                self._on_ended(event)
        except (OSError, RunsError, TypeError, ValueError) as exc:
            # Never fail the training for its record: say why once, stop writing.
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            where = self.folder or self.runs_dir
            self.error = str(exc) if isinstance(exc, RunsError) else one_line(f"the run record in {where} stopped: {why}")

    def _on_started(self, ev: FitStarted) -> None:
        self.open()
        nb = ev.batches_per_epoch
        first = (ev.start_epoch - 1) * nb + ev.start_batch
        self._sampler.plan(first, ev.epochs * nb)
        self._doc.update({
            "model": ev.model, "dataset": ev.dataset, "device": ev.device,
            "device_label": ev.device_label, "precision": ev.precision,
            "epochs_planned": ev.epochs, "start_epoch": ev.start_epoch,
            "batches_per_epoch": nb, "steps_planned": ev.epochs * nb, "batch_size": ev.batch_size,
            "train_size": ev.train_size, "test_size": ev.test_size, "parameters": ev.parameters,
        })
        self._rewrite()

    def _on_batch(self, ev: BatchEnded) -> None:
        if self.folder is None:
            return
        point = self._sampler.add(ev)
        if point is not None:
            self._steps.append(point)
        if self._steps and time.monotonic() - self._last_flush >= STEP_FLUSH_SECONDS:
            self._flush_steps()

    def _on_epoch(self, ev: EpochEnded) -> None:
        if self.folder is None:
            return
        self._flush_steps()
        record = ev.to_dict()
        record["time"] = _now_iso()
        _append_lines(self.folder / EPOCHS_FILE, [record], fsync=True)

    def _on_ended(self, ev: FitEnded) -> None:
        if self.folder is None:
            return
        self.ended = True
        point = self._sampler.flush()
        if point is not None:
            self._steps.append(point)
        self._flush_steps()
        doc = self._doc
        if ev.reason in ("completed", "stopped") and self.save_checkpoint is not None:
            try:
                self.save_checkpoint(self.folder / CHECKPOINT_FILE)
                doc["checkpoint"] = CHECKPOINT_FILE
            except Exception as exc:  # a CheckpointError, a full disk: the run's record still ends
                doc["checkpoint_error"] = one_line(exc)
        doc.update({
            "status": _END_STATUS.get(ev.reason, "failed"), "ended": _now_iso(),
            "duration_seconds": round(ev.seconds, 3), "end_reason": ev.reason,
            "epochs_completed": ev.epochs_completed, "steps_done": ev.step,
            "final_test_accuracy": _finite(ev.final_test_accuracy),
        })
        if self._failure is not None:
            f = self._failure
            doc["error"] = {"kind": f.kind, "message": one_line(f.message), "hint": one_line(f.hint)}
        self._rewrite()

    def _flush_steps(self) -> None:
        self._last_flush = time.monotonic()
        if self._steps and self.folder is not None:
            steps, self._steps = self._steps, []
            _append_lines(self.folder / STEPS_FILE, steps, fsync=False)

    def _rewrite(self) -> None:
        # A rename from the Runs view meanwhile wins over the name this writer started with.
        try:
            on_disk = json.loads(read_regular_text(self.folder / RUN_FILE, MAX_RUN_JSON_BYTES))
            if isinstance(on_disk, dict) and isinstance(on_disk.get("name"), str):
                self._doc["name"] = on_disk["name"]
        except (OSError, ValueError):
            pass
        _write_json_atomic(self.folder / RUN_FILE, self._doc)


# --------------------------------------------------------------------------- reading


def tail_jsonl(path: Path, offset: int = 0, limit: int = MAX_READ_BYTES) -> tuple[list[dict], int, int]:
    """JSON objects of the complete lines after byte ``offset``: ``(records, new_offset, bad_lines)``.

    A last line without its newline is not consumed (its writer may be mid-write); a
    line that is not a JSON object is skipped and counted. A missing file reads as empty.
    """
    try:
        with open_regular(path) as f:
            f.seek(offset)
            raw = f.read(limit)
    except OSError:  # missing, not a file, or unreadable for now: nothing to add
        return [], offset, 0
    end = raw.rfind(b"\n")
    if end < 0:
        return [], offset, 0
    records, bad = [], 0
    for line in raw[: end + 1].splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(value, dict):
            records.append(value)
        else:
            bad += 1
    return records, offset + end + 1, bad


_EPOCH_NUMBERS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                  "samples_per_sec", "lr")


def valid_epoch(rec: dict) -> bool:
    """An epochs.jsonl record: a whole epoch >= 1, numbers (or null) where numbers go."""
    if not (_is_int(rec.get("epoch")) and rec["epoch"] >= 1):
        return False
    for key in _EPOCH_NUMBERS:
        v = rec.get(key)
        if v is not None and not _is_finite(v):
            return False
    for key in ("train_accuracy", "test_accuracy"):
        v = rec.get(key)
        if v is not None and not 0 <= v <= 1:
            return False
    return True


def valid_step(rec: dict) -> bool:
    """A steps.jsonl record: a whole step >= 1 and a numeric (or null) loss."""
    if not (_is_int(rec.get("step")) and rec["step"] >= 1):
        return False
    for key in ("loss", "accuracy", "lr", "epoch"):
        v = rec.get(key)
        if v is not None and not _is_finite(v):
            return False
    return True


@dataclass
class RunUpdate:
    """What a :class:`RunFollower` found since its last poll."""

    epochs: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    reset: bool = False  # a file was replaced or shrank: drop what was shown and take these

    def __bool__(self) -> bool:
        return bool(self.epochs or self.steps or self.reset)


class _Tail:
    def __init__(self, path: Path, check: Callable[[dict], bool]) -> None:
        self.path = path
        self.check = check
        self.offset = 0
        self.ident: tuple | None = None
        self.bad = 0

    def poll(self) -> tuple[list[dict], bool]:
        reset = False
        try:
            st = os.stat(self.path)
        except OSError:
            if self.offset:
                self.offset, self.ident, reset = 0, None, True
            return [], reset
        ident = (st.st_dev, st.st_ino)  # a file replaced by another (rewritten by hand) starts over
        if (self.ident is not None and ident != self.ident) or st.st_size < self.offset:
            self.offset, reset = 0, True
            self.bad = 0
        self.ident = ident
        if st.st_size == self.offset:
            return [], reset
        records, self.offset, bad = tail_jsonl(self.path, self.offset)
        good = [r for r in records if self.check(r)]
        self.bad += bad + len(records) - len(good)
        return good, reset


class RunFollower:
    """New epoch and step records of one run folder since the last :meth:`poll`.

    Reads only what was appended (by byte offset; a half-written last line waits for
    its end), so polling a growing run every second costs a ``stat`` or two.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._epochs = _Tail(self.folder / EPOCHS_FILE, valid_epoch)
        self._steps = _Tail(self.folder / STEPS_FILE, valid_step)

    def poll(self) -> RunUpdate:
        epochs, reset_e = self._epochs.poll()
        steps, reset_s = self._steps.poll()
        if reset_e or reset_s:
            # Start both over, so the caller can simply replace what it shows.
            self._epochs, self._steps = _Tail(self._epochs.path, valid_epoch), _Tail(self._steps.path, valid_step)
            epochs, _ = self._epochs.poll()
            steps, _ = self._steps.poll()
            return RunUpdate(epochs, steps, reset=True)
        return RunUpdate(epochs, steps)

    @property
    def skipped_lines(self) -> int:
        return self._epochs.bad + self._steps.bad


@dataclass
class Run:
    """One run folder as read back. ``status`` is one of :data:`READ_STATUSES`."""

    folder: Path
    name: str
    status: str
    problem: str = ""  # why the run is unreadable
    model: str = ""
    dataset: str = ""
    preset: str | None = None
    config: dict = field(default_factory=dict)
    seed: int | None = None
    device: str = ""
    device_label: str = ""
    precision: str = ""
    versions: dict = field(default_factory=dict)
    source: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    duration_seconds: float | None = None
    epochs_planned: int | None = None
    epochs: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)  # only from read_run(..., steps=True)
    skipped_lines: int = 0
    error: str = ""  # a failed run's message
    checkpoint_error: str = ""
    pid: int | None = None
    hostname: str = ""
    info: dict = field(default_factory=dict)  # the whole run.json
    modified: float = 0.0  # run.json's mtime, to sort runs that have no start time

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def readable(self) -> bool:
        return self.status != "unreadable"

    @property
    def checkpoint(self) -> Path | None:
        path = self.folder / CHECKPOINT_FILE
        return path if path.is_file() else None

    @property
    def epochs_completed(self) -> int:
        return max((e["epoch"] for e in self.epochs), default=0)

    @property
    def best_test_accuracy(self) -> float | None:
        values = [e["test_accuracy"] for e in self.epochs if _is_num(e.get("test_accuracy"))]
        return max(values) if values else None

    @property
    def final_test_accuracy(self) -> float | None:
        for e in reversed(self.epochs):
            if _is_num(e.get("test_accuracy")):
                return e["test_accuracy"]
        return None

    @property
    def status_text(self) -> str:
        return f"unreadable: {self.problem}" if self.status == "unreadable" else self.status

    def sort_key(self) -> float:
        return self.started.timestamp() if self.started is not None else self.modified


def _unreadable(folder: Path, why: str) -> Run:
    try:
        modified = (folder / RUN_FILE).stat().st_mtime
    except OSError:
        modified = 0.0
    return Run(folder=folder, name=folder.name, status="unreadable", problem=one_line(why, 200), modified=modified)


def _check_info(doc: object) -> str | None:
    """Why a run.json document is not a run's, or None."""
    if not isinstance(doc, dict):
        return "run.json is not a JSON object"
    fmt = doc.get("format", FORMAT)
    if fmt != FORMAT:
        return f"run.json has format {short_repr(fmt)}, not {FORMAT!r}"
    version = doc.get("format_version", FORMAT_VERSION)
    if not _is_int(version):
        return f"run.json format_version must be a whole number, not {short_repr(version)}"
    if version > FORMAT_VERSION:
        return f"run.json format version {version} is newer than this cnn-gui reads (up to {FORMAT_VERSION})"
    if doc.get("status") not in STATUSES:
        return f"status must be one of {', '.join(STATUSES)}, not {short_repr(doc.get('status'))}"
    if _parse_time(doc.get("started")) is None:
        return f"started must be an ISO date and time, not {short_repr(doc.get('started'))}"
    if doc.get("ended") is not None and _parse_time(doc.get("ended")) is None:
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
        if v is not None and not _is_int(v):
            return f"{key} must be a whole number, not {short_repr(v)}"
    v = doc.get("duration_seconds")
    if v is not None and not (_is_num(v) and v >= 0):
        return f"duration_seconds must be a number of at least 0, not {short_repr(v)}"
    v = doc.get("error")
    if v is not None and not isinstance(v, dict):
        return f"error must be an object, not {short_repr(v)}"
    return None


def read_info(folder: Path) -> dict:
    """``run.json`` of ``folder`` as a checked dict; RunsError saying why it is not one."""
    try:
        doc = json.loads(read_regular_text(folder / RUN_FILE, MAX_RUN_JSON_BYTES))
    except FileTooLargeError as exc:
        raise RunsError(f"run.json is {exc.size:,} bytes, too big to be a run's") from exc
    except FileNotFoundError as exc:
        raise RunsError("no run.json") from exc
    except OSError as exc:
        raise RunsError(f"cannot read run.json: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise RunsError(f"run.json is not valid JSON ({exc})") from exc
    why = _check_info(doc)
    if why:
        raise RunsError(why)
    return doc


def read_run(folder: str | os.PathLike, *, steps: bool = False) -> Run:
    """One run folder as a :class:`Run` (``status == "unreadable"`` with the reason, never raising)."""
    folder = Path(folder)
    try:
        doc = read_info(folder)
    except RunsError as exc:
        return _unreadable(folder, str(exc))
    config = doc.get("config") or {}
    status = doc["status"]
    if status == "running" and writer_alive(doc.get("pid"), doc.get("hostname"), doc.get("pid_started")) is False:
        status = "interrupted"
    epochs, _, bad = tail_jsonl(folder / EPOCHS_FILE)
    good = [e for e in epochs if valid_epoch(e)]
    skipped = bad + len(epochs) - len(good)
    by_epoch = {e["epoch"]: e for e in good}  # a repeated epoch: the later line wins
    run_steps: list[dict] = []
    if steps:
        raw, _, bad = tail_jsonl(folder / STEPS_FILE)
        run_steps = [s for s in raw if valid_step(s)]
        skipped += bad + len(raw) - len(run_steps)
    started = _parse_time(doc.get("started"))
    ended = _parse_time(doc.get("ended"))
    duration = doc.get("duration_seconds")
    if duration is None and started is not None:
        if status == "running":
            duration = max(time.time() - started.timestamp(), 0.0)
        else:  # interrupted: until its last write
            duration = max(_last_write(folder) - started.timestamp(), 0.0)
    error = doc.get("error") or {}
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return Run(
        folder=folder, name=doc.get("name") or folder.name, status=status,
        model=doc.get("model") or str(config.get("model", "")),
        dataset=doc.get("dataset") or str(config.get("dataset", "")),
        preset=doc.get("preset"), config=config, seed=doc.get("seed"),
        device=doc.get("device") or "", device_label=doc.get("device_label") or "",
        precision=doc.get("precision") or "", versions=doc.get("versions") or {},
        source=doc.get("source") or "", started=started, ended=ended,
        duration_seconds=float(duration) if duration is not None else None,
        epochs_planned=doc.get("epochs_planned"),
        epochs=[by_epoch[k] for k in sorted(by_epoch)], steps=run_steps, skipped_lines=skipped,
        error=one_line(message) if message else "", checkpoint_error=doc.get("checkpoint_error") or "",
        pid=doc.get("pid"), hostname=doc.get("hostname") or "", info=doc,
    )


def _last_write(folder: Path) -> float:
    latest = 0.0
    for name in (RUN_FILE, EPOCHS_FILE, STEPS_FILE):
        try:
            latest = max(latest, (folder / name).stat().st_mtime)
        except OSError:
            pass
    return latest


def is_run_folder(folder: Path) -> bool:
    """A folder cnn-gui wrote: it holds a run.json (even an unreadable one)."""
    try:
        return folder.is_dir() and not folder.name.startswith(".") and (folder / RUN_FILE).is_file()
    except OSError:  # no permission to look inside
        return False


def _read_listed(folder: Path) -> Run:
    try:
        return read_run(folder)
    except Exception as exc:  # a listing shows every run it can; one odd folder must not hide the rest
        return _unreadable(folder, f"{type(exc).__name__}: {exc}")


def _run_folders(runs_dir: Path) -> list[Path]:
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


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """Every run in ``runs_dir``, newest first. Folders without run.json are not runs and
    are left out; a bad run is listed as unreadable. RunsError only when ``runs_dir`` itself
    cannot be read (a missing folder has no runs)."""
    runs_dir = resolve_runs_dir(runs_dir)
    runs = [_read_listed(f) for f in _run_folders(runs_dir) if is_run_folder(f)]
    runs.sort(key=lambda r: (r.sort_key(), r.id), reverse=True)
    return runs


class RunsIndex:
    """:func:`list_runs` for polling: re-reads only the runs whose files changed (by ``stat``)."""

    def __init__(self, runs_dir: str | os.PathLike | None = None) -> None:
        self.runs_dir = resolve_runs_dir(runs_dir)
        self._cache: dict[Path, tuple[tuple, Run]] = {}
        self.runs: list[Run] = []

    @staticmethod
    def _signature(folder: Path) -> tuple | None:
        sig = []
        for name in (RUN_FILE, EPOCHS_FILE, CHECKPOINT_FILE):
            try:
                st = (folder / name).stat()
                sig.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except FileNotFoundError:
                if name == RUN_FILE:
                    return None
                sig.append(None)
            except OSError:
                sig.append(None)
        return tuple(sig)

    def refresh(self) -> bool:
        """Re-scan; True when the list or any run in it changed. RunsError as :func:`list_runs`."""
        cache: dict[Path, tuple[tuple, Run]] = {}
        changed = False
        for folder in _run_folders(self.runs_dir):
            sig = self._signature(folder)
            if sig is None:
                continue
            old = self._cache.get(folder)
            if old is not None and old[0] == sig:
                run = old[1]
                if run.status == "running":
                    # Nothing written, but the writer may have died, and the clock runs.
                    fresh = _read_listed(folder)
                    if fresh.status != run.status:
                        changed = True
                    run = fresh
            else:
                run = _read_listed(folder)
                changed = True
            cache[folder] = (sig, run)
        if set(cache) != set(self._cache):
            changed = True
        self._cache = cache
        self.runs = sorted((run for _, run in cache.values()), key=lambda r: (r.sort_key(), r.id), reverse=True)
        return changed


# --------------------------------------------------------------------------- changing


def rename_run(folder: str | os.PathLike, name: str) -> Run:
    """Give a run another display name (its folder keeps its name, so followers keep going)."""
    folder = Path(folder)
    name = one_line(name, 120).strip()
    if not name:
        raise RunsError("a run's name cannot be empty")
    doc = read_info(folder)
    doc["name"] = name
    try:
        _write_json_atomic(folder / RUN_FILE, doc)
    except OSError as exc:
        raise RunsError(f"cannot rename the run in {folder}: {exc.strerror or exc}") from exc
    return read_run(folder)


def delete_run(folder: str | os.PathLike) -> None:
    """Delete a run folder: only one that holds a run.json, and never one still being written."""
    folder = Path(folder)
    if folder.is_symlink() or not is_run_folder(folder):
        raise RunsError(f"{folder} does not look like a run folder (no run.json), so it was not deleted")
    try:
        doc = json.loads(read_regular_text(folder / RUN_FILE, MAX_RUN_JSON_BYTES))
    except (OSError, ValueError):
        doc = None
    if isinstance(doc, dict) and doc.get("status") == "running":
        alive = writer_alive(doc.get("pid"), doc.get("hostname"), doc.get("pid_started"))
        if alive:
            raise RunsError(f"the run {folder.name} is still running; stop it first")
        if alive is None and _is_int(doc.get("pid")) and isinstance(doc.get("hostname"), str):
            raise RunsError(f"the run {folder.name} may still be running on {one_line(doc['hostname'], 60)}; "
                            "delete it there, or by hand")
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        raise RunsError(f"cannot delete {folder}: {exc.strerror or exc}") from exc


def run_metrics_csv(run: Run | str | os.PathLike, path: str | os.PathLike) -> Path:
    """The run's epochs and its (downsampled) step curve as the window's metrics CSV."""
    from cnn_gui.core.files.metrics_csv import write_metrics_csv

    folder = run.folder if isinstance(run, Run) else Path(run)
    full = read_run(folder, steps=True)
    if not full.readable:
        raise RunsError(f"cannot export {folder.name}: {full.problem}")
    return write_metrics_csv(path, full.epochs, full.steps)
