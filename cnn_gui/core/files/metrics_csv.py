"""Per-epoch and per-step metrics as one CSV file, without Qt.

The columns are those of the window's *Export metrics* (``gui/panels/training_plots/``), so a file
exported from the plots, from the Runs view or from a headless run reads the same:
``kind,epoch,step,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds``.
Rows with ``kind=batch`` come first (``epoch``, ``step``, the running ``train_loss`` and
``train_accuracy``, ``lr``), then one ``kind=epoch`` row per epoch (``step`` empty).
Accuracies are fractions 0..1; numbers are written with ``repr`` so they read back
exactly; a missing or non-finite value is an empty cell.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.files.safe_io import atomic_write

CSV_HEADER = (
    "kind", "epoch", "step", "train_loss", "train_accuracy",
    "test_loss", "test_accuracy", "lr", "seconds",
)


def _cell(value: object, integer: bool = False) -> str:
    if value is None or isinstance(value, bool):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    return str(int(number)) if integer else repr(number)


def metrics_rows(epochs: Iterable[Mapping], steps: Iterable[Mapping] = ()) -> list[list[str]]:
    """The CSV rows (header first) for ``steps`` (dicts with ``epoch, step, loss, accuracy,
    lr``) and ``epochs`` (``EpochEnded.to_dict()``-like dicts)."""
    rows = [list(CSV_HEADER)]
    for s in steps:
        rows.append(["batch", _cell(s.get("epoch"), True), _cell(s.get("step"), True),
                     _cell(s.get("loss")), _cell(s.get("accuracy")), "", "", _cell(s.get("lr")), ""])
    for e in epochs:
        rows.append(["epoch", _cell(e.get("epoch"), True), "", _cell(e.get("train_loss")),
                     _cell(e.get("train_accuracy")), _cell(e.get("test_loss")),
                     _cell(e.get("test_accuracy")), _cell(e.get("lr")), _cell(e.get("seconds"))])
    return rows


def write_metrics_csv(path: str | os.PathLike, epochs: Iterable[Mapping],
                      steps: Iterable[Mapping] = ()) -> Path:
    """Write :func:`metrics_rows` to ``path`` whole (:func:`atomic_write`); CnnGuiError (one
    line) when it cannot, also for a target that is not a regular file."""
    path = Path(path)
    rows = metrics_rows(epochs, steps)

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)

    try:
        return atomic_write(path, write)
    except OSError as exc:
        raise CnnGuiError(f"cannot write {path}: {exc.strerror or exc}") from exc
