"""The lines of ``epochs.jsonl`` and ``steps.jsonl``: complete lines read from an offset,
and the records that are an epoch's or a step's.

Every file may have been edited, truncated or half-written by a killed writer: a last
line without its newline is not there yet, and a bad line is skipped and counted. A
line longer than :data:`MAX_LINE_BYTES` is never held in memory: it is skipped (counted
once) and the lines after it are read; a follower whose poll ended inside such a line
goes on skipping it at the next poll instead of reading it again. A read takes at most
:data:`MAX_LINES` lines and never parses a line that cannot be an object, so a file of
millions of short lines costs a fraction of a second, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnn_gui.core.files.safe_io import open_regular
from cnn_gui.core.runs.layout import RunsError, is_finite, is_int
from cnn_gui.core.runs.strict_json import load_json

MAX_LINE_BYTES = 1_000_000  # a record is ~300 bytes; a longer line was not written by cnn-gui
MAX_LINES = 25_000  # per read: a run writes at most 10,000 epochs and ~2,000 step points
FOLLOW_READ_BYTES = 16_000_000  # per follower poll: never hold the GUI thread on a huge file
READ_RUN_BYTES = 64_000_000  # per file when a run is read whole (a real one is under 2 MB)
_CHUNK = 1 << 20


@dataclass
class Lines:
    """What :func:`read_lines` found: the records, where to go on, and the bad lines."""

    records: list[dict] = field(default_factory=list)
    offset: int = 0  # just past the last complete (or skipped) line
    bad: int = 0  # lines that are not a JSON object, or longer than MAX_LINE_BYTES
    skipping: bool = False  # ``offset`` is inside an over-long line: skip to its end first
    at_end: bool = False  # the file was read to its end (not stopped by the budget or MAX_LINES)
    lines: int = 0  # complete lines taken


def _take(out: Lines, line: bytes) -> None:
    out.lines += 1
    out.offset += len(line) + 1
    text = line.strip()
    if not text:
        return
    if len(line) > MAX_LINE_BYTES or not (text.startswith(b"{") and text.endswith(b"}")):
        out.bad += 1  # not an object: not worth parsing (4 million lines of "x" take no time)
        return
    try:
        out.records.append(load_json(text, "a line"))
    except RunsError:
        out.bad += 1


def _scan(f, out: Lines, budget: int) -> None:
    """Take the complete lines from ``f``'s position into ``out``, up to ``budget`` bytes or MAX_LINES."""
    pending, left = b"", budget
    while left > 0:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            out.at_end = True
            return
        left -= len(chunk)
        if out.skipping:
            end = chunk.find(b"\n")
            out.offset += len(chunk) if end < 0 else end + 1
            if end < 0:
                continue
            chunk, out.skipping = chunk[end + 1:], False
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if out.lines >= MAX_LINES:
                return  # the rest at the next read (a follower's next poll)
            _take(out, line)
        if len(pending) > MAX_LINE_BYTES:  # no end in sight: skip it without holding it
            out.offset += len(pending)
            pending, out.skipping = b"", True
            out.bad += 1


def read_lines(path: Path, offset: int = 0, budget: int = FOLLOW_READ_BYTES, skipping: bool = False) -> Lines:
    """JSON objects of the complete lines after byte ``offset``, reading at most ``budget``
    bytes and :data:`MAX_LINES` lines.

    A last line without its newline is not consumed (its writer may be mid-write); a
    line that is not a JSON object is skipped and counted; so is an over-long one, whose
    bytes are read past, never kept. ``skipping``: ``offset`` is inside an over-long line
    a previous call began skipping. A missing or unreadable file reads as nothing new.
    """
    out = Lines(offset=offset, skipping=skipping)
    try:
        f = open_regular(path)
    except OSError:  # missing, not a file, or unreadable for now: nothing to add
        return out
    with f:
        try:
            f.seek(offset)
            _scan(f, out, budget)
        except OSError:  # a read error part-way: keep what was read whole
            pass
    return out


_EPOCH_NUMBERS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                  "samples_per_sec", "lr")


def valid_epoch(rec: dict) -> bool:
    """An epochs.jsonl record: a whole epoch >= 1, numbers (or null) where numbers go."""
    if not (is_int(rec.get("epoch")) and rec["epoch"] >= 1):
        return False
    for key in _EPOCH_NUMBERS:
        v = rec.get(key)
        if v is not None and not is_finite(v):
            return False
    for key in ("train_accuracy", "test_accuracy"):
        v = rec.get(key)
        if v is not None and not 0 <= v <= 1:
            return False
    return True


def valid_step(rec: dict) -> bool:
    """A steps.jsonl record: a whole step >= 1, numeric (or null) loss, accuracy, rate and epoch,
    and a whole (or null) epoch and batch."""
    if not (is_int(rec.get("step")) and rec["step"] >= 1):
        return False
    for key in ("loss", "accuracy", "lr", "epoch"):
        v = rec.get(key)
        if v is not None and not is_finite(v):
            return False
    return all(rec.get(key) is None or (is_int(rec[key]) and rec[key] >= 0) for key in ("epoch", "batch"))
