"""The watch list: images a user pinned, read again as the network trains.

A :class:`Pinned` image is kept as the network reads it before normalisation (float32 in
[0, 1], (C, H, W)) with the class it should be (a test image's true class, or what the
drawing was meant to be: the network's answer when it was pinned) by name, so the same pin
reads right with any weights whose classes name it. At most :data:`MAX_PINNED`.

A :class:`WatchHistory` records readings: one array (pinned x classes) of probabilities per
step, from two sources kept apart --

- at each of the run's snapshots, by a predictor built from that snapshot
  (:func:`read_pinned`; exactly what going back to the snapshot shows);
- at the progress throttle while training, from the live model on the training thread
  (:class:`LiveWatch`, in eval mode between two optimizer steps, nothing of the training's
  state touched).

:meth:`WatchHistory.last_forgotten` finds the last step where a pin went from right to wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnn_gui.core.analysis.predictor import MIN_CONFIDENCE
from cnn_gui.core.errors import CnnGuiError

MAX_PINNED = 16
MAX_LIVE = 2000  # live readings kept per run (twice a second: ~17 minutes), thinned by half past it


@dataclass(frozen=True, eq=False)
class Pinned:
    image: np.ndarray  # float32 (C, H, W) in [0, 1]
    target: str  # the class it should be, by name
    name: str  # "test image #12", "drawing 3"

    def fits(self, input_shape) -> bool:
        """Whether a network reading ``input_shape`` (C, H, W) reads this image."""
        return tuple(self.image.shape) == tuple(int(v) for v in input_shape)


def as_pinned(image, target: str, name: str) -> Pinned:
    """``image`` ((H, W) or (C, H, W), floats in [0, 1]) as a pin, copied; ValueError when it is not one."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.size == 0 or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise ValueError("a pinned image is (C, H, W) pixels in [0, 1]")
    return Pinned(np.ascontiguousarray(a).copy(), str(target), str(name))


def read_pinned(predictor, pins: list[Pinned]) -> np.ndarray | None:
    """Probabilities (len(pins), classes) of each pin by ``predictor`` (a frozen copy); a pin
    the network cannot read (another image size) is a row of NaN; None when none is read.
    One batch when every pin fits (16 pins in ~5 ms on 2 cores, against ~60 one by one)."""
    if not pins:
        return None
    try:
        return predictor.predict_many([p.image for p in pins])
    except CnnGuiError:
        pass  # one pin or more does not fit: each on its own, the others still read
    rows: list[np.ndarray | None] = []
    for pin in pins:
        try:
            rows.append(predictor.predict(pin.image))
        except CnnGuiError:  # InputError, PredictionError: this pin, not the others
            rows.append(None)
    return _with_gaps(rows)


def _with_gaps(rows: list[np.ndarray | None]) -> np.ndarray | None:
    read = [r for r in rows if r is not None]
    if not read:
        return None
    gap = np.full_like(read[0], np.nan)
    return np.stack([gap if r is None else r for r in rows]).astype(np.float32)


class LiveWatch:
    """The pins as the run being trained reads them (made on the training thread, once its
    data and network are known): :meth:`read` between two optimizer steps."""

    def __init__(self, pins: list[Pinned], data, input_shape) -> None:
        from cnn_gui.core.inputs.preprocess import normalize
        from cnn_gui.core.weights import Normalization

        norm = Normalization.of_data(data)
        self.count = len(pins)
        self.rows = [i for i, p in enumerate(pins) if p.fits(input_shape)]
        self.batch = (torch.from_numpy(np.stack([normalize(pins[i].image, norm.mean, norm.std) for i in self.rows]))
                      if self.rows else None)

    def read(self, model: nn.Module) -> np.ndarray | None:
        """Probabilities (pins, classes) by the model being trained (NaN rows: pins it cannot read).

        Eval mode for the pass (BatchNorm reads its running statistics and updates nothing,
        dropout draws no random numbers), then each module's own mode again (a frozen
        module's BatchNorm stays in eval). The model is not a copy: call
        it only on the thread that trains it.
        """
        if self.batch is None:
            return None
        module = getattr(model, "_orig_mod", model)
        device = next(module.parameters()).device
        modes = [(m, m.training) for m in module.modules()]  # frozen BatchNorms stay in eval, as they were
        module.eval()
        try:
            with torch.no_grad():
                logits = module(self.batch.to(device, non_blocking=True))
        finally:
            for m, mode in modes:
                m.training = mode
        probs = torch.softmax(logits.detach().float().reshape(len(self.rows), -1), dim=1).cpu().numpy()
        rows: list[np.ndarray | None] = [None] * self.count
        for k, i in enumerate(self.rows):
            rows[i] = probs[k]
        return _with_gaps(rows)


class WatchHistory:
    """Readings of the pins over the steps of one run (or one run's snapshots)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.readings: list[np.ndarray] = []  # (pins, classes) each
        self.from_snapshot: list[bool] = []
        self._table: tuple[np.ndarray, np.ndarray] | None = None  # (steps, readings stacked), until the next change

    def __len__(self) -> int:
        return len(self.steps)

    def record(self, step: int, probabilities: np.ndarray, *, snapshot: bool) -> None:
        """A reading at ``step``; a snapshot's reading replaces a live one at the same step."""
        probs = np.asarray(probabilities, dtype=np.float32)
        if self.readings and probs.shape != self.readings[0].shape:
            return  # another network's classes or pins: the caller starts a new history
        self._table = None
        i = int(np.searchsorted(self.steps, step))
        if i < len(self.steps) and self.steps[i] == step:
            if snapshot or not self.from_snapshot[i]:
                self.readings[i], self.from_snapshot[i] = probs, snapshot
            return
        self.steps.insert(i, int(step))
        self.readings.insert(i, probs)
        self.from_snapshot.insert(i, snapshot)
        if len(self.steps) - sum(self.from_snapshot) > MAX_LIVE:
            self._thin()

    def _thin(self) -> None:
        """Every other live reading dropped (the snapshots' all kept): a run of hours stays small."""
        live = [i for i, snap in enumerate(self.from_snapshot) if not snap]
        drop = set(live[:-1][1::2])  # the newest always stays
        keep = [i for i in range(len(self.steps)) if i not in drop]
        self.steps = [self.steps[i] for i in keep]
        self.readings = [self.readings[i] for i in keep]
        self.from_snapshot = [self.from_snapshot[i] for i in keep]

    def series(self, pin: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, probabilities (steps, classes)) of pin number ``pin``."""
        if not self.steps:
            return np.zeros(0), np.zeros((0, 0), np.float32)
        if self._table is None:  # stacked once for every pin's tile, not once per pin
            self._table = np.asarray(self.steps, dtype=np.float64), np.stack(self.readings)
        steps, table = self._table
        return steps, table[:, pin]

    def has_snapshot(self, step: int) -> bool:
        """Whether the reading at ``step`` is a snapshot's."""
        i = int(np.searchsorted(self.steps, step))
        return i < len(self.steps) and self.steps[i] == step and self.from_snapshot[i]

    def at(self, step: int) -> np.ndarray | None:
        """The readings at ``step`` exactly, or None."""
        i = int(np.searchsorted(self.steps, step))
        return self.readings[i] if i < len(self.steps) and self.steps[i] == step else None

    def last_forgotten(self, pin: int, target: int, confident: float = MIN_CONFIDENCE) -> int | None:
        """The last step at which pin ``pin`` was no longer read as ``target`` right after having
        been read so with at least ``confident`` (the canvas's "Prediction" rather than "Not
        sure": an untrained network's near-even guess that happens to be right is not learning);
        None when it never was."""
        steps, probs = self.series(pin)
        if not len(steps):
            return None
        right = (probs.argmax(axis=1) == target) & (probs[:, target] >= confident)
        forgot = np.flatnonzero(right[:-1] & ~right[1:])
        return int(steps[forgot[-1] + 1]) if forgot.size else None
