"""The Runs tab's file work, off the GUI thread: listing a runs folder, deleting runs.

A runs folder may hold anything: a named pipe called ``run.json``, a folder on a network
drive that hangs. So the GUI thread never opens a run's file: the core's reader
(:class:`~cnn_gui.core.runs.reader.RunsIndex`, :func:`~cnn_gui.core.runs.manage.rename_run`,
...) runs on :class:`~cnn_gui.gui.background.jobs.JobRunner` threads, and the view shows
what they return when it arrives. A job that takes longer than :data:`SLOW_S` says so in
one line and the window goes on; its result still comes when it is done.

:class:`FolderReader` lists one folder. A forced :meth:`~FolderReader.refresh` (the user's,
or after an action) supersedes a listing in flight, whose late result is dropped; the
timer's polls wait for it instead, so a stuck drive holds one thread, not one per second.
A thread blocked in a read cannot be killed; it is a daemon and never calls back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cnn_gui.core.errors import describe
from cnn_gui.core.runs.followed import check_reachable
from cnn_gui.core.runs.layout import RunsError
from cnn_gui.core.runs.manage import delete_run
from cnn_gui.core.runs.reader import Run, RunsIndex
from cnn_gui.gui.background.jobs import JobRunner

SLOW_S = 5.0  # seconds before a read or an action in the Runs tab says it is taking long; tests lower it
SLOW_LISTING = "Reading the runs folder is taking long (over {:g} s); the window goes on meanwhile"
LIST = "list"


@dataclass(frozen=True)
class Listing:
    """What one look at a runs folder found (made on a job's thread)."""

    runs: list[Run]
    problem: str  # why the folder itself cannot be read; "" when it can
    checkpoints: dict[Path, Path | None]  # each run's final weights, looked up here, not on the GUI thread
    reachable: bool = True  # False: a followed folder that is not there now (its runs are left out)


def list_folder(index: RunsIndex, followed: bool = False) -> Listing:
    """On a job's thread: ``index`` refreshed, and each run's checkpoint. A ``followed``
    folder that cannot be reached lists no runs (core/runs/followed.py)."""
    if followed:
        try:
            check_reachable(index.runs_dir)
        except RunsError as exc:
            return Listing([], str(exc), {}, reachable=False)
    try:
        index.refresh()
        problem = ""
    except RunsError as exc:
        problem = str(exc)
    runs = list(index.runs)
    return Listing(runs, problem, {run.folder: run.checkpoint for run in runs})


def delete_runs(folders: list[Path]) -> list[str]:
    """On a job's thread: delete each run folder; why each one that was not deleted was not."""
    problems = []
    for folder in folders:
        try:
            delete_run(folder)
        except Exception as exc:  # noqa: BLE001 - each folder is tried; the reasons are shown
            problems.append(describe(exc)[0])
    return problems


class FolderReader(QObject):
    """Lists one runs folder on job threads.

    Signals: ``listed(Listing)`` on the GUI thread when a listing arrives; ``note(str)``, a
    line to show, when one takes longer than :data:`SLOW_S` or fails unforeseen.
    """

    listed = Signal(object)
    note = Signal(str)

    def __init__(self, parent: QObject | None = None, followed: bool = False) -> None:
        super().__init__(parent)
        self.jobs = JobRunner(self)
        self.followed = followed
        self._index: RunsIndex | None = None

    @property
    def folder(self) -> Path | None:
        return self._index.runs_dir if self._index is not None else None

    def set_folder(self, folder: str | os.PathLike) -> None:
        """Read ``folder`` from now on (nothing yet); a listing of the previous one is dropped."""
        self.jobs.cancel(LIST)
        self._index = RunsIndex(folder)

    def refresh(self, force: bool = True) -> None:
        """Start a listing. ``force``: even while one is in flight (superseding it); else
        (the timer's poll) only when none is."""
        if self.jobs.pending(LIST):
            if not force:
                return
            # The superseded job's thread may still be reading with the old index: a fresh one.
            self._index = RunsIndex(self._index.runs_dir)
        self.jobs.submit(list_folder, self._index, self.followed, key=LIST, timeout=SLOW_S, on_done=self.listed.emit,
                         on_error=self._failed, on_timeout=lambda: self.note.emit(SLOW_LISTING.format(SLOW_S)))

    def _failed(self, exc: BaseException) -> None:
        """An error the reader did not foresee: the runs shown stay, and why it failed is said."""
        self.note.emit(f"Could not read the runs folder: {describe(exc)[0]}")

    def busy(self) -> bool:
        return self.jobs.busy()
