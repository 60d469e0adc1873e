"""What the Runs view does to a run folder: rename it, delete it, export its metrics."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from cnn_gui.core.errors import one_line
from cnn_gui.core.files.metrics_csv import write_metrics_csv
from cnn_gui.core.files.processes import writer_alive
from cnn_gui.core.files.safe_io import read_regular_text
from cnn_gui.core.runs.layout import MAX_RUN_JSON_BYTES, RUN_FILE, RunsError, is_int, is_run_folder
from cnn_gui.core.runs.reader import Run, read_info, read_run
from cnn_gui.core.runs.writer import write_info


def rename_run(folder: str | os.PathLike, name: str) -> Run:
    """Give a run another display name (its folder keeps its name, so followers keep going)."""
    folder = Path(folder)
    name = one_line(name, 120).strip()
    if not name:
        raise RunsError("a run's name cannot be empty")
    doc = read_info(folder)
    doc["name"] = name
    try:
        write_info(folder / RUN_FILE, doc)
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
        if alive is None and is_int(doc.get("pid")) and isinstance(doc.get("hostname"), str):
            raise RunsError(f"the run {folder.name} may still be running on {one_line(doc['hostname'], 60)}; "
                            "delete it there, or by hand")
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        raise RunsError(f"cannot delete {folder}: {exc.strerror or exc}") from exc


def run_metrics_csv(run: Run | str | os.PathLike, path: str | os.PathLike) -> Path:
    """The run's epochs and its (downsampled) step curve as the window's metrics CSV."""
    folder = run.folder if isinstance(run, Run) else Path(run)
    full = read_run(folder, steps=True)
    if not full.readable:
        raise RunsError(f"cannot export {folder.name}: {full.problem}")
    return write_metrics_csv(path, full.epochs, full.steps)
