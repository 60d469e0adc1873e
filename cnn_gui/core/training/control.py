"""A run's stop and pause switch, and where a run stands (what a checkpoint saves to resume)."""

from __future__ import annotations

import threading
from dataclasses import dataclass


class RunControl:
    """Stop and pause of one run, safe to call from any thread, made before the run starts.

    The caller creates it and hands it to the :class:`~cnn_gui.core.training.engine.Trainer`,
    so a stop requested while the dataset is still loading counts: ``fit()`` never clears
    it. A stopped control stays stopped; the next run gets a new one.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()  # set = not paused
        self._held = threading.Event()  # set while the run waits in pause
        self._rate: float | None = None  # a new learning rate, taken before the next batch
        self._rate_lock = threading.Lock()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_if_paused(self) -> None:
        self._held.set()  # between two batches: the model and optimizer are consistent now
        try:
            self._running.wait()
        finally:
            self._held.clear()

    def request_rate(self, rate: float) -> None:
        """Train with learning rate ``rate`` from the next batch on (the latest request wins)."""
        if not (rate > 0 and rate < float("inf")):
            raise ValueError(f"a learning rate must be above 0 and finite, not {rate!r}")
        with self._rate_lock:
            self._rate = float(rate)

    def take_rate(self) -> float | None:
        """The rate requested since the last call, once; None when there is none (the trainer's side)."""
        with self._rate_lock:
            rate, self._rate = self._rate, None
        return rate

    def wait_until_held(self, timeout: float) -> bool:
        """After pause(): wait until the run really holds between two batches (True), e.g. to save."""
        return self._held.wait(timeout)


@dataclass
class Position:
    """Where a run stands; saved in checkpoints so a later run continues exactly here."""

    epoch: int = 0  # epochs fully completed
    batch: int = 0  # batches done in epoch ``epoch + 1``
    step: int = 0  # optimizer steps in total
    loss_sum: float = 0.0  # over the samples of the unfinished epoch
    correct: int = 0
    seen: int = 0
    train_seconds: float = 0.0  # of the unfinished epoch

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict) -> "Position":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})
