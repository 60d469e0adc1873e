"""The training loss curve of a run, downsampled as it comes to a bounded number of points."""

from __future__ import annotations

import math
import time

from cnn_gui.core.events import BatchEnded

MAX_STEP_POINTS = 2000


class StepSampler:
    """Per-step training loss in buckets of optimizer steps: at most ``max_points`` points.

    The bucket size comes from the planned number of steps (half the budget, so a run
    longer than planned still fits); each point is the mean loss of its bucket
    (weighted by the batches each report covers) with the latest running accuracy and
    learning rate. Past the plan, or without one, the bucket grows fourfold each time
    half of the remaining budget is used: each such phase then covers twice the steps
    of the one before with half the points, so the bound holds and the curve still
    reaches the end of any practical run (the last point is kept for the run's end).
    """

    def __init__(self, max_points: int = MAX_STEP_POINTS) -> None:
        self.max_points = max(int(max_points), 2)
        self.bucket = 1
        self.count = 0
        self._limit = self.max_points // 2
        self._prev_step: int | None = None
        self._loss_sum = 0.0
        self._weight = 0
        self._last: BatchEnded | None = None

    def plan(self, first_step: int, last_step: int) -> None:
        """The run will take steps ``first_step + 1 .. last_step``."""
        planned = max(int(last_step) - int(first_step), 0)
        self.bucket = max(1, math.ceil(planned / (self.max_points // 2)))
        self._prev_step = int(first_step)

    def add(self, ev: BatchEnded) -> dict | None:
        """Take one report; a finished bucket's point, or None."""
        prev = self._prev_step if self._prev_step is not None else ev.step - ev.batch
        weight = max(ev.step - prev, 1)
        self._prev_step = ev.step
        if math.isfinite(ev.loss):
            self._loss_sum += ev.loss * weight
            self._weight += weight
        self._last = ev
        edge = ((ev.step - 1) // self.bucket + 1) * self.bucket
        if ev.step >= edge:
            return self._emit()
        return None

    def flush(self) -> dict | None:
        """The unfinished bucket's point (the end of a run), or None."""
        return self._emit(final=True) if self._last is not None else None

    def _emit(self, final: bool = False) -> dict | None:
        ev, self._last = self._last, None
        loss = self._loss_sum / self._weight if self._weight else None
        self._loss_sum, self._weight = 0.0, 0
        if ev is None or self.count >= self.max_points - (0 if final else 1):
            return None
        self.count += 1
        if self.count >= self._limit:
            self.bucket *= 4
            self._limit += max((self.max_points - self._limit) // 2, 1)
        return {"step": ev.step, "epoch": ev.epoch, "batch": ev.batch, "loss": loss,
                "accuracy": ev.accuracy, "lr": ev.lr, "samples_per_sec": ev.samples_per_sec,
                "t": round(time.time(), 3)}
