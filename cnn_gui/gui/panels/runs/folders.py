"""The Runs tab's runs folders: the window's own and those it follows, listed together.

Each folder has its own :class:`~cnn_gui.gui.panels.runs.reading.FolderReader` (its own job
thread), so a share that hangs holds only its own listing: the others go on, and it says
"not answering" where the folders are summed up. A followed folder that is missing (an
unmounted share) is *unreachable*: its runs leave the table and the summary says since
when, until it is back (rules in :mod:`cnn_gui.core.runs.followed`).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cnn_gui.core.runs.followed import short_names
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.panels.runs import reading


class FolderSet(QObject):
    """The own runs folder and the followed ones, each read by its own reader.

    Signals: ``changed()`` on the GUI thread when a listing arrived (read :meth:`runs`,
    :meth:`checkpoints`, :meth:`followed_summary`); ``note(str)``, a line about the *own*
    folder (taking long, cannot be read) for the message under the table. What concerns a
    followed folder stays in its summary: never a dialog, never a message a second.
    """

    changed = Signal()
    note = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.own = reading.FolderReader(self)
        self.own.listed.connect(partial(self._listed, self.own))
        self.own.note.connect(self.note)
        self._followed: dict[Path, reading.FolderReader] = {}
        self._listings: dict[reading.FolderReader, reading.Listing] = {}
        self._unreachable_since: dict[Path, float] = {}
        self._slow: set[Path] = set()

    # -- which folders ---------------------------------------------------------------------

    @property
    def own_folder(self) -> Path | None:
        return self.own.folder

    @property
    def followed(self) -> list[Path]:
        return list(self._followed)

    def set_own(self, folder: Path) -> None:
        """Read ``folder`` as the own one from now on (its earlier listing is dropped)."""
        self.own.set_folder(folder)
        self._listings.pop(self.own, None)

    def set_followed(self, folders: list[Path]) -> None:
        """Follow exactly ``folders`` (readers of folders no longer followed stop delivering)."""
        for folder in [f for f in self._followed if f not in folders]:
            reader = self._followed.pop(folder)
            reader.jobs.shutdown(0.0)
            self._listings.pop(reader, None)
            self._unreachable_since.pop(folder, None)
            self._slow.discard(folder)
        for folder in folders:
            if folder not in self._followed:
                reader = reading.FolderReader(self, followed=True)
                reader.set_folder(folder)
                reader.listed.connect(partial(self._listed, reader))
                reader.note.connect(partial(self._followed_note, folder))
                self._followed[folder] = reader
        self._followed = {f: self._followed[f] for f in folders}

    # -- reading ---------------------------------------------------------------------------------

    def refresh(self, force: bool = True) -> None:
        for reader in self.readers():
            reader.refresh(force=force)

    def readers(self) -> list[reading.FolderReader]:
        return [self.own, *self._followed.values()]

    def busy(self) -> bool:
        return any(reader.busy() for reader in self.readers())

    def _listed(self, reader: reading.FolderReader, listing: reading.Listing) -> None:
        if reader is not self.own and reader not in self._followed.values():
            return  # a folder no longer followed
        self._listings[reader] = listing
        folder = reader.folder
        if reader is not self.own:
            self._slow.discard(folder)
            if listing.reachable:
                self._unreachable_since.pop(folder, None)
            else:
                self._unreachable_since.setdefault(folder, time.time())
        self.changed.emit()

    def _followed_note(self, folder: Path, _text: str) -> None:
        if folder in self._followed:
            self._slow.add(folder)
            self.changed.emit()

    # -- what was found ----------------------------------------------------------------------------

    def own_listing(self) -> reading.Listing | None:
        return self._listings.get(self.own)

    def runs(self) -> list[Run]:
        """Every run listed: the own folder's, then each reachable followed folder's."""
        seen: dict[Path, Run] = {}
        for reader in self.readers():
            listing = self._listings.get(reader)
            for run in listing.runs if listing is not None else ():
                seen.setdefault(run.folder, run)
        return list(seen.values())

    def checkpoints(self) -> dict[Path, Path | None]:
        found: dict[Path, Path | None] = {}
        for listing in self._listings.values():
            found.update(listing.checkpoints)
        return found

    def names(self) -> dict[Path, str]:
        """A short name for each runs folder that tells them apart (for the table's Folder column)."""
        folders = [f for f in (self.own_folder, *self._followed) if f is not None]
        return short_names(folders)

    def state_of(self, folder: Path) -> str:
        """How a followed folder is: "3 runs", "unreachable since 14:02: <why>", "not answering"."""
        reader = self._followed.get(folder)
        if reader is None:
            return ""
        listing = self._listings.get(reader)
        if folder in self._slow:
            return f"not answering (over {reading.SLOW_S:g} s)"
        if listing is None:
            return "reading…"
        if not listing.reachable:
            since = time.strftime("%H:%M", time.localtime(self._unreachable_since.get(folder, time.time())))
            return f"unreachable since {since}: {listing.problem}"
        count = len(listing.runs)
        text = f"{count} run{'' if count == 1 else 's'}"
        return f"{text} ({listing.problem})" if listing.problem else text

    def followed_summary(self) -> tuple[str, str, bool]:
        """(one line, its tooltip, whether any followed folder is out of reach now)."""
        if not self._followed:
            return "", "", False
        states = {folder: self.state_of(folder) for folder in self._followed}
        names = self.names()
        troubled = [f for f, state in states.items() if state.startswith(("unreachable", "not answering"))]
        runs = sum(len(self._listings[r].runs) for r in self._followed.values() if r in self._listings)
        count = len(self._followed)
        line = f"following {count} folder{'' if count == 1 else 's'}: {runs} run{'' if runs == 1 else 's'}"
        if troubled:
            first = troubled[0]
            line += f"; {names.get(first, first.name)} {states[first].split(':')[0]}"
            if len(troubled) > 1:
                line += f" (and {len(troubled) - 1} more)"
        tip = "\n".join(f"{folder}: {state}" for folder, state in states.items())
        return line, tip, bool(troubled)

    def runners(self) -> list[JobRunner]:
        return [reader.jobs for reader in self.readers()]

