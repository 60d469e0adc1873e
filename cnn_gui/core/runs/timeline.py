"""A run's timeline: its snapshots with the run's extent, and the weights at one of them.

What the window's time slider (and anything else that goes back through a run) reads:

- :func:`run_folder_of` -- the run folder that holds a checkpoint (the current weights'
  ``kept_in``), when that folder keeps snapshots: the run the weights came from;
  :func:`timeline_of` its timeline.
- :func:`read_timeline` -- the folder's snapshots (:mod:`~cnn_gui.core.runs.snapshots`)
  and, from its ``run.json``, how many steps the run planned and its batches per epoch,
  each checked once here, and its per-step curve. File I/O: call it off the GUI thread.
- :func:`snapshot_predictor` -- a frozen predictor (:class:`Predictor`) holding one
  snapshot's weights, reading images as ``like`` does (the run's own weights' predictor).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cnn_gui.core.runs.snapshots import FOLDER, Snapshot, list_snapshots, load_snapshot

if TYPE_CHECKING:
    from cnn_gui.core.analysis.predictor import Predictor

MAX_STEPS = 10**9  # a run.json's step counts above this are not believed


@dataclass(frozen=True)
class Timeline:
    """The moments of one run the weights can be taken from, by step."""

    folder: Path
    snapshots: tuple[Snapshot, ...] = ()
    total_steps: int | None = None  # steps the run planned (None: unknown)
    batches_per_epoch: int | None = None
    steps: tuple[dict, ...] = ()  # the run's per-step points as steps.jsonl recorded them (checked)

    def __len__(self) -> int:
        return len(self.snapshots)

    @property
    def last_step(self) -> int:
        """The step the slider's scale ends at: the plan, or the last snapshot when it went further."""
        last = self.snapshots[-1].step if self.snapshots else 0
        return max(last, self.total_steps or 0)

    def label(self, index: int) -> str:
        """"step 200 of 1,800, epoch 1": which snapshot answers."""
        return self.snapshots[index].label(self.total_steps)

    def with_snapshot(self, snapshot: Snapshot) -> "Timeline":
        """One more snapshot (a run still training kept it); the same step replaces the old one."""
        kept = {s.step: s for s in self.snapshots}
        kept[snapshot.step] = snapshot
        return replace(self, snapshots=tuple(kept[k] for k in sorted(kept)))

    def epoch_position(self, step: int) -> float | None:
        """``step`` on the epoch axis (epoch k ends at k), None without batches per epoch."""
        return step / self.batches_per_epoch if self.batches_per_epoch else None


def run_folder_of(checkpoint: str | os.PathLike | None) -> Path | None:
    """The run folder a checkpoint file lies in, when that folder keeps snapshots; else None."""
    if not checkpoint:
        return None
    folder = Path(checkpoint).parent
    return folder if (folder / FOLDER).is_dir() else None


def _count(value: object) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_STEPS
    return int(value) if ok else None


def timeline_of(checkpoint: str | os.PathLike | None) -> Timeline | None:
    """The timeline of the run a checkpoint file was kept in (None: not a run's, or no snapshots)."""
    folder = run_folder_of(checkpoint)
    return read_timeline(folder) if folder is not None else None


def read_timeline(folder: str | os.PathLike) -> Timeline:
    """``folder``'s snapshots and extent (never raising: an unreadable run.json leaves the extent unknown)."""
    from cnn_gui.core.runs.reader import read_run

    folder = Path(folder)
    run = read_run(folder, steps=True)
    info = run.info
    return Timeline(folder, tuple(list_snapshots(folder)), _count(info.get("steps_planned")),
                    _count(info.get("batches_per_epoch")), tuple(run.steps))


def snapshot_predictor(snapshot: Snapshot, like: "Predictor") -> "Predictor":
    """A frozen predictor with ``snapshot``'s weights that reads images as ``like`` does;
    :class:`~cnn_gui.core.runs.snapshots.SnapshotError` when the file is not ``like``'s network."""
    predictor = like.copy()
    load_snapshot(snapshot, predictor.model)
    return predictor
