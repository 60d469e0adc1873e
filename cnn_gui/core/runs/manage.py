"""What the Runs view does to a run folder: rename it, delete it, export its metrics.

Rename and delete touch nothing outside the runs folder: a run folder that is a
symbolic link, or whose ``run.json`` is one, is refused (a rename would write the
linked file, wherever it is). A broken run.json (deep nesting, NaN, a FIFO) is one
:class:`RunsError` line for rename and export, and never keeps a run from being deleted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cnn_gui.core.errors import one_line
from cnn_gui.core.files.metrics_csv import write_metrics_csv
from cnn_gui.core.files.processes import writer_alive
from cnn_gui.core.files.safe_io import read_regular
from cnn_gui.core.runs.layout import MAX_RUN_JSON_BYTES, RUN_FILE, RunsError, is_int, is_run_folder
from cnn_gui.core.runs.reader import Run, read_info, read_run
from cnn_gui.core.runs.strict_json import load_json
from cnn_gui.core.runs.writer import write_info


def _refuse_links(folder: Path) -> None:
    """RunsError when ``folder`` or its run.json is a symbolic link (or a Windows junction)."""
    for path, what in ((folder, f"the run folder {folder}"), (folder / RUN_FILE, f"run.json in {folder}")):
        try:
            link = path.is_symlink() or (hasattr(path, "is_junction") and path.is_junction())
        except OSError:
            link = False
        if link:
            raise RunsError(f"{what} is a symbolic link; cnn-gui changes only the run folders it wrote")


def rename_run(folder: str | os.PathLike, name: str) -> Run:
    """Give a run another display name (its folder keeps its name, so followers keep going)."""
    folder = Path(folder)
    name = one_line(name, 120).strip()
    if not name:
        raise RunsError("a run's name cannot be empty")
    _refuse_links(folder)
    try:
        doc = read_info(folder)
    except RunsError as exc:
        raise RunsError(f"cannot rename the run in {folder.name}: {exc}") from exc
    doc["name"] = name
    try:
        write_info(folder / RUN_FILE, doc)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RunsError(f"cannot rename the run in {folder}: {why}") from exc
    return read_run(folder)


def delete_run(folder: str | os.PathLike) -> None:
    """Delete a run folder: only one that holds a run.json, and never one still being written."""
    folder = Path(folder)
    _refuse_links(folder)
    if not is_run_folder(folder):
        raise RunsError(f"{folder} does not look like a run folder (no run.json), so it was not deleted")
    try:  # unchecked (a run with one bad field may still run), but parsed with the runs' limits
        doc = load_json(read_regular(folder / RUN_FILE, MAX_RUN_JSON_BYTES), "run.json")
    except (OSError, RunsError):  # unreadable: nothing says it still runs
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
