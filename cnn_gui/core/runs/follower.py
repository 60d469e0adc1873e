"""Following a run another process writes: what was appended since the last look."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cnn_gui.core.runs.layout import EPOCHS_FILE, STEPS_FILE
from cnn_gui.core.runs.records import read_lines, valid_epoch, valid_step


@dataclass
class RunUpdate:
    """What a :class:`RunFollower` found since its last poll."""

    epochs: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    reset: bool = False  # a file was replaced or shrank: drop what was shown and take these

    def __bool__(self) -> bool:
        return bool(self.epochs or self.steps or self.reset)


class _Tail:
    """The valid records appended to one file since the last poll."""

    def __init__(self, path: Path, check: Callable[[dict], bool]) -> None:
        self.path = path
        self.check = check
        self.offset = 0
        self.skipping = False  # the offset is inside an over-long line (see records.read_lines)
        self.size_read = 0  # the file's size when it was last read: unchanged, nothing to read again
        self.ident: tuple | None = None

    def poll(self) -> tuple[list[dict], bool]:
        reset = False
        try:
            st = os.stat(self.path)
        except OSError:
            if self.offset or self.size_read:
                self.offset, self.skipping, self.size_read, self.ident, reset = 0, False, 0, None, True
            return [], reset
        ident = (st.st_dev, st.st_ino)  # a file replaced by another (rewritten by hand) starts over
        if (self.ident is not None and ident != self.ident) or st.st_size < self.offset:
            self.offset, self.skipping, self.size_read, reset = 0, False, 0, True
        self.ident = ident
        if st.st_size in (self.offset, self.size_read):  # nothing new (a half line waits for its end)
            return [], reset
        lines = read_lines(self.path, self.offset, skipping=self.skipping)
        self.offset, self.skipping = lines.offset, lines.skipping
        self.size_read = st.st_size if lines.at_end else 0
        return [r for r in lines.records if self.check(r)], reset


class RunFollower:
    """New epoch and step records of one run folder since the last :meth:`poll`.

    Reads only what was appended (by byte offset; a half-written last line waits for
    its end), so polling a growing run every second costs a ``stat`` or two. An
    over-long line is read past once, never again (see :mod:`~cnn_gui.core.runs.records`).
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
