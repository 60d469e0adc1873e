"""The running state of one training epoch: device-side sums, samples seen, time trained.

The hot loop never waits for the GPU: loss and hits are summed on the device and read
back only when an event is due. An epoch resumed from a checkpoint starts from the saved
position's sums, so its reported loss and accuracy cover the whole epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import torch

from cnn_gui.core.training.control import Position


class NonFiniteLoss(RuntimeError):
    pass


class StoppedInTest(Exception):
    """Raised inside the test pass when the run is stopped; never leaves the engine."""


def check_finite(value: float, epoch: int, batch: int) -> None:
    if not math.isfinite(value):
        raise NonFiniteLoss(f"The loss became {value} in epoch {epoch} near batch {batch}; training stopped.")


def permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    # Derived from (seed, epoch) alone, so a resumed run replays the same order. Modulo
    # 2**64, which manual_seed accepts: the same seed as before for every seed below ~1.8e13,
    # where it did not overflow.
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (1 << 64))
    return torch.randperm(n, generator=gen)


class Sums:
    """Device-side sums of one run: the epoch's loss and hits, and the loss since the last report.

    Made once per run and reset in place at each epoch: a CUDA graph adds into these very tensors.
    """

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.window = torch.zeros((), dtype=torch.float64, device=device)

    def start(self, loss_sum: float, correct: int) -> None:
        """A new epoch, from a saved position's sums (zero for a fresh one)."""
        self.loss.zero_()
        self.correct.zero_()
        self.loss += loss_sum
        self.correct += correct
        self.window.zero_()

    def add(self, batch_loss: torch.Tensor, hits: torch.Tensor) -> None:
        self.loss += batch_loss
        self.window += batch_loss
        self.correct += hits.sum()


class Epoch:
    """Epoch ``number`` as it trains: its sums, samples seen and seconds trained (clocked
    between batches, not while paused), and when it last reported."""

    def __init__(self, pos: Position, sums: Sums) -> None:
        self.number = pos.epoch + 1
        self.sums = sums
        sums.start(pos.loss_sum, pos.correct)
        self.window_samples = 0
        self.seen = pos.seen
        self.train_seconds = pos.train_seconds
        self.last_report = self.clock = time.perf_counter()

    def stop_clock(self) -> None:
        self.train_seconds += time.perf_counter() - self.clock

    def start_clock(self) -> None:
        self.clock = time.perf_counter()

    def held(self, pos: Position) -> Position:
        """``pos`` with this epoch's running sums: what a save mid-epoch must write."""
        return replace(pos, loss_sum=self.sums.loss.item(), correct=int(self.sums.correct.item()),
                       seen=self.seen, train_seconds=self.train_seconds)

    def train_loss(self) -> float:
        return self.sums.loss.item() / max(self.seen, 1)

    def train_accuracy(self) -> float:
        return self.sums.correct.item() / max(self.seen, 1)
