"""The lines of ``epochs.jsonl`` and ``steps.jsonl``: complete lines read from an offset,
and the records that are an epoch's or a step's.

Every file may have been edited, truncated or half-written by a killed writer: a last
line without its newline is not there yet, and a bad line is skipped and counted.
"""

from __future__ import annotations

import json
from pathlib import Path

from cnn_gui.core.files.safe_io import open_regular
from cnn_gui.core.runs.layout import is_finite, is_int

MAX_READ_BYTES = 16_000_000  # per follower poll: never hold the GUI thread on a huge file


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
    """A steps.jsonl record: a whole step >= 1 and a numeric (or null) loss."""
    if not (is_int(rec.get("step")) and rec["step"] >= 1):
        return False
    for key in ("loss", "accuracy", "lr", "epoch"):
        v = rec.get(key)
        if v is not None and not is_finite(v):
            return False
    return True
