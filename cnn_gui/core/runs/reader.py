"""Reading runs back: one run folder as a :class:`Run`, every run of a runs folder, and
an index that re-reads only the runs that changed. Never raises for a bad run: it reads
as ``unreadable: <why>``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cnn_gui.core.data.folder_names import shown_dataset, shown_model
from cnn_gui.core.errors import one_line
from cnn_gui.core.files.processes import writer_alive
from cnn_gui.core.files.safe_io import FileTooLargeError, read_regular
from cnn_gui.core.runs.layout import (CHECKPOINT_FILE, EPOCHS_FILE, MAX_RUN_JSON_BYTES, RUN_FILE, STEPS_FILE,
                                      RunsError, check_info, is_num, is_run_folder, parse_time, resolve_runs_dir,
                                      run_folders)
from cnn_gui.core.runs.records import READ_RUN_BYTES, read_lines, valid_epoch, valid_step
from cnn_gui.core.runs.strict_json import load_json


@dataclass
class Run:
    """One run folder as read back. ``status`` is one of the written
    :data:`~cnn_gui.core.runs.layout.STATUSES`, ``interrupted`` or ``unreadable``."""

    folder: Path
    name: str
    status: str
    problem: str = ""  # why the run is unreadable
    # What a list shows: a user's model as "user:Class", an image folder as "folder:<its name>"
    # (core/data/folder_names.py); the paths run.json keeps are in model_source and
    # dataset_source, for a tooltip (run.json stays on the user's machine).
    model: str = ""
    dataset: str = ""
    model_source: str = ""
    dataset_source: str = ""
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
        values = [e["test_accuracy"] for e in self.epochs if is_num(e.get("test_accuracy"))]
        return max(values) if values else None

    @property
    def final_test_accuracy(self) -> float | None:
        for e in reversed(self.epochs):
            if is_num(e.get("test_accuracy")):
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


def read_info(folder: Path) -> dict:
    """``run.json`` of ``folder`` as a checked dict; RunsError saying why it is not one."""
    try:
        doc = load_json(read_regular(folder / RUN_FILE, MAX_RUN_JSON_BYTES), "run.json")
    except FileTooLargeError as exc:
        raise RunsError(f"run.json is {exc.size:,} bytes, too big to be a run's") from exc
    except FileNotFoundError as exc:
        raise RunsError("no run.json") from exc
    except OSError as exc:
        raise RunsError(f"cannot read run.json: {exc.strerror or exc}") from exc
    why = check_info(doc)
    if why:
        raise RunsError(why)
    return doc


def read_run(folder: str | os.PathLike, *, steps: bool = False) -> Run:
    """One run folder as a :class:`Run` (``status == "unreadable"`` with the reason, never raising)."""
    folder = Path(folder)
    try:
        return _read_run(folder, steps)
    except RunsError as exc:
        return _unreadable(folder, str(exc))
    except Exception as exc:  # a listing shows every run it can; one odd folder must not hide the rest
        return _unreadable(folder, f"{type(exc).__name__}: {exc}")


def _read_run(folder: Path, steps: bool) -> Run:
    doc = read_info(folder)
    config = doc.get("config") or {}
    status = doc["status"]
    if status == "running" and writer_alive(doc.get("pid"), doc.get("hostname"), doc.get("pid_started")) is False:
        status = "interrupted"
    lines = read_lines(folder / EPOCHS_FILE, budget=READ_RUN_BYTES)
    good = [e for e in lines.records if valid_epoch(e)]
    skipped = lines.bad + len(lines.records) - len(good)
    by_epoch = {e["epoch"]: e for e in good}  # a repeated epoch: the later line wins
    run_steps: list[dict] = []
    if steps:
        lines = read_lines(folder / STEPS_FILE, budget=READ_RUN_BYTES)
        run_steps = [s for s in lines.records if valid_step(s)]
        skipped += lines.bad + len(lines.records) - len(run_steps)
    started = parse_time(doc.get("started"))
    ended = parse_time(doc.get("ended"))
    duration = doc.get("duration_seconds")
    if duration is None and started is not None:
        if status == "running":
            duration = max(time.time() - started.timestamp(), 0.0)
        else:  # interrupted: until its last write
            duration = max(_last_write(folder) - started.timestamp(), 0.0)
    model, dataset = (str(doc.get(k) or config.get(k) or "") for k in ("model", "dataset"))
    error = doc.get("error") or {}
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return Run(
        folder=folder, name=one_line(doc.get("name") or folder.name, 200), status=status,
        model=_text(shown_model(model)), dataset=_text(shown_dataset(dataset)),
        model_source=_text(model), dataset_source=_text(dataset),
        preset=_text(doc["preset"]) if doc.get("preset") else None, config=config, seed=doc.get("seed"),
        device=_text(doc.get("device")), device_label=_text(doc.get("device_label")),
        precision=_text(doc.get("precision")), versions=doc.get("versions") or {},
        source=_text(doc.get("source")), started=started, ended=ended,
        duration_seconds=float(duration) if duration is not None else None,
        epochs_planned=doc.get("epochs_planned"),
        epochs=[by_epoch[k] for k in sorted(by_epoch)], steps=run_steps, skipped_lines=skipped,
        error=one_line(message) if message else "", checkpoint_error=_text(doc.get("checkpoint_error")),
        pid=doc.get("pid"), hostname=_text(doc.get("hostname")), info=doc,
    )


def _text(value: object) -> str:
    """A text field of run.json as a table cell shows it: one line, escaped, at most 200 characters."""
    return one_line(value, 200) if value else ""


def _last_write(folder: Path) -> float:
    latest = 0.0
    for name in (RUN_FILE, EPOCHS_FILE, STEPS_FILE):
        try:
            latest = max(latest, (folder / name).stat().st_mtime)
        except OSError:
            pass
    return latest


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """Every run in ``runs_dir``, newest first. Folders without run.json are not runs and
    are left out; a bad run is listed as unreadable. RunsError only when ``runs_dir`` itself
    cannot be read (a missing folder has no runs)."""
    runs_dir = resolve_runs_dir(runs_dir)
    runs = [read_run(f) for f in run_folders(runs_dir) if is_run_folder(f)]
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
        for folder in run_folders(self.runs_dir):
            sig = self._signature(folder)
            if sig is None:
                continue
            old = self._cache.get(folder)
            if old is not None and old[0] == sig:
                run = old[1]
                if run.status == "running":
                    # Nothing written, but the writer may have died, and the clock runs.
                    fresh = read_run(folder)
                    if fresh.status != run.status:
                        changed = True
                    run = fresh
            else:
                run = read_run(folder)
                changed = True
            cache[folder] = (sig, run)
        if set(cache) != set(self._cache):
            changed = True
        self._cache = cache
        self.runs = sorted((run for _, run in cache.values()), key=lambda r: (r.sort_key(), r.id), reverse=True)
        return changed
